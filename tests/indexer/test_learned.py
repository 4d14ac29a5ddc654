"""The optional learned space: computed on real audio when the extra is installed, skipped cleanly when not."""

from pathlib import Path

import numpy as np
import pytest

from tessera.indexer import learned
from tessera.indexer.dictionary import dictionary, markdown

SAMPLES = Path("/usr/share/sonic-pi/samples")


def test_attribution_is_in_the_data_dictionary() -> None:
    entry = dictionary()["learned"][0]
    assert "CC BY 4.0" in entry["meaning"] and "Ma and Alexander Lerch" in entry["meaning"]
    assert "aisfx_embedding" in markdown()
    assert learned.LICENCE == "CC-BY-4.0"


def test_embedding_of_real_audio() -> None:
    if not learned.available():
        pytest.skip("optional extra `learned` (torch + aisfx) is not installed")
    kick, kick2, pad = (learned.embed_file(str(SAMPLES / f"{n}.flac")) for n in ("bd_haus", "bd_tek", "ambi_choir"))
    assert kick.shape == (learned.DIMENSION,) and np.isfinite(kick).all()
    # two kicks are closer to each other than a kick to a choir pad
    assert np.linalg.norm(kick - kick2) < np.linalg.norm(kick - pad)


def test_fused_block_weighs_like_one_aspect() -> None:
    # LearnedTransform needs no torch: synthetic embeddings are enough to check its scaling and storage
    rng = np.random.default_rng(0)
    emb = rng.gamma(2.0, 1.0, size=(200, learned.DIMENSION)).astype(np.float32)
    lt = learned.LearnedTransform.fit(emb, weight=3.0)
    y = lt.transform(emb)
    assert np.mean(np.sum(y**2, axis=1)) == pytest.approx(9.0, rel=0.02)
    again = learned.LearnedTransform.from_json(lt.to_json())
    assert np.allclose(again.transform(emb[:3]), y[:3])
    assert "CC BY 4.0" in lt.to_json()["attribution"]
    assert learned.fuse(np.zeros((2, 5)), y[:2]).shape == (2, 5 + learned.DIMENSION)
