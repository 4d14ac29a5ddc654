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
