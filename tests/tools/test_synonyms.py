import pytest

from autointerp.errors import InputError
from autointerp.tools.synonyms import is_variant, synonyms

pytestmark = pytest.mark.integration

# Words a person calls related to "smooth" (texture, finish, ease, and its opposites).
RELATED_TO_SMOOTH = {
    "sleek", "streamlined", "creamy", "slippery", "silky", "soft", "softer", "seamless", "polished", "flat",
    "even", "fluid", "gentle", "calm", "soothing", "glossy", "shiny", "velvety", "rough", "roughness", "bumpy",
    "texture", "frictionless", "effortless", "smoothness", "slick", "satin", "glassy", "uneven", "harmonious",
}


def test_smooth_gives_related_whole_words(smol, wb):
    res = synonyms(wb, "smooth", 5)
    words = [n.word for n in res.neighbours]
    print("synonyms of smooth:", words)
    assert len(words) == 5
    assert sum(w in RELATED_TO_SMOOTH for w in words) >= 3, words
    for w in words:  # whole words of the tokenizer, never fragments or other forms of "smooth"
        assert w.isalpha() and len(w) >= 3 and not is_variant("smooth", w)
        assert len(smol.encode(" " + w)) == 1


def test_sources(smol, wb):
    for source in ("minilm", "w_e"):
        res = synonyms(wb, "river", 5, source=source)
        assert res.source == source and len(res.neighbours) == 5
        sims = [n.similarity for n in res.neighbours]
        assert sims == sorted(sims, reverse=True)
    variants = [n.word for n in synonyms(wb, "run", 8, source="w_e", variants=True).neighbours]
    assert "runs" in variants or "running" in variants


def test_bad_words(smol, wb):
    with pytest.raises(InputError, match="no usable neighbours"):
        synonyms(wb, "!!!")
    with pytest.raises(InputError, match="no usable neighbours"):
        synonyms(wb, "")
    with pytest.raises(InputError, match="not a single token"):
        synonyms(wb, "Andorra", source="w_e")
    with pytest.raises(InputError, match="^k must be >= 1"):
        synonyms(wb, "smooth", 0)
    assert synonyms(wb, "Andorra", 3).source == "minilm"  # multi-token word: meaning only
