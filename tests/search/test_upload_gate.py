"""Upload search degrades instead of failing: one address cannot hold every decoder, a full queue is a
503 with Retry-After, and a file whose header declares too much audio is refused before decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient

from tessera.search.sandbox import DecodeSandbox

Indexed = tuple[TestClient, dict[str, int], Path]


def _upload(client: TestClient, audio: Path) -> object:
    return client.post("/api/search?limit=3",
                       files={"file": ("kick.flac", (audio / "bd_haus.flac").read_bytes(), "audio/flac")})


def test_one_address_with_uploads_in_flight_gets_429_with_retry_after(indexed: Indexed) -> None:
    client, _ids, audio = indexed
    sandbox: DecodeSandbox = client.app.state.sandbox  # type: ignore[attr-defined]
    held = [sandbox._admitted("testclient") for _ in range(sandbox.limits.per_client)]
    for h in held:
        h.__enter__()
    try:
        r = _upload(client, audio)
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
        assert "per client" in r.text
    finally:
        for h in held:
            h.__exit__(None, None, None)
    assert _upload(client, audio).status_code == 200


def test_a_full_queue_is_503_with_retry_after_and_frees_itself(indexed: Indexed) -> None:
    client, _ids, audio = indexed
    sandbox: DecodeSandbox = client.app.state.sandbox  # type: ignore[attr-defined]
    slots = [sandbox._take_slot() for _ in range(sandbox.workers)]
    sandbox._waiting += sandbox.max_waiting  # as many uploads as may wait are already waiting
    try:
        r = _upload(client, audio)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
    finally:
        sandbox._waiting -= sandbox.max_waiting
        for s in slots:
            sandbox._free.put(s)
    assert _upload(client, audio).status_code == 200


def test_a_small_file_declaring_hours_of_hi_res_audio_is_413(indexed: Indexed, tmp_path: Path) -> None:
    client, _ids, _audio = indexed
    p = tmp_path / "claims.flac"
    with sf.SoundFile(p, "w", 96000, 2, format="FLAC") as fh:
        block = np.zeros((96000, 2), np.float32)
        for _ in range(400):  # 400 s of 96 kHz stereo: within 600 s, but twice the sample budget
            fh.write(block)
    assert p.stat().st_size < 1_000_000
    r = client.post("/api/search", files={"file": ("claims.flac", p.read_bytes(), "audio/flac")})
    assert r.status_code == 413, r.text
    assert "96000 Hz" in r.text
