"""`autointerp serve`: a local web app to browse, search, probe and explain neurons (FastAPI,
Jinja2, hand-written JS/CSS; nothing is fetched at run time). `create_app(wb)` builds it around one
Workbench, so the model loads once per server process."""

from autointerp.web.app import create_app

__all__ = ["create_app"]
