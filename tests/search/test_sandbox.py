"""Uploads are decoded in a limited worker process: a crash or a hang costs a worker, never the server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tessera.indexer.errors import DecodeError
from tessera.search.errors import SearchBusy, TooManyUploads, Undecodable, UploadTooLarge
from tessera.search.query import upload_vector
from tessera.search.sandbox import DecodeSandbox, GateLimits

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

    done = threading.Event()

    def kill_workers() -> None:  # whichever process takes the long file dies (however slowly it started)
        while not done.wait(0.5):
            for proc in sandbox.processes():
                proc.kill()

    t = threading.Thread(target=kill_workers)
    t.start()
    try:
        with pytest.raises(Undecodable, match="crashed"):
            sandbox.vector(str(long), 600)
    finally:
        done.set()
        t.join()
    for proc in sandbox.processes():
        proc.join(10)  # SIGKILL is not instant: let the idle ones finish dying
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


def _small_gate(**kw: float) -> DecodeSandbox:
    return DecodeSandbox(timeout=60, limits=GateLimits(workers=1, **kw))  # type: ignore[arg-type]


def test_one_client_may_have_only_a_few_uploads_in_flight() -> None:
    sb = _small_gate(per_client=2)
    try:
        with sb.admitted("203.0.113.9"), sb.admitted("203.0.113.9"):
            with pytest.raises(TooManyUploads) as err:
                sb.vector(str(SAMPLES / "bd_haus.flac"), 60, client="203.0.113.9")
            assert err.value.details["retry_after"] > 0
            # another address is not held up by the first one's uploads
            assert sb.vector(str(SAMPLES / "bd_haus.flac"), 60, client="198.51.100.7").shape[0] > 50
        assert sb._clients == {}  # admissions are given back, even after a refusal
    finally:
        sb.close()


def test_a_full_queue_answers_busy_at_once_and_a_long_wait_answers_busy_in_time() -> None:
    sb = _small_gate(queue_wait=0.3, max_waiting=1)
    try:
        slot = sb._take_slot()  # the only decoder is busy
        with pytest.raises(SearchBusy) as err:
            sb.vector(str(SAMPLES / "bd_haus.flac"), 60, client="a")  # waits 0.3 s, then gives up
        assert err.value.status == 503 and err.value.details["retry_after"] >= 1
        sb._waiting = 1  # as if another upload were waiting: the queue is full, so no wait at all
        with pytest.raises(SearchBusy, match="busy"):
            sb.vector(str(SAMPLES / "bd_haus.flac"), 60, client="b")
        sb._waiting = 0
        sb._free.put(slot)
        assert sb.vector(str(SAMPLES / "bd_haus.flac"), 60, client="a").shape[0] > 50
    finally:
        sb.close()


def test_a_header_declaring_too_many_samples_is_refused_before_decoding(sandbox: DecodeSandbox,
                                                                           tmp_path: Path) -> None:
    # 100 s of 96 kHz stereo silence: a small FLAC that declares twice the 48 kHz stereo budget of 100 s
    p = tmp_path / "hostile.flac"
    with sf.SoundFile(p, "w", 96000, 2, format="FLAC") as fh:
        block = np.zeros((96000, 2), np.float32)
        for _ in range(100):
            fh.write(block)
    assert p.stat().st_size < 200_000
    with pytest.raises(UploadTooLarge, match="96000 Hz"):
        sandbox.vector(str(p), max_seconds=100)
    # the same length at 48 kHz is within the budget
    ok = tmp_path / "ok.flac"
    with sf.SoundFile(ok, "w", 48000, 2, format="FLAC") as fh:
        tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 48000).astype(np.float32)
        block = np.stack([tone, tone], axis=1)
        for _ in range(20):
            fh.write(block)
    assert sandbox.vector(str(ok), max_seconds=100).shape[0] > 50


def test_a_crash_in_one_slot_does_not_fail_the_upload_in_another(tmp_path: Path) -> None:
    sb = DecodeSandbox(timeout=60, limits=GateLimits(workers=2))
    long = tmp_path / "long.wav"
    x, sr = sf.read(SAMPLES / "loop_amen_full.flac", dtype="float32")
    sf.write(long, np.tile(x, (int(200 * sr / len(x)), 1)), sr)
    try:
        victim = sb._take_slot()
        sb._pool(victim).submit(time.sleep, 0).result()  # its process is up
        results: list[object] = []

        def innocent() -> None:
            try:
                results.append(sb.vector(str(long), 600, client="b"))
            except Exception as exc:  # the assertion below reports it
                results.append(exc)

        t = threading.Thread(target=innocent)
        t.start()
        time.sleep(0.5)
        for proc in list(sb._pool(victim)._processes.values()):  # type: ignore[attr-defined]
            proc.kill()  # the other slot's decoder dies mid-way
        t.join()
        assert isinstance(results[0], np.ndarray), results
    finally:
        sb.close()


def test_a_closed_sandbox_starts_again_on_the_next_upload() -> None:
    """An app may run its lifespan more than once (tests, reloads): closing must not refuse uploads for good."""
    sb = DecodeSandbox(timeout=60, limits=GateLimits(workers=1))
    try:
        assert sb.vector(str(SAMPLES / "bd_haus.flac"), 60).shape[0] > 50
        sb.close()
        assert sb.vector(str(SAMPLES / "bd_haus.flac"), 60).shape[0] > 50
    finally:
        sb.close()
