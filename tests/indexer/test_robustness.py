"""Files that would end a run or be indexed as if whole: worker deaths, memory budget, truncation."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tessera.catalog.store import Catalog, ItemFilter
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.decode import header_info, probe
from tessera.indexer.run import IndexParams, estimated_peak_bytes, process_one, run_index
from tessera.indexer.store import IndexStore, IndexTask

SAMPLES = Path("/usr/share/sonic-pi/samples")


def _loop(seconds: float, path: Path, subtype: str = "PCM_16") -> Path:
    x, sr = sf.read(SAMPLES / "loop_amen_full.flac", always_2d=True, dtype="float32")
    n = int(seconds * sr)
    sf.write(path, np.tile(x, (int(np.ceil(n / len(x))), 1))[:n], sr, subtype=subtype)
    return path


def _cut(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def _names(catalog: Catalog) -> dict[int, str]:
    return {i.id: i.filename for i in catalog.list_items(ItemFilter(), 100, 0)[0]}


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_worker_death_fails_only_its_file(catalog: Catalog, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    for n in ("bd_haus", "sn_dub", "ambi_choir", "guit_e_fifths", "loop_amen"):
        shutil.copy(SAMPLES / f"{n}.flac", folder / f"{n}.flac")
    # ~4 s of CPU to analyse (at ~140x real time); the kernel ends its worker (SIGXCPU) at the 1 s limit per file
    _loop(600, folder / "long.wav")
    add_folder(catalog, folder, "CC0-1.0", "Sonic Pi contributors")
    params = IndexParams(max_cpu_seconds_per_file=1)
    report = run_index(IndexStore(catalog.db), tmp_path / "index", params, workers=2)
    names = _names(catalog)
    assert report.indexed == 5 and report.failed == 1
    fid, reason = report.failures[0]
    assert names[fid] == "long.wav" and reason.startswith("worker died")
    assert [(names[i], r) for i, _f, r in IndexStore(catalog.db).failed_files()] == [("long.wav", reason)]
    # a restart does not crash on the same file again, nor redo finished work
    again = run_index(IndexStore(catalog.db), tmp_path / "index", params, workers=2)
    assert again.total == 0
    # without the limit the same file is fine
    retried = run_index(IndexStore(catalog.db), tmp_path / "index", IndexParams(), workers=2, retry_failed=True)
    assert (retried.total, retried.indexed) == (1, 1)


def test_memory_budget_refuses_from_the_header(tmp_path: Path) -> None:
    # a real 2 s WAV whose data chunk claims ~6.7 hours: refused before any decoding
    wav = _loop(2, tmp_path / "claims_hours.wav")
    data = bytearray(wav.read_bytes())
    pos = data.index(b"data")
    data[pos + 4: pos + 8] = struct.pack("<I", 0xFFFFFFF0 // 4 * 4 - 4096)
    wav.write_bytes(bytes(data))
    head = header_info(wav)
    assert head is not None and head.duration > 6 * 3600
    _fid, out, err = process_one(IndexTask(1, str(wav), "", wav.stat().st_size), IndexParams())
    assert out is None and err is not None and err.startswith("too large for the memory budget"), err
    # an honest long file over a small budget: the same refusal, and a budget it fits in lets it through
    long = _loop(90, tmp_path / "long.flac")
    need = estimated_peak_bytes(90, 44100, 2)
    task = IndexTask(2, str(long), "", long.stat().st_size, 90.0)
    assert process_one(task, IndexParams(max_memory_bytes=need // 2))[2] is not None
    assert process_one(task, IndexParams(max_memory_bytes=need + 1))[1] is not None


def test_default_budget_takes_long_concerts() -> None:
    # spectra are analysed a block at a time: a 2-hour stereo concert fits the default 4 GiB, ten hours do not
    budget = IndexParams().max_memory_bytes
    assert estimated_peak_bytes(2 * 3600, 44100, 2) < budget
    assert estimated_peak_bytes(2 * 3600, 48000, 2) < budget
    assert estimated_peak_bytes(10 * 3600, 44100, 2) > budget


def test_memory_estimate_covers_the_measured_peak(tmp_path: Path) -> None:
    # the real peak of decoding and analysing a 150 s stereo file, in a fresh process, stays under the estimate
    import subprocess
    import sys

    wav = _loop(150, tmp_path / "long.flac")
    # VmHWM, not ru_maxrss: the latter survives exec, so a child of a big pytest process reports the parent's peak
    code = (
        "import re, sys\n"
        "def hwm():\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "from tessera.indexer.decode import decode\n"
        "from tessera.indexer.features import algorithms, extract\n"
        "algorithms()\n"
        "base = hwm()\n"
        "extract(decode(sys.argv[1]))\n"
        "print(base * 1024, hwm() * 1024)\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(wav)], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    base, peak = (int(v) for v in res.stdout.split()[-2:])
    assert peak < estimated_peak_bytes(150, 44100, 2), (base, peak)
    # what the file itself adds: about two 44.1 kHz mono mixes (4 bytes a sample each), not its spectra
    assert (peak - base) / 150 < 0.8e6, (peak - base) / 150


def test_truncated_files_are_failed(catalog: Catalog, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    folder = tmp_path / "f"
    folder.mkdir()
    _cut(_loop(20, whole / "cut.flac", subtype="PCM_16"), folder / "cut.flac", 0.4)
    _cut(_loop(20, whole / "cut.wav"), folder / "cut.wav", 0.4)
    shutil.copy(_loop(20, whole / "ok.wav"), folder / "ok.wav")
    # registration records what the headers claim, not what is on disk
    assert probe(folder / "cut.wav").duration == pytest.approx(20, abs=0.01)
    add_folder(catalog, folder, "CC0-1.0", "x")
    report = run_index(IndexStore(catalog.db), tmp_path / "index", IndexParams(), workers=1)
    names = _names(catalog)
    failed = {names[i]: r for i, r in report.failures}
    assert set(failed) == {"cut.flac", "cut.wav"} and report.indexed == 1
    for reason in failed.values():
        assert reason.startswith("truncated: decoded") and "of the 20.00 s its header claims" in reason
