"""Finding 8: limits follow an address a client cannot choose; lockouts never lock out a valid key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from tessera.api.clientaddr import client_address, networks
from tessera.api.serving import uvicorn_config
from tessera.core.settings import Settings
from tests.security.conftest import PASSWORD, Server, bearer


def test_forwarded_headers_from_an_untrusted_peer_do_not_move_the_limit(serve: Callable[..., Server]) -> None:
    srv = serve(rate_limit_anonymous=5)  # no TESSERA_TRUSTED_PROXIES: the loopback peer is the client
    with srv.client() as c:
        codes = [c.get("/api/features", headers={"X-Forwarded-For": f"203.0.113.{i}",
                                                 "Forwarded": f"for=198.51.100.{i}"}).status_code
                 for i in range(8)]
    assert codes == [200] * 5 + [429] * 3


def test_forwarded_headers_from_a_trusted_proxy_name_the_client(serve: Callable[..., Server]) -> None:
    srv = serve(rate_limit_anonymous=2, trusted_proxies=["127.0.0.0/8"])
    with srv.client() as c:
        for i in range(4):  # each client behind the proxy has its own budget
            for _ in range(2):
                assert c.get("/api/features", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code == 200
        assert c.get("/api/features", headers={"X-Forwarded-For": "203.0.113.0"}).status_code == 429


def test_the_forwarded_chain_is_read_from_the_right() -> None:
    trusted = networks(["10.0.0.0/8"])
    # the client wrote the first hop itself; the trusted proxy appended the address it saw
    assert client_address("10.0.0.5", {"x-forwarded-for": "1.2.3.4, 198.51.100.7"}, trusted) == "198.51.100.7"
    assert client_address("10.0.0.5", {"forwarded": 'for="[2001:db8::1]"'}, trusted) == "2001:db8::1"
    assert client_address("192.0.2.9", {"x-forwarded-for": "1.2.3.4"}, trusted) == "192.0.2.9"
    assert client_address("127.0.0.1", {"x-forwarded-for": "1.2.3.4"}, ()) == "127.0.0.1"


def test_bad_keys_lock_their_address_but_never_a_valid_key(serve: Callable[..., Server]) -> None:
    srv = serve(auth_failures_per_address=4, auth_failures_per_key=100)
    with srv.client() as c:
        codes = [c.get("/api/items", headers=bearer(f"tsr_g{i}_x")).status_code for i in range(6)]
        assert codes == [401] * 4 + [429] * 2
        r = c.get("/api/items", headers=bearer(srv.keys["ana"]))  # the admin, from the locked address
        assert r.status_code == 200
        assert c.get("/api/me", headers=bearer(srv.keys["ana"])).json()["role"] == "admin"


def test_bad_secrets_for_one_key_prefix_are_locked_per_prefix(serve: Callable[..., Server]) -> None:
    # many addresses (through a trusted proxy) guessing secrets of one key: counted against its prefix
    srv = serve(auth_failures_per_address=100, auth_failures_per_key=3, trusted_proxies=["127.0.0.1"])
    prefix = srv.keys["ana"].split("_")[1]
    with srv.client() as c:
        codes = [c.get("/api/items", headers={**bearer(f"tsr_{prefix}_guess{i}"),
                                              "X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(5)]
        assert codes == [401] * 3 + [429] * 2
        assert c.get("/api/items", headers=bearer(srv.keys["ana"])).status_code == 200
        # another key's guesses are not held back by ana's
        assert c.get("/api/items", headers=bearer("tsr_other_guess")).status_code == 401


def test_failed_sign_ins_are_throttled_per_account(serve: Callable[..., Server]) -> None:
    srv = serve(login_failures_per_account=3, trusted_proxies=["127.0.0.1"])
    with srv.client() as c:
        codes = [c.post("/api/login", json={"name": "ben", "password": f"wrong {i}"},
                        headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)]
        assert codes == [401] * 3
        r = c.post("/api/login", json={"name": "ben", "password": PASSWORD})  # even the right one, for now
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # per account: another name is answered as usual
        assert c.post("/api/login", json={"name": "ana", "password": "wrong wrong"}).status_code == 401


def test_tessera_serve_gives_uvicorn_only_the_configured_proxies(tmp_path: Path) -> None:
    app = FastAPI()
    default = uvicorn_config(app, Settings(data_dir=tmp_path), "127.0.0.1", 0)
    assert default.proxy_headers is False and default.forwarded_allow_ips == []  # not uvicorn's loopback default
    behind = uvicorn_config(app, Settings(data_dir=tmp_path, trusted_proxies=["10.0.0.0/8"]), "127.0.0.1", 0)
    assert behind.proxy_headers is True and behind.forwarded_allow_ips == ["10.0.0.0/8"]
