"""Alembic environment: one migration history for every network's tables."""

from __future__ import annotations

from alembic import context

import yiwang.models  # noqa: F401  - registers every table on Base.metadata
from yiwang.config import get_settings
from yiwang.kit.db import Base, is_sqlite, make_engine

config = context.config
url = config.attributes.get("url") or get_settings().resolved_database_url()


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Leave to their own DDL the tables no model describes: the search index (search_*, with
    FTS5's shadow tables) and the datastore's runtime tables (ds_*)."""
    if type_ == "table" and name is not None:
        return not name.startswith(("search_", "ds_"))
    return True


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=is_sqlite(url),  # SQLite alters tables by copying them
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
