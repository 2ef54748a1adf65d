"""Pages and error replies, shared by the app's error handlers and the routes (kept apart from
`app.py` so routes never import the module that imports them)."""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse


class FastJSON(JSONResponse):
    """JSONResponse's JSON (read back equal; floats may be spelled differently), encoded by orjson: a
    neuron's JSON took 30 ms of json.dumps under the lock every request shares. A non-finite number
    becomes null, not a 500."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def render(request: Request, name: str, status_code: int = 200, **ctx) -> HTMLResponse:
    state = request.app.state.web
    html = request.app.state.templates.get_template(name).render(served=state.model, request=request, **ctx)
    return HTMLResponse(html, status_code=status_code)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(request: Request, status: int, reason: str) -> HTMLResponse | JSONResponse:
    if _is_api(request):
        return JSONResponse({"error": reason}, status_code=status)
    titles = {400: "Bad request", 404: "Not found", 409: "Busy", 429: "Busy", 500: "Server error"}
    return render(request, "error.html", status_code=status, title=titles.get(status, f"Error {status}"), status=status,
                  reason=reason)
