"""`autointerp serve`: the local web app (autointerp/web/), on one Workbench loaded at startup."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from autointerp.cli.options import CorpusOpt, ModelOpt, workbench
from autointerp.cli.output import note
from autointerp.errors import InputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_port(host: str, port: int) -> None:
    """One error line before the model loads when the address cannot be bound (taken, or no such host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"cannot serve on host {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise InputError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


def serve(
    host: Annotated[str, typer.Option("--host", help="address to bind (default: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port")] = 8765,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch threads of the model's forward "
                                                "(default: half the cores, at least 1)")] = None,
) -> None:
    """Browse, search, probe and explain neurons in a local web app (model loaded once, nothing fetched)."""
    _check_port(host, port)  # before anything heavy loads
    from autointerp.memory import limit_arenas

    limit_arenas()
    import torch
    import uvicorn

    from autointerp.web import create_app

    # The forward shares the cores with the pages being built: an OpenMP team with more threads than
    # the cores it gets waits at every barrier (probes 10-20x slower on a busy 2-core machine).
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 2) // 2))

    wb = workbench(model, corpus)
    app = create_app(wb)
    if host not in LOOPBACK:
        note(f"warning: serving on {host}: anyone who can reach it can run the model and write the store")
    shown = f"[{host}]" if ":" in host else host
    note(f"serving {wb.model} at http://{shown}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
