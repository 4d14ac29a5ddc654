"""Rate limits over real HTTP (uvicorn on a local port): per key, audio for the public, failed keys per address."""

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path, corpus_dir: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_anonymous=1000, rate_limit_key=5,
                        rate_limit_audio_anonymous=3, rate_limit_export_key=2, auth_failures_per_address=4)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    add_folder(Catalog(db, OPERATOR), corpus_dir / "bd_haus.flac", "CC0-1.0", "Sonic Pi contributors")
    accounts = AccountStore(db)
    keys = {}
    for name in ("ana", "ben"):
        accounts.add_user(name, "editor")
        keys[name] = accounts.issue_key(name)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(build(settings)), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for _ in range(200):  # wait until it listens (bounded, no timing assertion)
            try:
                client.get("/health")
                break
            except httpx.TransportError:
                threading.Event().wait(0.05)
        item = client.get("/api/items").json()["items"][0]["id"]
        yield {"client": client, "keys": keys, "item": item, "db": db}
    srv.should_exit = True
    thread.join(timeout=30)
    db.dispose()


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_per_key_limit_answers_429_with_retry_after(server: dict[str, Any]) -> None:
    client, keys = server["client"], server["keys"]
    codes = [client.get("/api/features", headers=_h(keys["ana"])).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = client.get("/api/items", headers=_h(keys["ana"]))
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60 and r.json()["retry_after"] == retry
    # per key: another key, and the public, are not held back by ana's use
    assert client.get("/api/features", headers=_h(keys["ben"])).status_code == 200
    assert client.get("/api/features").status_code == 200


def test_anonymous_audio_limit(server: dict[str, Any]) -> None:
    client, item = server["client"], server["item"]
    codes = [client.get(f"/api/items/{item}/audio").status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = client.get(f"/api/items/{item}/preview")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert client.get(f"/api/items/{item}").status_code == 200  # metadata stays open
    assert client.get(f"/api/items/{item}/audio", headers=_h(server["keys"]["ben"])).status_code == 200


def test_invalid_keys_are_throttled_per_address(server: dict[str, Any]) -> None:
    client, keys = server["client"], server["keys"]
    codes = [client.get("/api/items", headers=_h(f"tsr_guess{i}_x")).status_code for i in range(4)]
    assert codes == [401] * 4
    r = client.get("/api/items", headers=_h("tsr_guess5_x"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # while blocked, guesses are refused, but a valid key is not (finding 8: a lockout must not lock users out)
    assert client.get("/api/items", headers=_h("tsr_guess6_x")).status_code == 429
    assert client.get("/api/items", headers=_h(keys["ana"])).status_code == 200
    assert client.get("/api/items").status_code == 200  # the public reading stays open
