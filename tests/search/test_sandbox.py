"""Uploads are decoded in a limited worker process: a crash or a hang costs a worker, never the server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tessera.indexer.errors import DecodeError
from tessera.search.errors import Undecodable
from tessera.search.query import upload_vector
from tessera.search.sandbox import DecodeSandbox

SAMPLES = Path("/usr/share/sonic-pi/samples")


@pytest.fixture(scope="module")
def sandbox() -> DecodeSandbox:
    sb = DecodeSandbox(timeout=60)
    yield sb
    sb.close()


def test_same_vector_as_in_process(sandbox: DecodeSandbox) -> None:
    data = (SAMPLES / "bd_haus.flac").read_bytes()
    inside = upload_vector(data, sandbox=sandbox)
    direct = upload_vector(data)
    assert np.allclose(inside, direct, atol=1e-5)


def test_header_claiming_too_much_is_refused_before_decoding(sandbox: DecodeSandbox, tmp_path: Path) -> None:
    p = tmp_path / "long.wav"
    sf.write(p, np.zeros(44100 * 12, np.float32), 44100)
    with pytest.raises(DecodeError, match="too long"):
        sandbox.vector(str(p), max_seconds=10)


def test_a_killed_decoder_is_an_error_and_the_pool_recovers(sandbox: DecodeSandbox, tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    x, sr = sf.read(SAMPLES / "loop_amen_full.flac", dtype="float32")
    sf.write(long, np.tile(x, (int(400 * sr / len(x)), 1)), sr)  # ~6 minutes: time to kill it mid-way
    sandbox.vector(str(SAMPLES / "bd_haus.flac"), 60)  # workers are up

    def kill_worker() -> None:
        time.sleep(1.0)
        for proc in list(sandbox._get()._processes.values()):  # type: ignore[attr-defined]
            proc.kill()

    t = threading.Thread(target=kill_worker)
    t.start()
    with pytest.raises(Undecodable, match="crashed"):
        sandbox.vector(str(long), 600)
    t.join()
    v = sandbox.vector(str(SAMPLES / "bd_haus.flac"), 60)
    assert v.shape[0] > 50 and np.all(np.isfinite(v))


def test_a_hung_decoder_times_out(tmp_path: Path) -> None:
    sb = DecodeSandbox(timeout=0.5)
    long = tmp_path / "long.wav"
    x, sr = sf.read(SAMPLES / "loop_amen_full.flac", dtype="float32")
    sf.write(long, np.tile(x, (int(300 * sr / len(x)), 1)), sr)
    try:
        with pytest.raises(Undecodable, match="longer than"):
            sb.vector(str(long), 600)
        sb.timeout = 60
        assert sb.vector(str(SAMPLES / "bd_haus.flac"), 60).shape[0] > 50
    finally:
        sb.close()
