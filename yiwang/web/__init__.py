"""Server-rendered pages: the shell, sign-in, and each network's pages."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from yiwang.catalog import pages as catalog_pages
from yiwang.exchange import pages as exchange_pages
from yiwang.identity import pages as identity_pages
from yiwang.registry import pages as registry_pages
from yiwang.sharing import pages as sharing_pages
from yiwang.web import pages, templating


def mount(app: FastAPI) -> None:
    """Attach the pages and static files to ``app``."""
    # Identity and the networks may not import the page shell (import-linter); they render through this hook.
    app.state.render_page = templating.render
    templating.add_template_dir(Path(identity_pages.__file__).resolve().parent / "templates")
    app.include_router(identity_pages.router)
    templating.add_template_dir(Path(catalog_pages.__file__).resolve().parent / "templates")
    app.include_router(catalog_pages.router)
    templating.add_template_dir(Path(sharing_pages.__file__).resolve().parent / "templates")
    app.include_router(sharing_pages.router)
    templating.add_template_dir(Path(registry_pages.__file__).resolve().parent / "templates")
    app.include_router(registry_pages.router)
    templating.add_template_dir(Path(exchange_pages.__file__).resolve().parent / "templates")
    app.include_router(exchange_pages.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=templating.STATIC), name="static")
