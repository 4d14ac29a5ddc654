"""Chromaprint duplicates on real audio: transcodes of one recording are linked, other recordings are not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tessera.catalog.store import Catalog, ItemFilter
from tessera.crawlers.sources.folder import add_folder
from tessera.indexer.decode import decode
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.features import algorithms
from tessera.indexer.fingerprint import (
    DuplicateParams,
    FingerprintFormatError,
    best_alignment,
    decode_fingerprint,
    is_duplicate,
)
from tessera.indexer.run import IndexParams, run_index
from tessera.indexer.similarity import IndexSet
from tessera.indexer.store import IndexStore

SAMPLES = Path("/usr/share/sonic-pi/samples")


def _ffmpeg(*args: str) -> None:
    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is missing: scripts/setup.sh installs it")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def _collage(names: tuple[str, ...], seconds: float, path: Path) -> Path:
    """A real recording of `seconds` s: sonic-pi loops, each repeated for an equal share."""
    share = int(seconds * 44100 / len(names)) + 1
    parts = []
    for n in names:
        x, sr = sf.read(SAMPLES / f"{n}.flac", always_2d=True, dtype="float32")
        assert sr == 44100
        x = np.repeat(x, 2, axis=1)[:, :2] if x.shape[1] == 1 else x[:, :2]
        parts.append(np.tile(x, (int(np.ceil(share / len(x))), 1))[:share])
    sf.write(path, np.concatenate(parts)[: int(seconds * 44100)], 44100)
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dups")
    flac = _collage(("loop_amen_full", "loop_compus", "loop_tabla"), 25, d / "take.flac")
    _ffmpeg("-i", str(flac), "-b:a", "128k", str(d / "take.mp3"))
    _ffmpeg("-i", str(flac), "-c:a", "libvorbis", "-q:a", "3", str(d / "take.ogg"))
    other = _collage(("loop_industrial", "loop_garzul", "loop_mika"), 25, d / "other.flac")
    return {"flac": flac, "mp3": d / "take.mp3", "ogg": d / "take.ogg", "other": other}


def _prints(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    return {k: decode_fingerprint(str(algorithms().chroma(decode(p).mono)))[1] for k, p in paths.items()}


def test_decoder_matches_chromaprints_own_raw_output(recordings: dict[str, Path], tmp_path: Path) -> None:
    # ffmpeg's chromaprint muxer writes the same fingerprint compressed (base64) and raw: the reference
    src = str(recordings["flac"])
    _ffmpeg("-i", src, "-f", "chromaprint", "-fp_format", "raw", str(tmp_path / "raw.bin"))
    _ffmpeg("-i", src, "-f", "chromaprint", "-fp_format", "base64", str(tmp_path / "fp.txt"))
    raw = np.fromfile(tmp_path / "raw.bin", dtype="<u4")
    algorithm, ours = decode_fingerprint((tmp_path / "fp.txt").read_text().strip())
    assert algorithm == 1 and raw.size > 150
    assert np.array_equal(ours, raw)
    with pytest.raises(FingerprintFormatError):
        decode_fingerprint("AQAA")  # a header and nothing else
    with pytest.raises(FingerprintFormatError):
        decode_fingerprint("AQAAZA" + "A" * 3)  # claims 100 sub-fingerprints


def test_transcodes_align_and_other_recordings_do_not(recordings: dict[str, Path]) -> None:
    fp = _prints(recordings)
    params = DuplicateParams()
    for k in ("mp3", "ogg"):
        m = best_alignment(fp["flac"], fp[k])
        assert m is not None and m.bit_error_rate < 0.12 and m.overlap >= 0.95 * fp["flac"].size, (k, m)
        assert is_duplicate(fp["flac"], fp[k], params) and is_duplicate(fp[k], fp["flac"], params)
    other = best_alignment(fp["flac"], fp["other"])
    assert other is not None and other.bit_error_rate > 0.3
    assert not is_duplicate(fp["flac"], fp["other"], params)
    # too short to tell apart from other one-shots: never linked by fingerprint
    head = fp["flac"][:40]
    assert not is_duplicate(head, head, params)


def test_transcodes_are_linked_and_answered_once(catalog: Catalog, recordings: dict[str, Path],
                                                 tmp_path: Path) -> None:
    folder = tmp_path / "collection"
    folder.mkdir()
    # the MP3 registers first (lowest id): linking must not depend on ids or on which worker ends first
    for k in ("mp3", "other", "ogg", "flac"):
        shutil.copy(recordings[k], folder / recordings[k].name)
        add_folder(catalog, folder / recordings[k].name, "CC0-1.0", "Sonic Pi contributors")
    items = {i.filename: i.id for i in catalog.list_items(ItemFilter(), 10, 0)[0]}
    index_dir = tmp_path / "index"
    report = run_index(IndexStore(catalog.db), index_dir, IndexParams(), workers=2)
    assert (report.indexed, report.failed) == (4, 0)
    flac, mp3, ogg, other = (catalog.get_item(items[n]) for n in ("take.flac", "take.mp3", "take.ogg", "other.flac"))
    # the lossless copy is the one kept in search
    assert flac.duplicate_of is None and mp3.duplicate_of == flac.id and ogg.duplicate_of == flac.id
    assert other.duplicate_of is None
    assert sorted(IndexStore(catalog.db).vector_set(EXTRACTOR_VERSION).file_ids.tolist()) == sorted([flac.id, other.id])
    # similar-item answers, even for the MP3's own sound, name the recording once
    feats = catalog.get_features(mp3.id)
    assert feats is not None
    hits = IndexSet(index_dir).space("all").search(np.frombuffer(feats.vector, dtype=np.float32), 5)
    assert [h.file_id for h in hits] == [flac.id, other.id]


def test_a_copy_indexed_later_joins_and_leads_the_group(catalog: Catalog, recordings: dict[str, Path],
                                                        tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for k in ("mp3", "ogg"):
        shutil.copy(recordings[k], folder / recordings[k].name)
        add_folder(catalog, folder / recordings[k].name, "CC0-1.0", "x")
    run_index(IndexStore(catalog.db), tmp_path / "i", IndexParams(), workers=1)
    ids = {i.filename: i.id for i in catalog.list_items(ItemFilter(), 10, 0)[0]}
    assert catalog.get_item(ids["take.ogg"]).duplicate_of == ids["take.mp3"]
    # the FLAC arrives in a later run, after both lossy copies are indexed
    shutil.copy(recordings["flac"], folder / "take.flac")
    add_folder(catalog, folder / "take.flac", "CC0-1.0", "x")
    rep = run_index(IndexStore(catalog.db), tmp_path / "i", IndexParams(), workers=1)
    assert (rep.indexed, rep.duplicates) == (1, 1)
    fid = max(i.id for i in catalog.list_items(ItemFilter(), 10, 0)[0])
    assert catalog.get_item(fid).duplicate_of is None
    assert {catalog.get_item(i).duplicate_of for i in ids.values()} == {fid}
    assert IndexStore(catalog.db).vector_set(EXTRACTOR_VERSION).file_ids.tolist() == [fid]
