"""The composition rules, the refusal filter and the choice, on findings written out by hand (each
case states what an experiment showed and the candidate that must follow from it)."""

from __future__ import annotations

import pytest

from autointerp.agent.compose import (
    TIE,
    choose,
    compose,
    peer_share,
    placeholder,
    rejection,
    top_words,
    verdict,
)
from autointerp.agent.findings import ContextEdit, Driver, Findings, PeakWord, Silent, Swap, left_words, whole_word
from autointerp.agent.session import Candidate
from autointerp.records import ActivationRecord
from autointerp.scoring.conditions import Condition, condition
from autointerp.tools.contrast import ContextWord, ContrastEdit, WordContrast


def record(tokens: list[str], peak: int) -> ActivationRecord:
    acts = [0.0] * len(tokens)
    acts[peak] = 5.0
    return ActivationRecord(window=0, tokens=tokens, token_ids=list(range(len(tokens))), activations=acts,
                            max_index=peak, max_token=tokens[peak], max_activation=5.0, has_bos=True)


def peaks(*items: tuple[str, str, str]) -> list[PeakWord]:
    return [PeakWord(i, tok, word, piece, 9.0) for i, (tok, word, piece) in enumerate(items)]


ANDORRA = ("<s>", " schools", " in", " And", "or", "ra", " during", " the", " war")


@pytest.mark.parametrize(("peak", "word", "piece"), [(5, "Andorra", "last"), (4, "Andorra", "middle"),
                                                     (3, "Andorra", "first"), (1, "schools", "whole")])
def test_the_whole_word_around_a_peak_piece(peak, word, piece):
    assert whole_word(record(list(ANDORRA), peak)) == (word, piece)


def test_punctuation_and_spaces_end_a_word():
    rec = record(["<s>", " Frei", "burg", ",", " 1990", "s"], 2)
    assert whole_word(rec) == ("Freiburg", "last")
    assert whole_word(rec, 3) == (",", "whole")
    assert whole_word(rec, 5) == ("1990s", "last")


def test_a_fragment_peak_is_named_by_its_word_never_as_the_fragment():
    f = Findings(peaks=peaks(("ra", "Andorra", "last"), ("ra", "Andorra", "last"), ("urg", "Freiburg", "last")))
    [d] = compose(f)
    assert d.rule == "words" and d.text == 'the last token of the words "Andorra", "Freiburg"'
    assert d.triggers == ["Andorra", "Freiburg"] and '"ra"' not in d.text


def test_whole_word_peaks_are_listed_most_frequent_first_case_folded():
    f = Findings(peaks=peaks((" cat", "cat", "whole"), (" dog", "dog", "whole"), (" Dog", "Dog", "whole"),
                             (" dog", "dog", "whole"), (",", ",", "whole")))
    assert top_words(f) == [("dog", "whole"), ("cat", "whole")]
    assert compose(f)[0].text == 'the words "dog", "cat"'


def test_substitution_that_loses_the_activation_makes_the_word_exact():
    f = Findings(peaks=peaks(("ra", "Andorra", "last")),
                 swaps=[Swap("Andorra", 8.9, (("Spain", 0.0), ("France", 0.8), ("Luxembourg", 0.4)))])
    assert verdict(f) == "exact"
    [d] = compose(f, name="countries")
    assert d.rule == "exact" and d.text == 'exactly the last token of the word "Andorra" (not similar words)'
    assert "countries" not in d.text, "no category name when similar words do not keep the activation"


def test_substitution_that_keeps_the_activation_makes_a_category_with_the_name():
    f = Findings(peaks=peaks((" dog", "dog", "whole"), (" cat", "cat", "whole")),
                 swaps=[Swap("dog", 9.0, (("puppy", 8.0), ("horse", 7.0), ("table", 0.5))),
                        Swap("cat", 8.0, (("kitten", 7.5), ("cow", 6.0)))])
    assert verdict(f) == "category"
    words, cat = compose(f, name="animals")
    assert words.rule == "words" and cat.rule == "category"
    assert cat.text == 'animals: words like "dog", "cat", "puppy", "horse", "kitten", "cow"'
    assert "table" not in cat.triggers, "a similar word that lost the activation is no example"
    assert compose(f)[1].text.startswith("words like "), "no name from the LLM: the list alone"


