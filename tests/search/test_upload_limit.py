"""The upload limit over real HTTP (uvicorn on a socket): refused on Content-Length before the body
is sent, and cut off while streaming when the body has no (or a false) length."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from tessera.api.routers.search import MULTIPART_OVERHEAD

Indexed = tuple[TestClient, dict[str, int], Path]
LIMIT = 100_000


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[int]:
    client, _ids, _audio = indexed
    app = client.app
    settings = app.state.services.settings  # type: ignore[attr-defined]
    before, settings.max_upload_bytes = settings.max_upload_bytes, LIMIT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the TestClient already ran the app's lifespan; this server only adds a real socket
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield port
    finally:
        srv.should_exit = True
        th.join(10)
        settings.max_upload_bytes = before


def _response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _head(port: int, extra: str) -> bytes:
    return (f"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary=xyz\r\n{extra}\r\n").encode()


def test_declared_length_over_limit_is_refused_before_the_body(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        # announce 50 MB, send only the headers and the first part header: the answer comes anyway
        sock.sendall(_head(server, f"Content-Length: {50 * 1024 * 1024}\r\n"))
        sock.sendall(b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF')
        status, body = _response(sock)
    assert status == 413
    assert body["code"] == "too_large"
    assert body["limit"] == LIMIT


def test_streamed_body_is_cut_off_at_the_limit(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        sock.sendall(_head(server, "Transfer-Encoding: chunked\r\n"))
        part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        chunk = b"\0" * 16384
        sent = 0
        try:
            while sent < 20 * (LIMIT + MULTIPART_OVERHEAD):  # far more than the limit, never finished
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: it stopped reading
        status, body = _response(sock)
    assert status == 413, body
    assert body["code"] == "too_large"


def test_small_upload_over_http_still_works(server: int, indexed: Indexed) -> None:
    _client, _ids, audio = indexed
    import httpx

    data = (audio / "bd_haus.flac").read_bytes()
    assert len(data) < LIMIT
    r = httpx.post(f"http://127.0.0.1:{server}/api/search?limit=3", files={"file": ("k.flac", data, "audio/flac")},
                   timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["items"]
