"""Every bad input gets one clear line: hundreds of bad inputs fed to the CLI in subprocesses.

For each: no traceback (nor a Rust panic) anywhere in the output, a non-zero exit, and either one
`error:` line that names the offending input or, for a usage error, typer's usage message (exit 2)
naming it. Nothing is written: the data dir (its store included) is byte-for-byte the same after
all of them. Cases run in parallel subprocesses; most fail before any model loads. The ones that
load a model (`tiny-random`) or read a model directory are marked `integration`.

Each case is a pytest param whose id names the input, so a failure says which one."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import linked_home

WORKERS = 4
TIMEOUT = 300


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    expect: str  # in the error line (or the usage message): names the offending input
    usage: bool = False  # a usage error: typer's usage message, exit 2
    env: tuple[tuple[str, str | None], ...] = ()  # None: removed from the environment
    model: bool = False  # loads a model or reads a model directory: integration

    def param(self):
        return pytest.param(self, id=self.id, marks=[pytest.mark.integration] if self.model else [])


def C(id: str, *args: str, expect: str, usage: bool = False, env: dict | None = None, model: bool = False) -> Case:
    return Case(id, tuple(args), expect, usage, tuple((env or {}).items()), model)


T = ("--model", "tiny-random")
LLM_SPECS = {  # spec -> what the error says
    "martian:x": "unknown LLM 'martian:x'",
    "openai:": "unknown LLM 'openai:'",
    "openai-compatible:x": "unknown LLM 'openai-compatible:x'",
    "openai-compatible:@http://127.0.0.1:9/v1": "names no model",
    "openai-compatible:m@not-a-url": "malformed server URL 'not-a-url'",
    "openai-compatible:m@http://127.0.0.1:99999/v1": "bad port",
    "openai-compatible:m@ftp://host/v1": "malformed server URL 'ftp://host/v1'",
    "LOCAL": "unknown LLM 'LOCAL'",
    "openai:gpt-4o-mini": "needs OPENAI_API_KEY",
}
BAD_IDS = {  # neuron id -> its repr in the error
    "L6-74": "'L6-74'", "": "''", " ": "' '", "L": "'L'", "L6.N": "'L6.N'", "6..74": "'6..74'",
    "L-1.N5": "'L-1.N5'", "L6.N74.1": "'L6.N74.1'", "6/74/1": "'6/74/1'", "Ｌ６.Ｎ７４": "'Ｌ６.Ｎ７４'",
    "abc": "'abc'", "0x6.74": "'0x6.74'", "L6.N74;rm -rf /": "'L6.N74;rm -rf /'", "../../etc/passwd": "'../../etc/passwd'",
    "L6.N-1": "'L6.N-1'", "1e3.5": "'1e3.5'", "🙂": "'🙂'", "L6 N74": "'L6 N74'", "[red]L1[/].N1": "'[red]L1[/].N1'",
}
BAD_RANGES = {  # range -> in the error
    "x": "malformed {flag} 'x'", "1-": "malformed {flag} '1-'", "-1": "malformed {flag} '-1'",
    "3-1": "empty {flag} '3-1'", "1,,2": "malformed {flag} '1,,2'", "1:1": "empty {flag} '1:1'",
    "a-b": "malformed {flag} 'a-b'", "1.5": "malformed {flag} '1.5'", " ": "malformed {flag} ' '",
    "0-3;rm": "malformed {flag} '0-3;rm'", "0:99999999999999": "spans 99,999,999,999,999 indices",
    "1-2-3": "malformed {flag} '1-2-3'", "0x10": "malformed {flag} '0x10'", "+1": "malformed {flag} '+1'",
    "1e3": "malformed {flag} '1e3'", "0:-1": "malformed {flag} '0:-1'", "": "malformed {flag} ''",
    "0-1,x": "malformed {flag} '0-1,x'", "5-2": "empty {flag} '5-2'", "0:x": "malformed {flag} '0:x'",
    "9-3": "empty {flag} '9-3'", "5-1": "empty {flag} '5-1'",
}
RANGE_COMMANDS = {  # flag user -> (args before the range, flag, which ranges)
    "cache-layers": (("cache", *T, "--layers"), "--layers", list(BAD_RANGES)),
    "batch-layers": (("batch", *T, "--heuristic", "--layers"), "--layers", ["x", "3-1", "0:99999999999999", "", "1e3"]),
    "batch-neurons": (("batch", *T, "--heuristic", "--layers", "0", "--neurons"), "--neurons",
                      ["x", "5-2", "0:99999999999999", "1,,2", "-1", "a-b"]),
    "triage-neurons": (("triage", *T, "--layer", "0", "--neurons"), "--neurons",
                       ["0:x", "9-3", "0:99999999999999", "", "1.5", "0-3;rm"]),
    "eval-real-layers": (("eval", "real", "--layers"), "--layers", ["x", "0:99999999999999"]),
    "eval-output-layers": (("eval", "output", "--layers"), "--layers", ["9-3"]),
}
IMPORTS = {  # file under {F} -> in the error
    "trunc.jsonl.gz": "trunc.jsonl.gz is a damaged or truncated gzip file",
    "notgz.jsonl.gz": "notgz.jsonl.gz: line 1: malformed JSON",
    "nested_list.json": "nested_list.json: the JSON list is nested too deeply",
    "nested_list.jsonl": "nested_list.jsonl",
    "nested_obj.jsonl": "nested_obj.jsonl: line 1: JSON nested too deeply",
    "binary.bin": "binary.bin is a binary file",
    "utf16.jsonl": "utf16.jsonl",
    "latin1.jsonl": "latin1.jsonl: line 1: not UTF-8 text",
    "garbled.jsonl": "garbled.jsonl: line 2: malformed JSON",
    "cut_record.jsonl": "cut_record.jsonl: line 2: malformed JSON",
    "wrong_types.jsonl": "wrong_types.jsonl: line 1",
    "scalar.json": "scalar.json: line 1",
    "ints.json": "ints.json: line 1: invalid explanation: expected a JSON object, got int",
    "null.jsonl": "null.jsonl: line 1: invalid explanation: expected a JSON object, got NoneType",
    "string.jsonl": "string.jsonl: line 1: invalid explanation: expected a JSON object, got str",
    "layer_out_of_range.jsonl": "layer_out_of_range.jsonl: line 1",
    "malformed_neuron.jsonl": "malformed_neuron.jsonl: line 1",
    "unknown_model.jsonl": "unknown_model.jsonl: line 1",
    "huge_text.jsonl": "huge_text.jsonl: line 1: invalid explanation: the explanation is 5000 characters long",
    "huge_line.jsonl": "huge_line.jsonl: line 1",
    "unicode_neuron.jsonl": "unicode_neuron.jsonl: line 1",
    "np_bad_layer.jsonl": "np_bad_layer.jsonl: line 1",
    "np_negative_index.jsonl": "np_negative_index.jsonl: line 1",
    "list_with_bad.json": "list_with_bad.json: line 2",
    "one_bad_of_many.jsonl": "one_bad_of_many.jsonl: line 7",
    "empty_text.jsonl": "empty_text.jsonl: line 1",
    "bad_date.jsonl": "bad_date.jsonl: line 1",
    "bad_score.jsonl": "bad_score.jsonl: line 1",
    "a_dir": "a_dir",
    "missing.jsonl": "missing.jsonl",
}
CONCEPTS = {  # concepts file under {F} -> in the error
    "binary.bin": "concepts file {F}/binary.bin is not UTF-8 text",
    "nested_list.json": "concepts file {F}/nested_list.json is nested too deeply",
    "c_object.json": "concepts file {F}/c_object.json must hold a JSON list",
    "c_one.json": "concepts file {F}/c_one.json must hold a JSON list of at least 2",
    "c_dup_name.json": "concepts file {F}/c_dup_name.json repeats a concept name",
    "c_dup_word.json": "concepts file {F}/c_dup_word.json: the word",
    "c_few_words.json": "concepts file {F}/c_few_words.json, entry 1",
    "c_words_string.json": "concepts file {F}/c_words_string.json, entry 1 ('animals'): words",
    "empty.jsonl": "concepts file {F}/empty.jsonl is not JSON",
    "garbled.jsonl": "concepts file {F}/garbled.jsonl is not JSON",
    "null.jsonl": "concepts file {F}/null.jsonl must hold a JSON list",
    "a_dir": "cannot read concepts file {F}/a_dir",
    "missing.jsonl": "cannot read concepts file {F}/missing.jsonl",
}
SETTINGS = {  # (variable, value) -> in the error
    ("AUTOINTERP_TOKENS", "abc"): "AUTOINTERP_TOKENS='abc'",
    ("AUTOINTERP_TOKENS", "1.5"): "AUTOINTERP_TOKENS='1.5'",
    ("AUTOINTERP_WINDOW", "x"): "AUTOINTERP_WINDOW='x'",
    ("AUTOINTERP_BATCH_SIZE", "many"): "AUTOINTERP_BATCH_SIZE='many'",
    ("AUTOINTERP_SEED", "0.5"): "AUTOINTERP_SEED='0.5'",
    ("AUTOINTERP_LLM_TIMEOUT", "0"): "AUTOINTERP_LLM_TIMEOUT='0'",
    ("AUTOINTERP_LLM_TIMEOUT", "-1"): "AUTOINTERP_LLM_TIMEOUT='-1'",
    ("AUTOINTERP_LLM_TIMEOUT", "soon"): "AUTOINTERP_LLM_TIMEOUT='soon'",
    ("AUTOINTERP_LLM_ATTEMPTS", "0"): "AUTOINTERP_LLM_ATTEMPTS='0'",
    ("AUTOINTERP_LLM_ATTEMPTS", "1000"): "AUTOINTERP_LLM_ATTEMPTS='1000'",
    ("AUTOINTERP_CHECKPOINT_SECONDS", "x"): "AUTOINTERP_CHECKPOINT_SECONDS='x'",
    ("AUTOINTERP_HUB_TIMEOUT", "never"): "AUTOINTERP_HUB_TIMEOUT='never'",
    ("AUTOINTERP_HOME", "{F}/afile"): "{F}/afile is a file",
    ("AUTOINTERP_HOME", "{F}/afile/sub"): "{F}/afile is a file",
}


CONFIG_ONLY = ("model-env-unknown", "show-layer", "show-neuron", "show-huge", "substitute-bad", "effects-bad",
               "triage-bad", "triage-negative", "triage-neurons", "score-bad", "explain-bad", "batch-bad",
               "batch-neurons", "cache-bad")


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # -- malformed unit ids, on every command that takes one (all fail before anything loads)
    for nid, shown in BAD_IDS.items():
        add(C(f"show-id[{nid}]", "show", nid, *T, expect=f"malformed unit id {shown}"))
    some = ["L6-74", "", "Ｌ６.Ｎ７４", "L6.N74;rm -rf /", "🙂"]
    for cmd, extra in (("probe", ("some text",)), ("substitute", ()), ("context", ()), ("effects", ()),
                       ("score", ("an explanation",)), ("explain", ()), ("transcript", ())):
        for nid in some:
            add(C(f"{cmd}-id[{nid}]", cmd, nid, *extra, *T, expect=f"malformed unit id {BAD_IDS[nid]}"))
    # -- malformed ranges, for every --layers / --neurons
    for name, (args, flag, specs) in RANGE_COMMANDS.items():
        for spec in specs:
            add(C(f"{name}[{spec}]", *args, spec, expect=BAD_RANGES[spec].format(flag=flag)))
    # -- values typer rejects: wrong types, out of an option's bounds (usage errors)
    for id_, args, opt in [
        ("cache-tokens-abc", ("cache", "--layers", "0", "--tokens", "abc"), "--tokens"),
        ("cache-tokens-1e9", ("cache", "--layers", "0", "--tokens", "1e9"), "--tokens"),
        ("show-n-abc", ("show", "L0.N1", "-n", "abc"), "-n"),
        ("synonyms-k-abc", ("synonyms", "word", "-k", "abc"), "-k"),
        ("substitute-examples-x", ("substitute", "L0.N1", "--examples", "x"), "--examples"),
        ("context-example-x", ("context", "L0.N1", "--example", "x"), "--example"),
        ("effects-contexts-1.5", ("effects", "L0.N1", "--contexts", "1.5"), "--contexts"),
        ("triage-layer-abc", ("triage", "--layer", "abc"), "--layer"),
        ("triage-threshold-high", ("triage", "--layer", "0", "--threshold", "high"), "--threshold"),
        ("score-top-x", ("score", "L0.N1", "expl", "--top", "x"), "--top"),
        ("score-random-x", ("score", "L0.N1", "expl", "--random", "1/2"), "--random"),
        ("explain-max-steps-x", ("explain", "L0.N1", "--max-steps", "x"), "--max-steps"),
        ("explain-target-score-x", ("explain", "L0.N1", "--target-score", "0.9.1"), "--target-score"),
        ("explain-max-tokens-inf", ("explain", "L0.N1", "--max-tokens", "inf"), "--max-tokens"),
        ("batch-workers-two", ("batch", "--layers", "0", "--workers", "two"), "--workers"),
        ("batch-budget-usd-5usd", ("batch", "--layers", "0", "--budget-usd", "5usd"), "--budget-usd"),
        ("batch-budget-tokens-1.5", ("batch", "--layers", "0", "--budget-tokens", "1.5"), "--budget-tokens"),
        ("report-layer-x", ("report", "--layer", "x"), "--layer"),
        ("search-k-x", ("search", "legal", "-k", "x"), "-k"),
        ("search-min-score-x", ("search", "legal", "--min-score", "x"), "--min-score"),
        ("list-layer-six", ("list", "--layer", "six"), "--layer"),
        ("serve-port-99999", ("serve", "--port", "99999"), "--port"),
        ("serve-port-negative", ("serve", "--port", "-1"), "--port"),
        ("eval-planted-layer-x", ("eval", "planted", "--layer", "x"), "--layer"),
        ("eval-real-n-x", ("eval", "real", "--n", "x"), "--n"),
        ("eval-real-seed-x", ("eval", "real", "--seed", "x"), "--seed"),
        # values outside an option's choices
        ("synonyms-source", ("synonyms", "word", "--source", "wordnet"), "--source"),
        ("context-mode", ("context", "L0.N1", "--mode", "shuffle"), "--mode"),
        ("score-method", ("score", "L0.N1", "expl", "--method", "vibes"), "--method"),
        ("score-split", ("score", "L0.N1", "expl", "--split", "half"), "--split"),
        ("score-rule", ("score", "L0.N1", "expl", "--rule", "relu"), "--rule"),
        ("score-simulator", ("score", "L0.N1", "expl", "--simulator", "oracle"), "--simulator"),
        ("explain-simulator", ("explain", "L0.N1", "--simulator", "LLM"), "--simulator"),
        ("export-format", ("export", "x.jsonl", "--format", "csv"), "--format"),
        ("search-kind", ("search", "legal", "--kind", "cell"), "--kind"),
        ("eval-planted-explainers", ("eval", "planted", "--explainers", "agent,oracle"), "--explainers"),
        ("eval-real-explainers-empty", ("eval", "real", "--explainers", ""), "--explainers"),
        ("eval-output-explainers", ("eval", "output", "--explainers", ",,"), "--explainers"),
        ("eval-real-llm-simulator", ("eval", "real", "--llm-simulator", "maybe"), "--llm-simulator"),
        ("eval-planted-simulator", ("eval", "planted", "--simulator", "lexical"), "--simulator"),
        # unknown options and commands, missing arguments
        ("unknown-command", ("explian", "L0.N1"), "No such command 'explian'"),
        ("unknown-eval", ("eval", "fake"), "No such command 'fake'"),
        ("unknown-store-command", ("store", "repair"), "No such command 'repair'"),
        ("unknown-option-top", ("--verbose",), "No such option: --verbose"),
        ("unknown-option-show", ("show", "L0.N1", "--colour"), "No such option: --colour"),
        ("unknown-option-list", ("list", "--all"), "No such option: --all"),
        ("unknown-option-rebuild", ("store", "rebuild-index", "--force"), "No such option: --force"),
        ("unknown-option-serve", ("serve", "--daemon"), "No such option: --daemon"),
        ("unknown-option-eval", ("eval", "planted", "--fast"), "No such option: --fast"),
        ("show-missing-neuron", ("show",), "Missing argument 'neuron'"),
        ("show-id-like-an-option", ("show", "-1.5"), "No such option: -1"),
        ("probe-missing-texts", ("probe", "L0.N1"), "Missing argument 'texts'"),
        ("score-missing-explanation", ("score", "L0.N1"), "Missing argument 'explanation'"),
        ("synonyms-missing-word", ("synonyms",), "Missing argument 'word'"),
        ("search-missing-query", ("search",), "Missing argument 'query'"),
        ("import-missing-file", ("import",), "Missing argument 'file'"),
        ("export-missing-file", ("export",), "Missing argument 'file'"),
        ("eval-alone", ("eval",), "autointerp eval [OPTIONS] COMMAND"),
        ("store-alone", ("store",), "autointerp store [OPTIONS] COMMAND"),
        ("extra-argument", ("list", "everything"), "unexpected extra argument(s) (everything)"),
        ("layers-missing-value", ("cache", "--layers"), "Option '--layers' requires an argument"),
    ]:
        add(C(id_, *args, expect=opt, usage=True))
    # -- values typer accepts that are out of range: one error line, before anything loads
    for id_, args, expect in [
        ("show-n-negative", ("show", "L0.N1", *T, "-n", "-1"), "-n must be >= 0, got -1"),
        ("cache-missing-layers", ("cache",), "give --layers (neurons) or --dictionary"),
        ("batch-missing-layers", ("batch", "--heuristic"), "give --layers (their neurons) or --dictionary"),
        ("report-missing-layer", ("report",), "give --layer (its neurons) or --dictionary"),
        ("triage-missing-layer", ("triage",), "give --layer (its neurons) or --dictionary"),
        ("batch-bad-dictionary", ("batch", "--dictionary", "Res_4k", "--heuristic"), "malformed dictionary name"),
        ("report-bad-dictionary", ("report", "--dictionary", "../x"), "malformed dictionary name"),
        ("triage-bad-dictionary", ("triage", "--dictionary", "A"), "malformed dictionary name"),
        ("search-bad-dictionary", ("search", "legal", "--dictionary", "a b"), "malformed dictionary name"),
        ("list-kind-and-dictionary", ("list", "--kind", "neuron", "--dictionary", "res4k"), "contradict"),
        ("cache-tokens-0", ("cache", "--layers", "0", *T, "--tokens", "0"), "--tokens must be a positive number of tokens, got 0"),
        ("cache-tokens-negative", ("cache", "--layers", "0", *T, "--tokens", "-5"), "--tokens must be a positive number of tokens, got -5"),
        ("synonyms-k-0", ("synonyms", "smooth", *T, "-k", "0"), "-k must be >= 1, got 0"),
        ("synonyms-k-negative", ("synonyms", "smooth", *T, "-k", "-3"), "-k must be >= 1, got -3"),
        ("substitute-examples-0", ("substitute", "L0.N1", *T, "--examples", "0"), "--examples must be >= 1, got 0"),
        ("substitute-k-0", ("substitute", "L0.N1", *T, "-k", "0"), "-k must be >= 1, got 0"),
        ("context-example-negative", ("context", "L0.N1", *T, "--example", "-1"), "--example must be >= 0, got -1"),
        ("effects-k-0", ("effects", "L0.N1", *T, "-k", "0"), "-k must be >= 1, got 0"),
        ("effects-contexts-negative", ("effects", "L0.N1", *T, "--contexts", "-2"), "--contexts must be >= 1, got -2"),
        ("score-empty-explanation", ("score", "L0.N1", "", *T), "the explanation is empty"),
        ("score-blank-explanation", ("score", "L0.N1", "  \t ", *T), "the explanation is empty"),
        ("score-n-0", ("score", "L0.N1", "x", *T, "--method", "detection", "-n", "0"), "-n must be >= 1, got 0"),
        ("score-quantiles-above-n", ("score", "L0.N1", "x", *T, "--method", "fuzzing", "-n", "5"),
         "5 positives cannot cover 10 quantiles"),
        ("score-fire-threshold-1", ("score", "L0.N1", "x", *T, "--method", "detection", "--fire-threshold", "1"),
         "the fire threshold is a fraction"),
        ("score-top-negative", ("score", "L0.N1", "x", *T, "--top", "-1"), "--top must be >= 0, got -1"),
        ("score-random-negative", ("score", "L0.N1", "x", *T, "--random", "-4"), "--random must be >= 0, got -4"),
        ("score-top-and-random-0", ("score", "L0.N1", "x", *T, "--top", "0", "--random", "0"), "--top and --random"),
        ("explain-max-steps-0", ("explain", "L0.N1", *T, "--max-steps", "0"), "bad agent limits: max_steps"),
        ("explain-max-steps-negative", ("explain", "L0.N1", *T, "--max-steps", "-5"), "bad agent limits: max_steps"),
        ("explain-max-tokens-0", ("explain", "L0.N1", *T, "--max-tokens", "0"), "bad agent limits: max_tokens"),
        ("explain-both-methods", ("explain", "L0.N1", *T, "--one-shot", "--heuristic"), "--one-shot and --heuristic"),
        ("batch-workers-0", ("batch", "--layers", "0", *T, "--workers", "0"), "bad --workers"),
        ("batch-workers-1000", ("batch", "--layers", "0", *T, "--workers", "1000"), "bad --workers"),
        ("batch-budget-tokens-0", ("batch", "--layers", "0", *T, "--budget-tokens", "0"), "bad --budget-tokens"),
        ("batch-budget-usd-0", ("batch", "--layers", "0", *T, "--budget-usd", "0"), "bad --budget-usd"),
        ("batch-budget-usd-negative", ("batch", "--layers", "0", *T, "--budget-usd", "-1"), "bad --budget-usd"),
        ("batch-top-without-triage", ("batch", "--layers", "0", *T, "--top", "5"), "--top needs --triage-first"),
        ("batch-top-0", ("batch", "--layers", "0", *T, "--triage-first", "--top", "0"), "bad --top"),
        ("batch-both-methods", ("batch", "--layers", "0", *T, "--one-shot", "--heuristic"), "--one-shot and --heuristic"),
        ("batch-max-steps-0", ("batch", "--layers", "0", *T, "--max-steps", "0"), "bad --max-steps"),
        ("search-empty-query", ("search", ""), "empty search query"),
        ("search-blank-query", ("search", "  \n "), "empty search query"),
        ("search-k-0", ("search", "legal", "-k", "0"), "k must be >= 1, got 0"),
        ("search-k-negative", ("search", "legal", "-k", "-3"), "k must be >= 1, got -3"),
        ("eval-max-steps-0", ("eval", "planted", "--max-steps", "0"), "--max-steps must be >= 1, got 0"),
        ("eval-tokens-0", ("eval", "planted", "--tokens", "0"), "--tokens must be a positive number of tokens, got 0"),
        ("eval-out-is-a-file", ("eval", "planted", "--out", "{F}/afile"), "cannot write into {F}/afile: it is a file"),
        ("serve-bad-host", ("serve", "--host", "999.1.1.1"), "cannot serve on host '999.1.1.1'"),
        ("serve-port-in-use", ("serve", "--port", "{PORT}"), "cannot serve on 127.0.0.1:{PORT}"),
        ("list-bad-chroma-url", ("list", "--chroma-url", "http://127.0.0.1:9"), "http://127.0.0.1:9"),
        ("rebuild-index-on-a-server", ("store", "rebuild-index"), "AUTOINTERP_CHROMA_URL=http://127.0.0.1:9"),
        ("rebuild-index-no-store", ("store", "rebuild-index"), "there is no store at {F}/empty_home/store"),
        ("report-out-is-a-file", ("report", "--layer", "0", *T, "--out", "{F}/afile"),
         "cannot write into {F}/afile: it is a file"),
        ("report-out-under-a-file", ("report", "--layer", "0", *T, "--out", "{F}/afile/r"),
         "cannot write into {F}/afile/r: {F}/afile is not a directory"),
        # outputs that cannot be written: one line naming the file, before the model loads
        ("show-html-is-a-dir", ("show", "L0.N1", *T, "--html", "{F}/a_dir"), "cannot write {F}/a_dir: it is a directory"),
        ("show-html-under-a-file", ("show", "L0.N1", *T, "--html", "{F}/afile/x.html"),
         "cannot write {F}/afile/x.html: {F}/afile is not a directory"),
        ("context-html-is-a-dir", ("context", "L0.N1", *T, "--html", "{F}/a_dir"), "cannot write {F}/a_dir: it is a directory"),
        ("triage-csv-is-a-dir", ("triage", "--layer", "0", *T, "--csv", "{F}/a_dir"), "cannot write {F}/a_dir: it is a directory"),
        ("triage-plot-under-a-file", ("triage", "--layer", "0", *T, "--plot", "{F}/afile/t.png"),
         "cannot write {F}/afile/t.png: {F}/afile is not a directory"),
        ("export-to-a-dir", ("export", "{F}/a_dir"), "cannot write {F}/a_dir: it is a directory"),
        ("export-under-a-file", ("export", "{F}/afile/x.jsonl"), "cannot write {F}/afile/x.jsonl: {F}/afile is not a directory"),
        ("export-name-too-long", ("export", "{F}/" + "x" * 300 + ".jsonl"), "cannot write {F}/xxxx"),
        # transcripts: only files under the data dir's transcripts folder, and whole ones
        ("transcript-path-etc-passwd", ("transcript", "L0.N1", *T, "--path", "/etc/passwd"), "--path /etc/passwd is not"),
        ("transcript-path-outside", ("transcript", "L0.N1", *T, "--path", "{F}/garbled.jsonl"), "--path {F}/garbled.jsonl is not"),
        ("transcript-path-traversal", ("transcript", "L0.N1", *T, "--path", "{H}/transcripts/../../../../etc/passwd"),
         "is not a transcript file under"),
        ("transcript-truncated", ("transcript", "L0.N2", *T), "damaged or truncated at line 2"),
        ("transcript-none", ("transcript", "L0.N3", *T), "no transcript for L0.N3 of tiny-random"),
    ]:
        add(C(id_, *args, expect=expect,
              env={"AUTOINTERP_CHROMA_URL": "http://127.0.0.1:9"} if id_ == "rebuild-index-on-a-server" else
              {"AUTOINTERP_HOME": "{F}/empty_home"} if id_ == "rebuild-index-no-store" else None))
    # -- LLM specs: rejected at once, before any model loads
    for spec, expect in LLM_SPECS.items():
        add(C(f"explain-llm[{spec}]", "explain", "L0.N1", *T, "--llm", spec, expect=expect))
    for spec in ("martian:x", "openai-compatible:m@not-a-url", "openai:gpt-4o-mini"):
        add(C(f"batch-llm[{spec}]", "batch", "--layers", "0", *T, "--one-shot", "--llm", spec, expect=LLM_SPECS[spec]))
        add(C(f"score-llm[{spec}]", "score", "L0.N1", "x", *T, "--simulator", "llm", "--llm", spec,
              expect=LLM_SPECS[spec]))
    add(C("explain-env-llm", "explain", "L0.N1", *T, expect="unknown LLM 'martian:x'", env={"AUTOINTERP_LLM": "martian:x"}))
    # -- import: garbled, truncated, wrong types, huge, unicode, missing; all or nothing
    for name, expect in IMPORTS.items():
        add(C(f"import[{name}]", "import", f"{{F}}/{name}", expect=expect))
    # -- the planted eval's concepts file
    for name, expect in CONCEPTS.items():
        add(C(f"concepts[{name}]", "eval", "planted", "--concepts", f"{{F}}/{name}", expect=expect))
    # -- malformed settings and data dirs
    for (var, value), expect in SETTINGS.items():
        add(C(f"env-{var}[{value}]", "transcript", "L0.N1", expect=expect, env={var: value}))
    for cmd in (("list",), ("explain", "L0.N1", "--heuristic"), ("batch", "--layers", "0", "--heuristic"),
                ("cache", "--layers", "0"), ("import", "{F}/garbled.jsonl"), ("eval", "planted")):
        add(C(f"env-AUTOINTERP_TOKENS[abc]-{cmd[0]}", *cmd, expect="AUTOINTERP_TOKENS='abc'",
              env={"AUTOINTERP_TOKENS": "abc"}))
    add(C("home-is-a-file", "list", expect="{F}/afile is a file", env={"HOME": "{F}/afile", "AUTOINTERP_HOME": None}))
    add(C("home-is-a-file-explain", "explain", "L0.N1", "--heuristic", expect="{F}/afile is a file",
          env={"HOME": "{F}/afile", "AUTOINTERP_HOME": None}))
    # -- models, corpora and out-of-range ids: these load (or try to load) a model, but for ids and
    #    layers out of range, which are checked against the model's config before it loads
    for id_, args, expect in [
        ("model-missing-dir", ("show", "L0.N1", "--model", "{F}/no_model_here/"), "model directory {F}/no_model_here"),
        ("model-empty-dir", ("show", "L0.N1", "--model", "{F}/empty_model"), "{F}/empty_model is not a Hugging Face model"),
        ("model-is-a-file", ("show", "L0.N1", "--model", "{F}/afile"), "{F}/afile is not a directory"),
        ("model-bad-config", ("show", "L0.N1", "--model", "{F}/bad_config_model"), "{F}/bad_config_model"),
        ("model-truncated-safetensors", ("show", "L0.N1", "--model", "{F}/cut_model"), "{F}/cut_model"),
        ("model-unknown", ("show", "L0.N1", "--model", "no-such-model-anywhere"), "'no-such-model-anywhere'"),
        ("model-unicode", ("show", "L0.N1", "--model", "модель 🙂"), "'модель 🙂'"),
        ("model-planted-missing", ("show", "L0.N1", "--model", "planted-nope"), "no planted model 'planted-nope'"),
        ("model-env-unknown", ("transcript", "L0.N1"), "no transcript for L0.N1 of no-such-model"),
        ("show-layer-out-of-range", ("show", "L2.N0", *T), "layers are 0..1"),
        ("show-neuron-out-of-range", ("show", "L0.N99999", *T), "neurons are 0..127"),
        ("show-huge-layer", ("show", "L99999999999999999999.N0", *T), "99999999999999999999"),
        ("probe-empty-text", ("probe", "L0.N1", "", *T), "text 1 is empty"),
        ("probe-too-long", ("probe", "L0.N1", "ok", "word " * 9000, *T), "text 2 has"),
        ("synonyms-not-a-word", ("synonyms", "12345", *T), "'12345'"),
        ("substitute-bad-layer", ("substitute", "L5.N0", *T), "layers are 0..1"),
        ("context-example-out-of-range", ("context", "L0.N1", *T, "--example", "999"), "example 999 is out of range"),
        ("effects-bad-neuron", ("effects", "L0.N999", *T), "neurons are 0..127"),
        ("triage-bad-layer", ("triage", "--layer", "5", *T), "layers are 0..1"),
        ("triage-negative-layer", ("triage", "--layer", "-1", *T), "-1"),
        ("triage-neurons-out-of-range", ("triage", "--layer", "0", *T, "--neurons", "0:99999"), "neuron 128 is out of range"),
        ("score-bad-layer", ("score", "L9.N0", "x", *T), "layers are 0..1"),
        ("explain-bad-layer", ("explain", "L9.N0", *T, "--heuristic", "--no-store"), "layers are 0..1"),
        ("batch-bad-layer", ("batch", "--layers", "9", *T, "--heuristic"), "layers are 0..1"),
        ("batch-neurons-out-of-range", ("batch", "--layers", "0", *T, "--heuristic", "--neurons", "0:9999"),
         "out of range"),
        ("cache-bad-layer", ("cache", "--layers", "0,9", *T), "layers are 0..1"),
        ("report-nothing-stored", ("report", "--layer", "1", *T), "nothing stored for layer 1 of tiny-random"),
        ("corpus-missing", ("cache", "--layers", "0", *T, "--corpus", "{F}/no_corpus.txt"), "{F}/no_corpus.txt"),
        ("corpus-empty", ("cache", "--layers", "0", *T, "--corpus", "{F}/empty.txt"), "{F}/empty.txt"),
        ("corpus-binary", ("cache", "--layers", "0", *T, "--corpus", "{F}/binary.txt"), "{F}/binary.txt"),
        ("corpus-dir", ("cache", "--layers", "0", *T, "--corpus", "{F}/a_dir"), "{F}/a_dir"),
        ("corpus-garbled-jsonl", ("cache", "--layers", "0", *T, "--corpus", "{F}/garbled.jsonl"), "{F}/garbled.jsonl"),
    ]:
        env = {"AUTOINTERP_MODEL": "no-such-model"} if id_ == "model-env-unknown" else None
        add(C(id_, *args, expect=expect, model=not id_.startswith(CONFIG_ONLY), env=env))
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    return cases


CASES = _cases()


def _files(root: Path, models: Path) -> None:
    """The bad files the cases name, under {F}."""
    root.mkdir(parents=True, exist_ok=True)
    good = {"neuron": "L0.N1", "model": "tiny-random", "text": "closing brackets", "method": "heuristic",
            "explainer": "none", "prompt_version": "heuristic_v1"}
    line = json.dumps(good)
    gz = gzip.compress(("\n".join(json.dumps({**good, "neuron": f"L0.N{i}"}) for i in range(100)) + "\n").encode())
    (root / "trunc.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    (root / "notgz.jsonl.gz").write_bytes(b"hello, not gzip\n")
    (root / "empty.jsonl.gz").write_bytes(b"")
    (root / "nested_list.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "nested_list.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (root / "nested_obj.jsonl").write_text('{"a":' * 50_000 + "1" + "}" * 50_000 + "\n")
    (root / "binary.bin").write_bytes(bytes(range(256)) * 40)
    (root / "utf16.jsonl").write_bytes((line + "\n").encode("utf-16"))
    (root / "latin1.jsonl").write_bytes(line.replace("closing", "clos\u00e9").encode("latin-1") + b"\n")
    (root / "empty.jsonl").write_bytes(b"")
    (root / "blank.jsonl").write_text("\n   \n\t\n")
    (root / "garbled.jsonl").write_text(line + "\n{not json\n")
    (root / "cut_record.jsonl").write_text(line + "\n" + line[: len(line) // 2])
    (root / "wrong_types.jsonl").write_text(json.dumps({**good, "neuron": 5, "steps": "many"}) + "\n")
    (root / "scalar.json").write_text("42\n")
    (root / "ints.json").write_text("[1, 2, 3]")
    (root / "null.jsonl").write_text("null\n")
    (root / "string.jsonl").write_text('"hello"\n')
    (root / "layer_out_of_range.jsonl").write_text(json.dumps({**good, "neuron": "L99.N0"}) + "\n")
    (root / "malformed_neuron.jsonl").write_text(json.dumps({**good, "neuron": "L6-74"}) + "\n")
    (root / "unknown_model.jsonl").write_text(json.dumps({**good, "model": "martian-7b"}) + "\n")
    (root / "huge_text.jsonl").write_text(json.dumps({**good, "text": "x" * 5000}) + "\n")
    (root / "huge_line.jsonl").write_text(json.dumps({**good, "triggers": ["y" * 1000] * 2000}) + "\n")
    (root / "unicode_neuron.jsonl").write_text(json.dumps({**good, "neuron": "Ｌ０.Ｎ１"}, ensure_ascii=False) + "\n")
    (root / "np_bad_layer.jsonl").write_text(json.dumps({"modelId": "tiny-random", "layer": "abc-mlp", "index": 0,
                                                         "description": "x"}) + "\n")
    (root / "np_negative_index.jsonl").write_text(json.dumps({"modelId": "tiny-random", "layer": "0-mlp", "index": -1,
                                                              "description": "x"}) + "\n")
    (root / "list_with_bad.json").write_text(json.dumps([good, {**good, "neuron": "nope"}]))
    (root / "empty_list.json").write_text("[]")
    (root / "one_bad_of_many.jsonl").write_text("".join(json.dumps({**good, "neuron": f"L0.N{i}"}) + "\n"
                                                        for i in range(6)) + json.dumps({**good, "method": 3}) + "\n")
    (root / "empty_text.jsonl").write_text(json.dumps({**good, "text": ""}) + "\n")
    (root / "bad_date.jsonl").write_text(json.dumps({**good, "created_at": "yesterday"}) + "\n")
    score = {"neuron": "L0.N1", "model": "tiny-random", "explanation": "x", "method": "simulation",
             "simulator": "embedding", "per_example": [0.5], "n_examples": 10, "n_tokens": 640, "split": {}}
    (root / "bad_score.jsonl").write_text(json.dumps({**good, "scores": [{**score, "value": "high"}]}) + "\n")
    (root / "a_dir").mkdir(exist_ok=True)
    (root / "afile").write_text("a regular file\n")
    concept = {"name": "animals", "description": "animals", "words": ["cat", "dog", "frog", "horse", "owl"]}
    other = {"name": "tools", "description": "tools", "words": ["saw", "drill", "hammer", "chisel", "file"]}
    (root / "c_object.json").write_text(json.dumps({"concepts": [concept, other]}))
    (root / "c_one.json").write_text(json.dumps([concept]))
    (root / "c_dup_name.json").write_text(json.dumps([concept, {**other, "name": "animals"}]))
    (root / "c_dup_word.json").write_text(json.dumps([concept, {**other, "words": ["cat", *other["words"]]}]))
    (root / "c_few_words.json").write_text(json.dumps([{**concept, "words": ["cat", "cat", " "]}, other]))
    (root / "c_words_string.json").write_text(json.dumps([{**concept, "words": "cat dog"}, other]))
    (root / "empty_home").mkdir(exist_ok=True)
    (root / "empty_model").mkdir(exist_ok=True)
    (root / "bad_config_model").mkdir(exist_ok=True)
    (root / "bad_config_model" / "config.json").write_text("{not json")
    cut = root / "cut_model"
    cut.mkdir(exist_ok=True)
    for p in models.iterdir():  # the embedded model's config and tokenizer, its weights cut short
        if p.is_file() and p.suffix != ".safetensors":
            shutil.copy(p, cut / p.name)
    with open(models / "model.safetensors", "rb") as fh:
        (cut / "model.safetensors").write_bytes(fh.read(1_000_000))
    (root / "empty.txt").write_text("\n\n  \n")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 40)


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under the data dir (links to the shared models and corpora not followed)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in files:
            p = Path(folder) / name
            if not p.is_symlink():
                found[str(p.relative_to(root))] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return found


def _fill(text: str, where: dict[str, str]) -> str:
    for key, value in where.items():
        text = text.replace("{" + key + "}", value)
    return text


def _run(case: Case, where: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINTERP_") and k != "OPENAI_API_KEY"}
    env.update(AUTOINTERP_HOME=where["H"], AUTOINTERP_TOKENS="2048", HF_HUB_OFFLINE="1", AUTOINTERP_LLM_ATTEMPTS="1",
               AUTOINTERP_LLM_TIMEOUT="5", COLUMNS="400", TERMINAL_WIDTH="400")
    for key, value in case.env:
        if value is None:
            env.pop(key, None)
        else:
            env[key] = _fill(value, where)
    args = [_fill(a, where) for a in case.args]
    try:
        return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], env=env, capture_output=True,
                              text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, -1, str(e.stdout or ""), f"timed out after {TIMEOUT} s")


def _wanted(request, model: bool) -> list[Case]:
    """The cases this session runs (all of them, unless deselected with -k or -m)."""
    chosen = [item.callspec.params["case"] for item in request.session.items
              if item.module is sys.modules[__name__] and hasattr(item, "callspec") and "case" in item.callspec.params]
    return [c for c in chosen if c.model == model]


def _outcomes(request, tmp_path_factory, home, model: bool) -> tuple[dict, dict, dict, dict]:
    """Run the selected cases in parallel against one data dir holding a store, a cache and a
    damaged transcript; (results by id, placeholders, snapshot before, snapshot after)."""
    from autointerp.store import import_records, open_store

    base = tmp_path_factory.mktemp("bad-inputs")
    settings = linked_home(home, base / "home")
    _files(base / "files", home / "models" / "smollm2-135m")
    records = base / "records.jsonl"
    records.write_text("".join(json.dumps({"neuron": f"L0.N{i}", "model": "tiny-random", "text": f"word {i}",
                                           "method": "heuristic", "explainer": "none",
                                           "prompt_version": "heuristic_v1"}) + "\n" for i in range(4)))
    import_records(open_store(settings), records)
    if model:
        from autointerp.cache.build import build_cache

        build_cache([0], model="tiny-random", settings=settings.model_copy(update={"tokens": 2048}), progress=False)
    cut = settings.data_dir / "transcripts" / "tiny-random" / "L0.N2" / "20250101T000000000000Z-agent.jsonl"
    cut.parent.mkdir(parents=True)
    cut.write_text('{"type": "start", "step": 0, "data": {}}\n{"type": "llm", "step": 1, "da')
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    port.listen()
    where = {"H": str(settings.home), "F": str(base / "files"), "PORT": str(port.getsockname()[1])}
    before = _snapshot(settings.data_dir)
    cases = _wanted(request, model)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = dict(zip([c.id for c in cases], pool.map(lambda c: _run(c, where), cases)))
    port.close()
    return results, where, before, _snapshot(settings.data_dir)


@pytest.fixture(scope="module")
def fast(request, tmp_path_factory, home, tiny):
    return _outcomes(request, tmp_path_factory, home, model=False)


@pytest.fixture(scope="module")
def loading(request, tmp_path_factory, home, tiny):
    return _outcomes(request, tmp_path_factory, home, model=True)


_BOX = re.compile(r"[│╭╮╰╯─]")


def check(case: Case, outcomes) -> None:
    results, where, _, _ = outcomes
    r = results[case.id]
    shown = f"$ autointerp {' '.join(case.args)}\nexit {r.returncode}\nstdout: {r.stdout[-1500:]}\nstderr: {r.stderr[-3000:]}"
    both = r.stdout + r.stderr
    assert "Traceback" not in both and "panicked" not in both and "PanicException" not in both, shown
    assert r.returncode not in (0, -1), shown
    expect = _fill(case.expect, where)
    if case.usage:  # typer's usage message, or its error panel alone
        told = r.stderr or r.stdout  # a group given no command prints its help (on stdout) and exits 2
        assert r.returncode == 2 and ("Usage:" in told or "─ Error ─" in told), shown
        assert expect in " ".join(_BOX.sub(" ", told).split()), shown
        return
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert expect in lines[0], shown
    assert r.stdout == "", shown


@pytest.mark.parametrize("case", [c.param() for c in CASES if not c.model])
def test_bad_input(case, fast):
    check(case, fast)


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.model])
def test_bad_input_loading_a_model(case, loading):
    check(case, loading)


def test_enough_bad_inputs():
    assert len(CASES) >= 200, len(CASES)


def test_bad_inputs_write_nothing(fast):
    _, _, before, after = fast
    assert before and after == before


@pytest.mark.integration
def test_bad_inputs_loading_a_model_write_nothing(loading):
    _, _, before, after = loading
    assert before and after == before
