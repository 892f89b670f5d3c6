"""What every CLI command shares: the console, Chinese errors, one transaction per command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from yiwang.config import get_settings
from yiwang.identity.authz import Actor
from yiwang.kit.errors import PlatformError
from yiwang.runtime import Platform

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a Chinese error and return the exit to raise."""
    err.print(f"[bold red]错误：[/]{message}", highlight=False, markup=True)
    return typer.Exit(code)


@contextmanager
def console_transaction(read_only: bool = False) -> Iterator[tuple[Platform, Session, Actor]]:
    """The platform, one transaction and the console actor; PlatformErrors become exit 1."""
    platform = Platform.from_settings(get_settings())
    try:
        with platform.session_scope(read_only=read_only) as session:
            yield platform, session, Actor.system()
    except PlatformError as exc:
        # Lists (the bad rows of an import, say) are worth printing; a lone field name is in the message.
        details = exc.details if isinstance(exc.details, list) else None
        if isinstance(exc.details, dict) and isinstance(exc.details.get("errors"), list):
            details = exc.details["errors"]  # a rejected data load: its bad rows
        extra = "\n" + json.dumps(details[:200], ensure_ascii=False, indent=1) if details else ""
        raise fail(f"{exc.message}{extra}") from None
    finally:
        platform.close()
