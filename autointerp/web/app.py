"""The FastAPI application: created once per server with its Workbench (the model loads once per
process), the presentation layer's Jinja2 templates (autoescape on), the hand-written static files,
and error pages that give the reason and never a traceback."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from autointerp.errors import AutointerpError, InputError
from autointerp.present.templates import environment
from autointerp.web.lanes import Lanes
from autointerp.web.pages import error_response
from autointerp.web.routes import router
from autointerp.web.state import WebState
from autointerp.workbench import Workbench

HERE = Path(__file__).parent
log = logging.getLogger("autointerp.web")


def create_app(wb: Workbench, store=None) -> FastAPI:
    """The app for one Workbench (its target and settings) and the store (default: the settings' store)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The model, tokenizer and libraries loaded so far live as long as the server: frozen, a full
        # collection no longer walks them (each took 200-290 ms with them, stalling every request).
        gc.collect()
        gc.freeze()
        yield
        await run_in_threadpool(app.state.web.worker.close)  # the model's thread ends with the server

    app = FastAPI(title="autointerp", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.web = WebState(wb, store)
    app.state.templates = environment()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.add_middleware(Lanes)  # how many pages and bulk JSON replies run at once

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        reason = exc.detail if isinstance(exc.detail, str) else "not found"
        if exc.status_code == 404 and reason == "Not Found":
            reason = f"no page at {request.url.path}"
        response = error_response(request, exc.status_code, reason)
        response.headers.update(exc.headers or {})  # Retry-After on a 429
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(request, 400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError):
        return error_response(request, 400, str(exc))

    @app.exception_handler(AutointerpError)
    async def library_error(request: Request, exc: AutointerpError):
        return error_response(request, 500, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error_response(request, 500, f"{type(exc).__name__}: {exc}")

    return app