def test_peak_words_that_keep_the_activation_in_one_anothers_place_make_a_category():
    """Nearest words by meaning lose it ("wish" for "will"), the neuron's own other peak words keep
    it: a category of its peak words, and the LLM's name is used."""
    f = Findings(peaks=peaks((" will", "will", "whole"), (" would", "would", "whole"), (" can", "can", "whole")),
                 swaps=[Swap("will", 9.0, (("wish", 0.5), ("want", 1.0)), (("would", 8.0), ("can", 6.5))),
                        Swap("would", 8.0, (("could", 1.0),), (("will", 7.0), ("can", 5.0)))])
    assert verdict(f) == "category"
    exact_words, cat = compose(f, name="modal verbs")
    assert exact_words.rule == "words" and cat.text == 'modal verbs: words like "will", "would", "can"'
    lost = Findings(peaks=f.peaks, swaps=[Swap("will", 9.0, (("wish", 0.5),), (("would", 1.0), ("can", 0.5)))])
    assert verdict(lost) == "exact", "peers that lose it too leave the word exact"
    assert [d.rule for d in compose(lost, "modal verbs")] == ["exact"]
    weak = Findings(peaks=f.peaks, swaps=[*lost.swaps, Swap("glass", 0.5, (), (("will", 9.0),))])
    assert verdict(weak) == "exact", "a weak peak that a peer outdoes in its place is weighed by its activation"
    assert peer_share(weak) == pytest.approx((0.75 + 0.5) / 9.5) and peer_share(Findings()) is None


def test_mixed_substitution_makes_no_claim_either_way():
    f = Findings(peaks=peaks((" dog", "dog", "whole")), swaps=[Swap("dog", 10.0, (("cat", 4.0), ("pig", 3.0)))])
    assert verdict(f) == "unclear" and [d.rule for d in compose(f, "animals")] == ["words"]
    assert verdict(Findings()) == "unclear"


def test_a_context_word_that_matters_in_two_examples_becomes_a_condition():
    """Peaks recorded without their left words: the condition is named, not shown as a phrase."""
    bank = [ContextEdit(i, "bank", (Driver("river", 0.7, 1), Driver("the", 0.31, 2))) for i in range(2)]
    f = Findings(peaks=peaks((" bank", "bank", "whole")), contexts=bank + [ContextEdit(9, "bank", ())])
    words, ctx = compose(f)
    assert ctx.rule == "context" and ctx.text == 'the word "bank" after "river"'
    assert ctx.triggers == ["river bank"], "an adjacent condition is a phrase trigger"


def left(word: str, *before: str, window: int = 0) -> PeakWord:
    return PeakWord(window, f" {word}", word, "whole", 9.0, before)


def test_a_condition_is_shown_as_the_phrases_the_peaks_hold():
    """order (in order to): deleting "in" silences "order" in three of three edits; the peaks on the
    listed words right after "in" become the phrases, whatever their case; a peak not after "in"
    ("the order") is no phrase of this condition."""
    f = Findings(peaks=[left("order", "worked", "in"), left("order", "he", "In"), left("order", "at", "in"),
                        left("addition", "x", "in"), left("order", "gave", "the")],
                 contexts=[ContextEdit(i, "order", (Driver("in", 1.0, 1),)) for i in range(3)])
    ctx = compose(f)[-1]
    assert ctx.rule == "context" and ctx.text == 'the phrases "in order", "in addition"'
    assert ctx.triggers == ["in order", "in addition"], "the phrases are the triggers: no bare \"in\""


def test_a_peak_word_that_is_also_silent_is_shown_as_the_phrases_it_fired_in():
    """will (future): the neuron fires on "it will", "They will" and stays silent on "an act of
    will": the word alone is not the trigger, so the phrases it fired in become a candidate; peaks
    on a word never seen silent ("would") make no phrase."""
    fired = [left("will", "x", "it"), left("will", "y", "They"), left("will", "z", "it"), left("would", "a", "which")]
    f = Findings(peaks=fired, silent=[Silent(7, "will", "act of will")])
    drafts = {d.rule: d for d in compose(f)}
    assert drafts["contrast"].text == 'the phrases "it will", "They will"'
    assert drafts["contrast"].triggers == ["it will", "They will"], "commonest first, no bare \"will\""
    assert "contrast" not in {d.rule for d in compose(Findings(peaks=fired))}, "never silent: the word may do"
    one = Findings(peaks=[left("will", "x", "it"), left("will", "y", "it")], silent=f.silent)
    assert "contrast" not in {d.rule for d in compose(one)}, "one phrase says no more than the word"
    spread = fired + [left(w, "a", "the") for w in ("cat", "dog", "owl", "bee", "ant", "elk", "yak", "emu", "cow")]
    assert "contrast" not in {d.rule for d in compose(Findings(peaks=spread, silent=f.silent))}, \
        "a silent word under a quarter of the peaks is one word among many, not a use of one word"


