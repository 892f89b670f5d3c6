"""In-process caches of hot lookups, registered so they can all be dropped at once.

The gateway keeps a few seconds' worth of token, grant and resource look-ups in each
worker; every entry is re-validated against the database where it matters. When the
database under a process is replaced wholesale (a restore, or a test emptying its
tables), :func:`clear_all` drops them all.
"""

from __future__ import annotations

from collections.abc import Callable

_CLEARERS: list[Callable[[], None]] = []


def register(clear: Callable[[], None]) -> Callable[[], None]:
    """Remember ``clear`` (a cache's ``clear`` method) for :func:`clear_all`."""
    _CLEARERS.append(clear)
    return clear


def clear_all() -> None:
    for clear in _CLEARERS:
        clear()
