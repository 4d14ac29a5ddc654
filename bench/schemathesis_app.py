"""A small real Tessera for ``bench/schemathesis.sh``: Sonic Pi samples, indexed and clustered, a user of
each role with a key (written to ``<data>/keys.json``), served on 127.0.0.1:<port>.

    python bench/schemathesis_app.py DATA_DIR PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn

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
from tessera.taxonomy.cluster import ClusterParams
from tessera.taxonomy.service import run_clustering
from tessera.taxonomy.store import TaxonomyStore

SAMPLES = Path("/usr/share/sonic-pi/samples")
NAMES = ("bd_haus", "bd_boom", "sn_dub", "sn_dolf", "ambi_choir", "ambi_drone", "elec_beep", "elec_blip",
         "loop_amen", "guit_harmonics")
ROLES = ("editor", "moderator", "admin")


def prepare(data: Path, port: int) -> Settings:
    # limits high enough for a fuzzer; the source link points at this server so that no redirect leaves it
    settings = Settings(data_dir=data, rate_limit_anonymous=10**7, rate_limit_key=10**7,
                        rate_limit_audio_anonymous=10**7, rate_limit_export_key=10**7,
                        auth_failures_per_address=10**7, auth_failures_per_key=10**7,
                        login_failures_per_account=10**7, source_url=f"http://127.0.0.1:{port}/health")
    settings.ensure_dirs()
    keys = data / "keys.json"
    if keys.exists():
        return settings
    db = Database(settings.db_url)
    db.migrate()
    catalog = Catalog(db, OPERATOR)
    folder = data / "audio"
    folder.mkdir(exist_ok=True)
    for name in NAMES:
        (folder / f"{name}.flac").write_bytes((SAMPLES / f"{name}.flac").read_bytes())
    add_folder(catalog, folder, "CC-BY-4.0", "Sonic Pi contributors")
    run_index(IndexStore(db), settings.index_dir, IndexParams(), workers=1)
    run_clustering(IndexStore(db), TaxonomyStore(db, OPERATOR), ClusterParams(seed=1, min_cluster_size=2))
    accounts = AccountStore(db)
    out = {}
    for role in ROLES:
        accounts.add_user(f"st-{role}", role)
        out[role] = accounts.issue_key(f"st-{role}")
    db.dispose()
    keys.write_text(json.dumps(out))
    return settings


def main() -> None:
    data, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = prepare(data, port)
    uvicorn.run(create_app(build(settings)), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