def test_a_distant_condition_keeps_the_words_between():
    f = Findings(peaks=[left("capital", "the", "state"), left("capital", "the", "national"),
                        left("capital", "a", "big")],
                 contexts=[ContextEdit(i, "capital", (Driver("the", 0.9, 2),)) for i in range(2)])
    ctx = compose(f)[-1]
    assert ctx.text == 'the phrases "the state capital", "the national capital"'
    assert ctx.triggers == ["the state capital", "the national capital"]


def test_the_words_before_a_peak_are_read_as_the_context_tool_counts_them():
    rec = record(["<s>", " He", " worked", " (in", " order", " to", " pay"], 4)
    assert left_words(rec) == ("He", "worked", "in") and left_words(rec, n=1) == ("in",)
    assert left_words(record(["<s>", " Order"], 1)) == ()
    rec = record(["<s>", " in", " And", "or", "ra"], 4)
    assert left_words(rec) == ("in",), "the pieces of the peak's own word are not context"


def test_one_weak_context_word_is_no_condition_and_a_strong_distant_one_is():
    weak = Findings(peaks=peaks((" 1990", "1990", "whole")), contexts=[ContextEdit(0, "1990", (Driver("in", 0.35, 1),))])
    assert [d.rule for d in compose(weak)] == ["words"]
    strong = Findings(peaks=peaks((" 1990", "1990", "whole")),
                      contexts=[ContextEdit(0, "1990", (Driver("since", 0.8, 3),))])
    ctx = compose(strong)[-1]
    assert ctx.text == 'the word "1990" after "since"' and ctx.triggers == ["1990"]


def test_context_edits_of_windows_peaking_elsewhere_make_no_condition():
    """L6.N74: its top window peaks on a newline whose activation hangs on "fixed-effects"; that
    says nothing about when it fires on "Andorra"."""
    f = Findings(peaks=peaks(("ra", "Andorra", "last"), ("\n", "", "whole")),
                 contexts=[ContextEdit(1, "", (Driver("fixed-effects", 1.24, 3),))])
    assert [d.rule for d in compose(f)] == ["words"]


def test_no_word_like_peak_composes_nothing():
    assert compose(Findings(peaks=peaks((",", ",", "whole"), ("\n", "", "whole")))) == []


F = Findings(peaks=peaks(("ra", "Andorra", "last"), ("urg", "Freiburg", "last")),
             swaps=[Swap("Andorra", 8.9, (("Spain", 0.0),))], output=["an"])


@pytest.mark.parametrize("text", ['The neuron fires on "the [token] above" in Andorra', "[[Andorra]] and such",
                                  "fires on [word] when it is Andorra", "fires on <name>", "it is $word"])
def test_placeholders_are_refused(text):
    assert "placeholder" in rejection(text, F) and placeholder(text)


@pytest.mark.parametrize(("text", "ok"), [
    ("when looking for information about other languages such as school practices", False),
    ("Andoran school practices during World War II", False),  # "Andoran" is not the word "Andorra"
    ("the place name Andorra", True), ('names ending in "urg" such as Freiburg', True),
    ("tokens before the article an", True), ("towns in Spain", False),  # a similar word that lost it
    ("fires on 'ra'", True), ("fires on radio", False),  # a fragment counts only as itself
])
def test_a_written_candidate_must_name_something_from_the_evidence(text, ok):
    why = rejection(text, F)
    assert (why is None) == ok, why
    if not ok:
        assert "names no token or word" in why and "'Andorra'" in why


def test_a_supported_category_name_counts_as_evidence():
    assert rejection("countries of Europe", F) is not None
    assert rejection("countries of Europe", F, {"countries"}) is None


def test_the_best_validation_candidate_wins_and_near_ties_go_to_the_named_then_composed_then_short():
    def c(text, v, source):
        return Candidate(text, [], v, source)

    written = c("place names such as Andorra", 0.50, "submit")
    words = c('the words "Andorra"', 0.50 - TIE / 2, "words")
    named = c('countries: words like "Andorra"', 0.50 - TIE, "category")
    unnamed = c('words like "Andorra"', 0.51, "category")
    assert choose([written, words]) is words, "composed over written within the tie"
    assert choose([written, words, named]) is named, "the named category over both"
    assert choose([written, words, unnamed]) is words, "an unnamed list is just a longer composed text"
    far = c("place names such as Andorra", 0.50 + 2 * TIE, "score")
    assert choose([far, words, named]) is far, "a clearly better written candidate wins"
    assert choose([]) is None
    phrase = c('the phrase "in Andorra"', 0.50 - TIE, "context")
    assert choose([written, words, phrase]) is phrase, "a tested condition over the plain words within the tie"
    assert choose([words, phrase, named]) is named, "a named category still first"
    assert choose([c('the phrase "in Andorra"', 0.50 - 2 * TIE, "context"), words]) is words, "only within the tie"
    seen = c('the phrases "in Andorra"', 0.50 - TIE, "contrast")
    assert choose([written, words, seen]) is seen, "phrases the silent contrasts call for, like a tested condition"
    tokens = c('the tokens "ra"', 0.50 + TIE / 2, "heuristic")  # shorter, and a little higher
    assert choose([tokens, written]) is written, "the bare token list loses every near tie, even to a written one"
    assert choose([c('the tokens "ra"', 0.50 + 2 * TIE, "heuristic"), words]).source == "heuristic", \
        "and wins when clearly better"


