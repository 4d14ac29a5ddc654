"""Property-based run of the whole OpenAPI schema (every endpoint: anonymous, editor, moderator, admin).

Every check schemathesis has (status codes, content types, headers, response schema conformance …), with the
same configuration as ``bench/schemathesis.sh`` (``bench/schemathesis.toml``), in process. Bounded examples per
operation keep it within CI time. The numbers (operations × roles, examples, passed, failed) go to the file
that ``TESSERA_SCHEMATHESIS_REPORT`` names, if it is set; a plain test run leaves the tree as it found it and
only logs them. The run against a real server, with its output in bench/results/, is ``bench/schemathesis.sh``.
"""

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.store import IndexStore

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 15
CONFIG = Path(__file__).resolve().parents[2] / "bench" / "schemathesis.toml"
_KEYS: dict[str, str] = {}
REPORT = os.environ.get("TESSERA_SCHEMATHESIS_REPORT")
# (role, operation) -> [examples run, examples failed]
_STATS: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if not _STATS:
        return
    roles = sorted({r for r, _ in _STATS})
    ops = sorted({o for _, o in _STATS})
    failed_ops = sorted(f"{r} {o}" for (r, o), (_, bad) in _STATS.items() if bad)
    lines = [
        f"schemathesis run of the OpenAPI schema, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"max examples per operation and role: {EXAMPLES}",
        f"operations: {len(ops)}; roles: {len(roles)} ({', '.join(roles)}); "
        f"operations x roles: {len(_STATS)}",
        f"examples run (calls of the test, incl. schemathesis coverage cases): {sum(n for n, _ in _STATS.values())}",
        f"passed (operation x role): {len(_STATS) - len(failed_ops)}",
        f"failed (operation x role): {len(failed_ops)}",
        "",
        "per role: operations, examples, failed operations",
    ]
    for role in roles:
        mine = {o: v for (r, o), v in _STATS.items() if r == role}
        lines.append(f"  {role}: {len(mine)}, {sum(n for n, _ in mine.values())}, "
                     f"{sum(1 for _, bad in mine.values() if bad)}")
    lines += ["", "failures:"] + [f"  {f}" for f in failed_ops or ["none"]]
    logging.getLogger(__name__).info("\n".join(lines))
    if REPORT:
        Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(REPORT).write_text("\n".join(lines) + "\n")


def _check(case: Any, role: str) -> None:
    stat = _STATS[(role, case.operation.label)]
    stat[0] += 1
    headers = {"Authorization": f"Bearer {_KEYS[role]}"} if role in _KEYS else None
    try:
        case.call_and_validate(headers=headers)
    except Exception:
        stat[1] += 1
        raise


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Any:
    s = Settings(data_dir=tmp_path_factory.mktemp("st"), rate_limit_anonymous=10**6, rate_limit_key=10**6,
                 rate_limit_audio_anonymous=10**6, rate_limit_export_key=10**6, auth_failures_per_address=10**6,
                 editor_token="schemathesis-editor", source_url="/health")  # no redirect leaves the app
    s.ensure_dirs()
    db = Database(s.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    for name in ("bd_haus.flac", "sn_dub.flac", "ambi_choir.flac", "long_mix.wav", "broken.wav"):
        add_folder(catalog, corpus_dir / name, "CC-BY-4.0", "Sonic Pi contributors")
    run_index(IndexStore(catalog.db), s.index_dir, IndexParams(), workers=1)
    acc = AccountStore(db)
    for role in ("editor", "moderator", "admin"):
        acc.add_user(f"st-{role}", role)
        _KEYS[role] = acc.issue_key(f"st-{role}")
    db.dispose()
    config = schemathesis.config.SchemathesisConfig.from_path(str(CONFIG))
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(build(s)), config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_anonymous(case: Any) -> None:
    _check(case, "anonymous")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_editor_key(case: Any) -> None:
    _check(case, "editor")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_moderator_key(case: Any) -> None:
    _check(case, "moderator")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_with_admin_key(case: Any) -> None:
    _check(case, "admin")
