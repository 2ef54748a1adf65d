"""Greedy decoding of many conversations at once for the embedded chat LLM.

Batch workers are threads sharing one local model; one at a time, each decoding step reads all
the model's weights for a single token. `BatchDecoder` runs every waiting conversation's step in
one forward instead: each keeps its own key/value cache (its rows left-padded to the longest, with
an attention mask and its own positions), joins as soon as its prompt is read and leaves when it
stops, so a short reply never waits for a long one. One conversation alone is decoded exactly as
`generate` does it; batched ones can differ where padded matrix products round differently
(`benchmarks/llm_decode.py` counts how often)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Stop = Callable[[list[int]], bool]  # on the reply's token ids so far: stop here


@dataclass(eq=False)
class Request:
    """One reply to decode: `ids` the whole prompt; its first `reused` tokens are held by `past`."""

    ids: list[int]
    max_new: int
    reused: int = 0
    past: object = None
    penalty: float = 1.0
    stops: list[Stop] = field(default_factory=list)
    new: list[int] = field(default_factory=list)
    cache: object = None  # when done: a DynamicCache of every token but the last generated
    error: BaseException | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)  # done, or its turn to drive


@dataclass(eq=False)
class _Row:
    req: Request
    length: int  # tokens its key/value cache holds
    kv: list[tuple[torch.Tensor, torch.Tensor]] | None  # its own cache while outside a batch

    @property
    def next(self) -> int:
        return self.req.new[-1]


def pick(logits: torch.Tensor, req: Request) -> int:
    """The greedy token, after `generate`'s repetition penalty over every token seen (prompt and
    reply so far; gathered only when there is a penalty: this runs once a token per reply)."""
    if req.penalty != 1.0:
        idx = torch.tensor(req.ids + req.new)
        score = logits.gather(0, idx)
        logits = logits.scatter(0, idx, torch.where(score < 0, score * req.penalty, score / req.penalty))
    return int(torch.argmax(logits))


class BatchDecoder:
    """Decodes `Request`s from any thread together, up to `max_batch` at a time. No thread of its
    own: one caller drives the shared loop while the others wait; when its own reply is done it
    hands the loop to a caller still waiting. (So `explain` of one unit decodes on its own thread,
    where torch's thread pool is already warm: a fresh thread runs the same steps 10-20 % slower.)"""

    def __init__(self, model, eos_id: int, max_batch: int = 8) -> None:
        self.model, self.eos_id, self.max_batch = model, eos_id, max_batch
        self._lock = threading.Lock()
        self._queue: list[Request] = []
        self._rows: list[_Row] = []
        self._cache = None  # the rows' key/value cache, left-padded to the longest
        self._driver: Request | None = None
        self.steps = 0  # batched forwards run, and the rows they carried (a measure of sharing)
        self.rows = 0

    def decode(self, req: Request) -> Request:
        """Decode `req` (blocking); raises what its forward raised."""
        with self._lock:
            self._queue.append(req)
            if self._driver is None:
                self._driver = req
        driving = False
        try:
            while not req.done.is_set():
                if self._driver is req:
                    driving = True
                    self._drive(req)
                else:
                    req.wake.wait()
                    req.wake.clear()
        except BaseException as e:
            req.cancelled = True
            if driving:
                self._abandon(e)
            elif self._driver is req:  # handed the loop as it was interrupted: hand it on
                self._hand_on()
            raise
        if req.error is not None:
            raise req.error
        return req

    def _drive(self, mine: Request) -> None:
        """Run the loop until `mine` is done, then hand it on."""
        while not mine.done.is_set():
            with self._lock:
                take = self._queue[:self.max_batch - len(self._rows)]
                del self._queue[:len(take)]
            try:
                self._iterate(take)
            except BaseException as e:  # interrupted while admitting: those taken fail with the batch
                for req in take:
                    _fail(req, _failure(e))
                raise
        self._hand_on()

    def _iterate(self, take: list[Request]) -> None:
        """Admit `take`, then one token for every row."""
        joined = [row for row in map(self._admit, take) if row is not None]
        rows = self._rows
        try:
            kept = [row for row in rows if not row.req.cancelled]
            if joined or len(kept) < len(rows):
                self._cache = self._rebatch(kept, rows, self._cache, joined)
                rows = self._rows = kept + joined
            if not rows:
                return
            self._step(rows, self._cache)
            left = [row for row in rows if not self._finished(row, rows, self._cache)]
            if len(left) < len(rows):
                self._cache = self._rebatch(left, rows, self._cache, [])
                self._rows = left
        except Exception as e:  # noqa: BLE001 - every reply in the batch hears of it; the next starts afresh
            for req in [row.req for row in rows + joined]:
                _fail(req, e)
            self._rows, self._cache = [], None

    def _hand_on(self) -> None:
        """Give the loop to a caller still waiting (in the batch, else in the queue), or stop it."""
        with self._lock:
            waiting = [row.req for row in self._rows] + self._queue
            nxt = next((r for r in waiting if not r.done.is_set() and not r.cancelled), None)
            self._driver = nxt
        if nxt is not None:
            nxt.wake.set()

    def _abandon(self, error: BaseException) -> None:
        """The driving caller was interrupted mid-step: the batch's replies fail (their cache may be
        half-stepped), the queue is handed on."""
        for row in self._rows:
            _fail(row.req, _failure(error))
        self._rows, self._cache = [], None
        self._hand_on()

    def _admit(self, req: Request) -> _Row | None:
        """The request's row after its prompt is read, or None: answered already (a one-token reply,
        or the error it raised)."""
        if req.cancelled:
            return None
        try:
            row = self._prefill(req)
            return None if self._finished(row) else row
        except Exception as e:  # noqa: BLE001 - it goes to the caller
            _fail(req, e)
            return None

    def _prefill(self, req: Request) -> _Row:
        """Read the prompt past its reused prefix (one at a time: prompts differ in length) and pick
        the first token."""
        from transformers import DynamicCache

        past = req.past if req.past is not None else DynamicCache(config=self.model.config)
        ids = torch.tensor([req.ids[req.reused:]])
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=torch.ones(1, len(req.ids), dtype=torch.long),
                             cache=past, use_cache=True, logits_to_keep=1)
        req.new.append(pick(out.logits[0, -1].float(), req))
        kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        return _Row(req, len(req.ids), kv)

    def _step(self, rows: list[_Row], cache) -> None:
        """One token for every row, in one forward."""
        width = max(row.length for row in rows)
        mask = torch.zeros(len(rows), width + 1, dtype=torch.long)
        for i, row in enumerate(rows):
            mask[i, width - row.length:] = 1
        tokens = torch.tensor([[row.next] for row in rows])
        positions = torch.tensor([[row.length] for row in rows])
        with torch.inference_mode():
            out = self.model(input_ids=tokens, attention_mask=mask, position_ids=positions, cache=cache,
                             use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1].float()
        for i, row in enumerate(rows):
            row.length += 1
            row.req.new.append(pick(logits[i], row.req))
        self.steps += 1
        self.rows += len(rows)

    def _finished(self, row: _Row, rows: list[_Row] | None = None, cache=None) -> bool:
        """Whether the row's reply is over; if so it is answered, with its own cache."""
        req = row.req
        try:
            over = req.cancelled or req.new[-1] == self.eos_id or len(req.new) >= req.max_new \
                or any(stop(req.new) for stop in req.stops)
        except Exception as e:  # noqa: BLE001 - a caller's stop test failed: its reply alone ends, with the error
            _fail(req, e)
            return True
        if over:
            kv = row.kv if rows is None else _unpad(cache, rows.index(row), row.length, copy=len(rows) > 1)
            req.cache = _cache(self.model.config, kv)
            _answer(req)
        return over

    def _rebatch(self, kept: list[_Row], old: list[_Row], cache, joined: list[_Row]):
        """One cache of `kept` (rows of the old batch) and `joined` (each with its own), left-padded."""
        if kept and not joined:  # rows left: one gather of those kept, trimmed to the longest of them
            idx = torch.tensor([old.index(row) for row in kept])
            start = -max(row.length for row in kept)
            return _cache(self.model.config, [(layer.keys[idx, :, start:], layer.values[idx, :, start:])
                                              for layer in cache.layers])
        kvs = [_unpad(cache, old.index(row), row.length) for row in kept] + [row.kv for row in joined]
        for row in joined:
            row.kv = None
        if not kvs:
            return None
        if len(kvs) == 1:
            return _cache(self.model.config, kvs[0])
        width = max(kv[0][0].shape[2] for kv in kvs)
        layers = []
        for layer in range(len(kvs[0])):
            keys, values = zip(*[_pad(kv[layer], width) for kv in kvs])
            layers.append((torch.cat(keys), torch.cat(values)))
        return _cache(self.model.config, layers)


def _failure(error: BaseException) -> Exception:
    """What the other callers of an interrupted batch raise."""
    return error if isinstance(error, Exception) else RuntimeError("decoding was interrupted")


def _fail(req: Request, error: Exception) -> None:
    if not req.done.is_set():
        req.error = error
        _answer(req)


def _answer(req: Request) -> None:
    req.done.set()
    req.wake.set()


def _unpad(cache, i: int, length: int, copy: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Row i's own cache; a copy where it outlives the batch (a view would keep the whole batch)."""
    rows = [(layer.keys[i:i + 1, :, -length:], layer.values[i:i + 1, :, -length:]) for layer in cache.layers]
    return [(k.clone(), v.clone()) for k, v in rows] if copy else rows


def _pad(kv: tuple[torch.Tensor, torch.Tensor], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    k, v = kv
    missing = width - k.shape[2]
    if missing == 0:
        return k, v
    zeros = k.new_zeros(k.shape[0], k.shape[1], missing, k.shape[3])
    return torch.cat([zeros, k], dim=2), torch.cat([zeros, v], dim=2)


def _cache(config, layers):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(layers), config=config)
