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


def test_smooth_gives_related_whole_words(smol, settings):
    res = synonyms("smooth", 5, settings=settings)
    words = [n.word for n in res.neighbours]
    print("synonyms of smooth:", words)
    assert len(words) == 5
    assert sum(w in RELATED_TO_SMOOTH for w in words) >= 3, words
    for w in words:  # whole words of the tokenizer, never fragments or other forms of "smooth"
        assert w.isalpha() and len(w) >= 3 and not is_variant("smooth", w)
        assert len(smol.encode(" " + w)) == 1


def test_sources(smol, settings):
    for source in ("minilm", "w_e"):
        res = synonyms("river", 5, source=source, settings=settings)
        assert res.source == source and len(res.neighbours) == 5
        sims = [n.similarity for n in res.neighbours]
        assert sims == sorted(sims, reverse=True)
    variants = [n.word for n in synonyms("run", 8, source="w_e", settings=settings, variants=True).neighbours]
    assert "runs" in variants or "running" in variants


def test_bad_words(smol, settings):
    with pytest.raises(InputError, match="no usable neighbours"):
        synonyms("!!!", settings=settings)
    with pytest.raises(InputError, match="no usable neighbours"):
        synonyms("", settings=settings)
    with pytest.raises(InputError, match="not a single token"):
        synonyms("Andorra", source="w_e", settings=settings)
    assert synonyms("Andorra", 3, settings=settings).source == "minilm"  # multi-token word: meaning only