def test_a_best_token_list_of_whole_words_keeps_its_place_over_restatements_but_not_over_a_condition():
    f = Findings(peaks=peaks((" where", "where", "whole"), (" if", "if", "whole"), ("ra", "Andorra", "last"),
                             (" where", "whereupon", "first")))  # a first piece is still a word
    listed = Candidate('the tokens "where", "if"', ["where", "if"], 0.10, "heuristic")
    named = Candidate('location: words like "where", "if"', ["where", "if"], 0.10 - TIE / 2, "category")
    words = Candidate('the words "where", "if"', ["where", "if"], 0.10 - TIE / 2, "words")
    assert choose([listed, named, words], f) is listed, "the best list of whole words over its restatements"
    assert choose([listed, named, words]) is named, "without the findings, ties go by rank alone"
    phrase = Candidate('the phrase "near where"', ["where"], 0.10 - TIE, "context")
    assert choose([listed, named, phrase], f) is named, "a tested condition in the tie: ties go by rank again"
    pieces = Candidate('the tokens "ra", "where"', ["ra", "where"], 0.10, "heuristic")
    exact = Candidate('exactly the last token of the word "Andorra"', ["Andorra"], 0.10 - TIE / 2, "exact")
    assert choose([pieces, exact], f) is exact, "a list holding a word fragment never wins a tie"
    higher = Candidate('the words "where", "if"', ["where", "if"], 0.10 + TIE / 2, "words")
    assert choose([listed, higher], f) is higher, "the exception is for the list as the best only"


def test_a_clear_category_in_the_tie_still_wins_over_the_best_token_list():
    months = ("February", "September", "January")
    swaps = [Swap(m, 9.0, (("March", 8.5), ("April", 8.0)), tuple((o, 8.0) for o in months if o != m)) for m in months]
    f = Findings(peaks=peaks(*((" " + m, m, "whole") for m in months)), swaps=swaps)
    listed = Candidate('the tokens "February", "September"', list(months), 0.50, "heuristic")
    named = Candidate('months of the year: words like "February"', list(months), 0.50 - TIE / 2, "category")
    assert choose([listed, named], f) is named, "similar words keep 9 in 10 of the activation: a clear category"
    doubtful = [Swap(m, 9.0, (("March", 5.0), ("April", 5.0)), ()) for m in months]  # 56% kept: a category, in doubt
    assert choose([listed, named], Findings(peaks=f.peaks, swaps=doubtful)) is listed


def _sense(edits: list[ContrastEdit], firing: int = 17, silent: int = 23) -> WordContrast:
    """party (politics), as the contrast tool found it on the planted neuron: fires after
    "democratic", "republican"; silent after "birthday"."""
    return WordContrast(word="party", occurrences=48, firing=firing, silent=silent,
                        fire_after=[ContextWord(word="democratic", log_odds=2.1, z=3.0, firing=9, silent=0),
                                    ContextWord(word="republican", log_odds=1.8, z=2.5, firing=6, silent=0)],
                        silent_after=[ContextWord(word="birthday", log_odds=-1.5, z=-2.2, firing=0, silent=5)],
                        edits=edits)


RAISED = ContrastEdit(word="democratic", kind="insert", n=8, before=0.2, after=4.1, flipped=6)


def test_contrasted_contexts_that_edits_support_make_a_sense_candidate():
    """The corpus contexts separate firing from silent and inserting the firing-side word raises
    the activation: 'the word X in contexts with A, B (not C)', which the simulator reads as a
    condition on the word."""
    [draft] = [d for d in compose(Findings(peaks=peaks((" party", "party", "whole")), senses=[_sense([RAISED])]))
               if d.rule == "sense"]
    assert draft.text == 'the word "party" in contexts with "democratic", "republican" (not "birthday")'
    assert draft.triggers == ["party"]
    assert condition(draft.text, draft.triggers) == Condition(
        'the word "party"', '"democratic", "republican"', '"birthday"')


