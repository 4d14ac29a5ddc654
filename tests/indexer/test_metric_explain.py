"""The learned metric travels with its index, and every hit is explained in plain words (real audio)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tessera.indexer.decode import decode
from tessera.indexer.dictionary import BY_NAME, FEATURE_NAMES
from tessera.indexer.errors import IndexerError
from tessera.indexer.explain import explain_canonical
from tessera.indexer.features import extract
from tessera.indexer.similarity import IndexSet, build
from tessera.indexer.spaces import SPACES, Standardiser, get_space
from tessera.indexer.store import VectorSet

SAMPLES = Path("/usr/share/sonic-pi/samples")


@pytest.fixture(scope="module")
def catalogue() -> tuple[list[str], np.ndarray]:
    """Canonical vectors of 40 real sonic-pi samples (kicks, snares, ambient pads, guitars, ...)."""
    paths = sorted(SAMPLES.glob("*.flac"))[::4][:40]
    names = [p.stem for p in paths]
    return names, np.vstack([extract(decode(p), fingerprint=False).vector for p in paths])


def _vs(m: np.ndarray) -> VectorSet:
    n = m.shape[0]
    return VectorSet(np.arange(1, n + 1), np.full(n, -1), np.zeros(n), np.ones(n), m)


def test_every_feature_of_every_space_is_documented() -> None:
    for s in SPACES.values():
        feats = [f for f, _, _ in s.features()]
        assert feats and all(f in BY_NAME for f in feats)
        # every aspect picks up at least one feature: a typo in a prefix would silently drop it
        assert {a for _, a, _ in s.features()} == {a.name for a in s.aspects}, s.name


def test_aspects_weigh_what_their_weight_says(catalogue: tuple[list[str], np.ndarray]) -> None:
    # a 21-feature aspect and a 1-feature aspect each contribute weight² on average: size does not drown
    _, m = catalogue
    for whiten in (0.0, 0.25):
        std = Standardiser.fit(get_space("all"), m, whiten=whiten)
        y = std.transform(m)
        for a, (_, sl) in zip(std.aspects, std.aspect_slices(), strict=True):
            assert np.mean(np.sum(y[:, sl] ** 2, axis=1)) == pytest.approx(a.weight**2, rel=0.05), a.name


def test_changed_transform_is_stored_with_its_index(catalogue: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    _, m = catalogue
    first = build(_vs(m[:25]), tmp_path, spaces=["all"])
    second = build(_vs(m), tmp_path, spaces=["all"])  # the catalogue grew: the metric is learned again
    d1, d2 = (x["spaces"]["all"]["transform_digest"] for x in (first, second))
    assert d1 != d2
    cur = (tmp_path / "CURRENT").read_text()
    assert cur == second["build"]
    manifest = json.loads((tmp_path / "builds" / cur / "manifest.json").read_text())
    assert manifest["spaces"]["all"]["standardiser"]["digest"] == d2
    idx = IndexSet(tmp_path).space("all")
    assert idx.standardiser.digest() == d2
    # the loaded transform maps a catalogue vector exactly onto its stored row
    assert np.allclose(idx.index.reconstruct(3), idx.standardiser.transform(m[3])[0], atol=1e-5)
    # a transform that no longer matches its digest is refused rather than searched with
    tampered = dict(manifest["spaces"]["all"]["standardiser"])
    tampered["center"] = [c + 1.0 for c in tampered["center"]]
    with pytest.raises(IndexerError, match="digest"):
        Standardiser.from_json(tampered)


def test_hits_carry_a_plain_words_explanation(catalogue: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    names, m = catalogue
    build(_vs(m), tmp_path, spaces=["all"])
    idx = IndexSet(tmp_path).space("all")
    for qi in range(0, len(names), 7):
        hits = idx.search(m[qi], 5, exclude_files={qi + 1})
        expl = idx.explain_hits(m[qi], hits)
        assert len(expl) == len(hits)
        for e in expl:
            assert e.text and len(e.text) < 160
            assert {a.aspect for a in e.aspects} == {a.name for a in get_space("all").aspects}
            # the nearest hits are close in at least one aspect
        assert expl[0].similar, (names[qi], expl[0].text)


def test_explanation_names_what_differs(catalogue: tuple[list[str], np.ndarray]) -> None:
    names, m = catalogue
    std = Standardiser.fit(get_space("all"), m)
    # a sound against itself: everything similar, nothing different
    same = explain_canonical(std, m[0], m[0])
    assert same.similar and not same.different and same.text.startswith("similar ")
    # the pair furthest apart in the catalogue differs in some aspect, said in words
    y = std.transform(m)
    d = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    far = explain_canonical(std, m[i], m[j])
    assert far.different and "different " in far.text, (names[i], names[j], far.text)


def test_pitch_does_not_move_the_partials_envelope(tmp_path: Path) -> None:
    # a real guitar recording played back a fifth higher: the detected pitch follows, the
    # pitch-normalised descriptors (harmonic centroid, levels of the first harmonics) barely move
    import soundfile as sf
    from scipy.signal import resample_poly

    x, sr = sf.read(SAMPLES / "guit_harmonics.flac", dtype="float32", always_2d=True)
    sf.write(tmp_path / "up.wav", resample_poly(x, 2, 3, axis=0), sr)  # 1.5x faster: a fifth up
    a = extract(decode(SAMPLES / "guit_harmonics.flac"), fingerprint=False).features
    b = extract(decode(tmp_path / "up.wav"), fingerprint=False).features
    assert a["pitched_ratio"] > 0.5 and b["pitched_ratio"] > 0.5
    assert b["pitch_median"] - a["pitch_median"] == pytest.approx(np.log2(1.5), abs=0.2)
    assert abs(np.log2(b["harmonic_centroid"] / a["harmonic_centroid"])) < 0.25
    prof = [f for f in FEATURE_NAMES if f.startswith("harmonic_profile_")][:4]
    assert max(abs(a[f] - b[f]) for f in prof) < 10.0
