"""A category name the LLM gives a word list is kept only where it fits the words (the real MiniLM)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from autointerp.agent.baselines import NAME_FIT, category, name_fit
from autointerp.agent.transcript import Transcript
from autointerp.llm import LLM, Capabilities
from autointerp.records import UnitId
from tests.agent.scripted import ScriptedChatModel

# Word lists and names from the evals' development runs (evals/README.md, "Category names").
FITTING = [("colors", ["Black", "White", "Red", "blue", "Green", "yellow"]),
           ("months of the year", ["February", "September", "January", "December", "November", "Feb"]),
           ("music", ["Durrës", "organs", "music", "drum", "horned", "percussion"]),
           ("languages", ["Greek", "French", "Russian", "Italian", "Portuguese", "Albanian"])]
UNFITTING = [("animals", ["Head", "Aruba", "signs", "crew", "air", "palms"]),
             ("sports", ["giving", "of", "threw", "beat", "made", "throws"]),
             ("concepts", ["induced", "Undecidable", "Vedanta", "Tim", "indecisive"]),
             ("verbs of action", ["will", "works", "aardvark", "comeback", "or", "would"])]


def scripted(reply: str) -> LLM:
    return LLM("scripted", ScriptedChatModel(script=[AIMessage(reply)]), price=None, capabilities=Capabilities())


@pytest.mark.parametrize(("name", "words"), FITTING)
def test_a_name_that_gathers_the_words_fits(name, words):
    assert name_fit(name, words) >= NAME_FIT


@pytest.mark.parametrize(("name", "words"), UNFITTING)
def test_a_name_given_to_unrelated_words_does_not(name, words):
    assert name_fit(name, words) < NAME_FIT


def test_the_fit_is_the_share_of_words_closer_than_ordinary_words():
    assert name_fit("animals", ["dog", "cat", "horse", "cow"]) == 1.0
    assert name_fit("animals", ["dog", "cat", "Tuesday", "carburettor"]) == 0.5
    assert name_fit("animals", []) == 0.0


def test_category_keeps_a_fitting_name_and_drops_an_unfitting_one_with_a_note(settings):
    assert category(["dog", "cat", "horse", "cow"], scripted("animals")) == "animals"
    transcript = Transcript(settings, "m", UnitId(layer=6, index=9), "agent")
    words = ["Head", "Aruba", "signs", "crew", "air", "palms"]
    assert category(words, scripted("animals"), transcript) is None
    note = [e.content for e in transcript.events if e.type == "observation"]
    assert len(note) == 1 and note[0].startswith('the name "animals" fits 0% of the words') and "unnamed" in note[0]
