"""Cultural protocol labels and the viewer, on SQLite and PostgreSQL; reports and the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tessera.accounts.moderation import ModerationStore
from tessera.catalog.protocols import ProtocolStore
from tessera.catalog.store import Catalog, FileIn, ItemFilter, RecordIn
from tessera.catalog.visibility import OPERATOR, PUBLIC, Viewer, in_season
from tessera.core.errors import InvalidInput, NotFound


@pytest.fixture
def world(catalog: Catalog) -> Iterator[tuple[Catalog, ProtocolStore, dict[str, int], dict[str, int]]]:
    recs = {name: catalog.upsert_record(RecordIn("folder", f"/{name}", name, "CC-BY-4.0", creator="c"))
            for name in ("songs", "rites")}
    files = {}
    for i, (name, rec) in enumerate([("lullaby", "songs"), ("work song", "songs"), ("rite 1", "rites"),
                                     ("rite 2", "rites")]):
        files[name] = catalog.add_file(recs[rec], FileIn(f"{i}.wav", f"{i:032x}", 10, title=name))[0]
    yield catalog, ProtocolStore(catalog.db, OPERATOR), files, recs


def _visible(catalog: Catalog, viewer: Viewer) -> set[str]:
    return {f.title for f in Catalog(catalog.db, viewer).list_items(ItemFilter(), 100, 0)[0]}


def test_restricting_labels_hide_from_outsiders_only(world) -> None:  # type: ignore[no-untyped-def]
    catalog, mod, files, recs = world
    mod.add_protocol_label("record", recs["rites"], "tk_secret_sacred", "Yolngu", None, "mod")
    mod.add_protocol_label("item", files["lullaby"], "tk_attribution", "Yolngu", "sing it with us", "mod")
    everyone = {"lullaby", "work song", "rite 1", "rite 2"}
    assert _visible(catalog, OPERATOR) == everyone
    assert _visible(catalog, PUBLIC) == {"lullaby", "work song"}
    assert _visible(catalog, Viewer(False, frozenset({"Another"}))) == {"lullaby", "work song"}
    assert _visible(catalog, Viewer(False, frozenset({"Yolngu"}))) == everyone
    shown = mod.protocol_labels_for_items([files["rite 1"], files["lullaby"]])
    assert [p.code for p in shown[files["rite 1"]]] == ["tk_secret_sacred"]
    assert [p.code for p in shown[files["lullaby"]]] == ["tk_attribution"]


def test_seasons(world) -> None:  # type: ignore[no-untyped-def]
    catalog, mod, files, _ = world
    today = datetime.now(UTC).strftime("%m-%d")
    # a season around the new year, and one that is always over today unless today is its only day
    mod.add_protocol_label("item", files["work song"], "tk_seasonal", "Sami", None, "mod", "12-01", "01-31")
    winter = today[:2] >= "12" or today[:2] == "01"
    assert ("work song" in _visible(catalog, PUBLIC)) == winter
    assert in_season("12-01", "01-31", "12-24") and in_season("12-01", "01-31", "01-02")
    assert not in_season("12-01", "01-31", "06-15") and in_season("03-01", "05-31", "04-01")
    with pytest.raises(InvalidInput):
        mod.add_protocol_label("item", files["work song"], "tk_seasonal", "Sami", None, "mod", "12-01", None)


def test_reports_and_audit(world) -> None:  # type: ignore[no-untyped-def]
    catalog, _, files, _ = world
    mod = ModerationStore(catalog.db, OPERATOR)
    r = mod.report("item", files["lullaby"], "cultural_sensitivity", "please check", "anonymous")
    assert mod.list_reports("open", 10, 0)[1] == 1
    with pytest.raises(NotFound):
        mod.report("item", 999999, "harmful", None, "anonymous")
    with pytest.raises(InvalidInput):
        mod.report("record", files["lullaby"], "harmful", None, "anonymous")
    mod.close_report(r.id, "dismissed", "dismiss", "fine as it is", "mod")
    assert mod.list_reports("open", 10, 0)[1] == 0 and mod.list_reports("dismissed", 10, 0)[1] == 1
    audit, total = mod.list_audit(10, 0)
    assert total == 1 and audit[0].action == "report_dismissed" and audit[0].actor == "mod"


def test_a_restricting_label_is_never_made_public_by_season_dates(world) -> None:  # type: ignore[no-untyped-def]
    catalog, mod, files, _ = world
    with pytest.raises(InvalidInput):  # season dates are for seasonal labels only
        mod.add_protocol_label("item", files["lullaby"], "tk_secret_sacred", "Yolngu", None, "mod", "01-01", "12-31")
    # a season written onto a restricting label some other way (older data) opens nothing either
    mod.add_protocol_label("item", files["lullaby"], "tk_secret_sacred", "Yolngu", None, "mod")
    from sqlalchemy import update

    from tessera.catalog.models import ProtocolLabel

    with catalog.db.session() as s:
        s.execute(update(ProtocolLabel).values(season_start="01-01", season_end="12-31"))
    assert "lullaby" not in _visible(catalog, PUBLIC)