@pytest.mark.parametrize("edits, why", [
    ([], "no edit tested the separation"),
    ([RAISED.model_copy(update={"after": 0.1})], "the insertion lowered it"),
    ([RAISED.model_copy(update={"flipped": 0})], "no context crossed the threshold"),
    ([ContrastEdit(word="democratic", kind="delete", n=5, before=5.0, after=6.0, flipped=1)], "deleting it raised it"),
    ([ContrastEdit(word="birthday", kind="insert", n=5, before=5.0, after=6.0, flipped=1)],
     "a silent-side word inserted into firing contexts raised it"),
])
def test_a_separation_the_edits_do_not_support_makes_no_sense_candidate(edits, why):
    f = Findings(peaks=peaks((" party", "party", "whole")), senses=[_sense(edits)])
    assert "sense" not in {d.rule for d in compose(f)}, why


def test_a_word_that_always_or_never_fires_makes_no_sense_candidate():
    for firing, silent in ((40, 0), (0, 40), (1, 40)):
        f = Findings(peaks=peaks((" party", "party", "whole")), senses=[_sense([RAISED], firing, silent)])
        assert "sense" not in {d.rule for d in compose(f)}, (firing, silent)


def test_a_supported_silent_side_edit_counts():
    """Inserting "birthday" before "party" where it fired silences it: that supports the sense too."""
    silenced = ContrastEdit(word="birthday", kind="insert", n=8, before=6.0, after=0.3, flipped=7)
    f = Findings(peaks=peaks((" party", "party", "whole")), senses=[_sense([silenced])])
    assert "sense" in {d.rule for d in compose(f)}


def test_a_supported_silent_side_alone_makes_a_not_candidate():
    """left (departed): silent after "turn" ("turn left"), no firing-side word passes."""
    c = WordContrast(word="left", occurrences=128, firing=56, silent=38, fire_after=[],
                     silent_after=[ContextWord(word="turn", log_odds=-1.2, z=-2.4, firing=1, silent=9)],
                     edits=[ContrastEdit(word="turn", kind="insert", n=8, before=2.78, after=0.0, flipped=8)])
    [draft] = [d for d in compose(Findings(peaks=peaks((" left", "left", "whole")), senses=[c])) if d.rule == "sense"]
    assert draft.text == 'the word "left" (not in contexts with "turn")'
    assert condition(draft.text, draft.triggers) == Condition('the word "left"', "", '"turn"')


def test_function_words_make_no_sense_candidate():
    """capital: fires after "the", silent after "a" ("a capital letter"): a grammatical use the
    phrase rules name; as a condition it names no sense. A supported edit of a function word does
    not stand in for the content words named."""
    c = WordContrast(word="capital", occurrences=104, firing=56, silent=30,
                     fire_after=[ContextWord(word="the", log_odds=1.0, z=3.1, firing=40, silent=5)],
                     silent_after=[ContextWord(word="a", log_odds=-1.5, z=-3.3, firing=2, silent=20)],
                     edits=[ContrastEdit(word="a", kind="insert", n=8, before=13.6, after=0.03, flipped=8)])
    assert "sense" not in {d.rule for d in compose(Findings(peaks=peaks((" capital", "capital", "whole")), senses=[c]))}
    mixed = c.model_copy(update={"fire_after": [*c.fire_after, ContextWord(word="state", log_odds=0.9, z=2.1,
                                                                           firing=6, silent=0)]})
    f = Findings(peaks=peaks((" capital", "capital", "whole")), senses=[mixed])
    assert "sense" not in {d.rule for d in compose(f)}, "only the function word's edit was supported"


def test_the_findings_table_shows_a_separation_by_topic_alone():
    """A contrast that only the topic side separates still reaches the LLM's findings table; one
    that nothing separates does not."""
    from types import SimpleNamespace

    from autointerp.agent.tools import findings_table
    from autointerp.tools.contrast import TopicWord

    topic = WordContrast(word="interest", occurrences=87, firing=22, silent=60, topic_auroc=0.71,
                         fire_topic=[TopicWord(word="rates", alignment=0.21, firing=1, silent=0)])
    nothing = WordContrast(word="match", occurrences=60, firing=8, silent=50)
    f = Findings(peaks=peaks((" interest", "interest", "whole")), senses=[topic, nothing])
    lines = [ln for ln in findings_table(SimpleNamespace(findings=f)).splitlines() if ln.startswith("corpus contexts")]
    assert lines == [f"corpus contexts: {topic.summary()}"]
    assert "fires in contexts about rates" in lines[0]
