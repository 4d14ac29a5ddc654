"""A real server for the security tests, started the way ``tessera serve`` starts it (``api.serving``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tessera.accounts.store import AccountStore
from tessera.api.app import create_app
from tessera.api.serving import uvicorn_config
from tessera.catalog.store import Catalog
from tessera.catalog.visibility import OPERATOR
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings
from tessera.crawlers.sources.folder import add_folder

PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    settings: Settings
    keys: dict[str, str]
    db: Database

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path, corpus_dir: Path) -> Iterator[Callable[..., Server]]:
    """Start a real server over a real SQLite catalogue with the given settings; users ana (admin), ben."""
    running: list[tuple[uvicorn.Server, threading.Thread, Database]] = []

    def start(source_url: str | None = None, **overrides: Any) -> Server:
        settings = Settings(data_dir=tmp_path / f"data{len(running)}", **overrides)
        settings.ensure_dirs()
        db = Database(settings.db_url)
        db.migrate()
        add_folder(Catalog(db, OPERATOR), corpus_dir / "bd_haus.flac", "CC0-1.0", "Sonic Pi contributors",
                   title="Kicks", source_url=source_url)
        accounts = AccountStore(db)
        keys = {}
        for name, role in (("ana", "admin"), ("ben", "editor")):
            accounts.add_user(name, role)
            keys[name] = accounts.issue_key(name)
        accounts.set_password("ben", PASSWORD)
        port = free_port()
        srv = uvicorn.Server(uvicorn_config(create_app(build(settings)), settings, "127.0.0.1", port,
                                            log_level="warning"))
        th = threading.Thread(target=srv.run, daemon=True)
        th.start()
        for _ in range(400):  # until it listens (bounded; no timing assertion)
            if srv.started:
                break
            threading.Event().wait(0.05)
        assert srv.started, "the API server did not start"
        running.append((srv, th, db))
        return Server(f"http://127.0.0.1:{port}", settings, keys, db)

    yield start
    for srv, th, db in running:
        srv.should_exit = True
        th.join(timeout=30)
        db.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
