"""Lanes: how many requests of a kind run at once in `autointerp serve`, so one kind never crowds
out another. A page holds a few MB while it is built and every request shares one GIL: running
more at once than the cores can serve adds no speed, only memory and waiting. Bulk JSON (a
neuron's or a layer's whole data, ~150 ms and ~10 MB each to build; triage) runs one at a time,
so programs downloading it never slow the pages people read (the pages never fetch it); pages and
search run a few at a time. Model work (probe, effects) has its own bounded queue (worker.py) and
streams (SSE) are never held. A request waits for its lane without holding a thread; a lane with
too many waiting answers 429 with Retry-After."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from autointerp.web.pages import error_response


@dataclass
class Lane:
    name: str
    slots: int  # requests of the lane running at once
    queue: int  # requests waiting beyond which the lane answers 429
    routes: list[tuple[str, re.Pattern]]  # (method, path pattern)
    waiting: int = 0
    seconds: float = 0.05  # a running average of one request's time: the Retry-After estimate
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        return any(method == m and p.fullmatch(path) for m, p in self.routes)

    def retry_after(self) -> int:
        return max(1, math.ceil(self.waiting * self.seconds / self.slots))


def default_lanes() -> list[Lane]:
    part = r"[^/]+"  # a layer or a run id; a unit id may hold a slash (a dictionary latent: 6-res4k/1764)
    return [
        Lane("bulk", slots=1, queue=64, routes=[
            ("GET", re.compile(r"/api/neurons/.+")), ("GET", re.compile(rf"/api/layers/{part}")),
            ("POST", re.compile(rf"/api/layers/{part}/triage")), ("GET", re.compile(rf"/api/dictionaries/{part}")),
            ("POST", re.compile(rf"/api/dictionaries/{part}/triage"))]),
        Lane("pages", slots=4, queue=256, routes=[
            ("GET", re.compile(r"/")), ("GET", re.compile(r"/neurons/.+")), ("GET", re.compile(rf"/layers/{part}")),
            ("GET", re.compile(rf"/dictionaries/{part}")), ("GET", re.compile(r"/search")),
            ("GET", re.compile(r"/api/search")), ("GET", re.compile(r"/api/models")),
            ("GET", re.compile(rf"/api/runs/{part}"))]),
    ]


class Lanes:
    """ASGI middleware: each request of a lane waits for one of its slots."""

    def __init__(self, app: ASGIApp, lanes: list[Lane] | None = None) -> None:
        self.app = app
        self.lanes = lanes if lanes is not None else default_lanes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = next((ln for ln in self.lanes if ln.matches(scope.get("method", ""), scope.get("path", ""))),
                    None) if scope["type"] == "http" else None
        if lane is None:
            await self.app(scope, receive, send)
            return
        if lane._sem is None:  # made on the server's own event loop
            lane._sem = asyncio.Semaphore(lane.slots)
        if lane.waiting >= lane.queue:
            response = error_response(Request(scope), 429, f"the server is busy: {lane.waiting} {lane.name} requests "
                                                           f"are waiting; retry in {lane.retry_after()} s")
            response.headers["Retry-After"] = str(lane.retry_after())
            await response(scope, receive, send)
            return
        lane.waiting += 1
        try:
            await lane._sem.acquire()
        finally:
            lane.waiting -= 1
        t = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            lane._sem.release()
            lane.seconds = 0.8 * lane.seconds + 0.2 * (time.perf_counter() - t)
