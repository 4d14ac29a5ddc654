"""The Alembic migrations create exactly the tables, columns and indexes every stage's models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tessera.compose import metadata
from tessera.core.db import Database
from tessera.search.store import FULL_TEXT_TABLES


def _full_text(name: str | None) -> bool:
    return bool(name) and any(name == t or name.startswith(f"{t}_") for t in FULL_TEXT_TABLES)


def _include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Leave out the search stage's full-text tables (raw DDL, see ``search.store.FULL_TEXT_TABLES``)."""
    table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (_full_text(table) or name == "alembic_version")


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _include})
        return list(compare_metadata(ctx, metadata()))


def test_migrations_match_the_models(db: Database) -> None:
    """Runs on SQLite and PostgreSQL (the ``db`` fixture): no table, column, type or index differs."""
    assert _diff(db) == []
    tables = set(inspect(db.engine).get_table_names())
    assert set(metadata().tables) <= tables


def test_the_check_sees_a_missing_column(db: Database) -> None:
    """The comparison is not blind: a column the models declare but the database lacks is reported."""
    from sqlalchemy import Column, Integer, MetaData, Table

    md = MetaData()
    for t in metadata().tables.values():
        t.to_metadata(md)
    Table("purge_jobs", md, Column("not_migrated", Integer), extend_existing=True)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), md)
    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diff if isinstance(d, tuple))
