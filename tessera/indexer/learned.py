"""Optional learned space: the aiSFX sound-effects embedding (512-d), computed only when its extra is installed.

aiSFX (Ma and Lerch, "Representation Learning for the Automatic Indexing of Sound Effects Libraries",
ISMIR 2022) ships its pre-trained weights inside its wheel under CC BY 4.0. Install with
``pip install torch==2.13.0`` (the CPU wheel) then ``pip install --no-deps aisfx`` (extra ``learned``).
When either package is missing, ``available()`` is False and nothing here is imported eagerly.

The input is the model's own front end, recomputed from Tessera's decoded 44.1 kHz mono signal: 96 HTK mel
bands (power, unit-sum, 0-22050 Hz) of 2048-sample Hann frames every 1024 samples, log10(1 + 10^4 x),
scaled by the training maximum; blocks of 100 frames (~2.3 s, hop 50) are embedded and averaged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.indexer.decode import TARGET_SR
from tessera.indexer.frames import FS, magnitudes, n_frames

DIMENSION = 512
BLOCK, HOP = 100, 50
SPEC_MAX = 9.457798957824707  # aiSFX's normalisation: the largest value over its training spectrograms
ATTRIBUTION = ("aiSFX embedding by Alison B. Ma and Alexander Lerch (Georgia Tech), \"Representation Learning "
               "for the Automatic Indexing of Sound Effects Libraries\", ISMIR 2022; pre-trained weights "
               "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), from the aisfx package.")
LICENCE = "CC-BY-4.0"
# weight of the learned block beside the `all` space in `all+learned` (the aspects of `all` have weights² summing
# to about 5): chosen on the development corpora by bench/tune_space.py --fusion, proven on the held-out ones
FUSION_WEIGHT = 3.0


def available() -> bool:
    """True when torch and aisfx are importable (the optional extra is installed)."""
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("aisfx") is not None


class _Model:
    """The network and its mel matrix: loaded once per process (~50 MB of weights)."""

    def __init__(self) -> None:
        import essentia.standard as es
        import torch
        from aisfx.inference import get_path_modelWeights, load_bestModel

        torch.set_num_threads(1)  # parallelism comes from indexer processes, as for essentia
        self.torch = torch
        # the checkpoint pickles numpy scalars that torch's weights-only loader refuses under numpy 2; it is the
        # file inside the installed aisfx wheel, trusted exactly as much as the aisfx code we already import
        weights, ds_dict = torch.load(get_path_modelWeights(), map_location=torch.device("cpu"), weights_only=False)
        self.model = load_bestModel(weights, ds_dict, "cpu")
        mel = es.MelBands(inputSize=FS // 2 + 1, numberBands=96, sampleRate=TARGET_SR, lowFrequencyBound=0,
                          highFrequencyBound=TARGET_SR / 2, warpingFormula="htkMel", weighting="warping",
                          normalize="unit_sum", type="power", log=False)
        eye = np.eye(FS // 2 + 1, dtype=np.float32)
        self.mel_w = np.array([mel(row) for row in eye], dtype=np.float32).T  # (96, 1025)


_MODEL: _Model | None = None


def _model() -> _Model:
    global _MODEL
    if _MODEL is None:
        _MODEL = _Model()
    return _MODEL


def spectrogram(mono: np.ndarray) -> np.ndarray:
    """(frames, 96) log-mel spectrogram scaled as aiSFX was trained."""
    m = _model()
    x = np.ascontiguousarray(mono, dtype=np.float32)
    mag = magnitudes(x, 0, n_frames(x.shape[0]))
    bands = (m.mel_w @ (mag.astype(np.float32) ** 2).T).T
    return np.log10(1e4 * bands + 1.0) / SPEC_MAX


def embed(mono: np.ndarray) -> np.ndarray:
    """One 512-d vector for a recording: the mean of its 100-frame blocks' embeddings."""
    m = _model()
    spec = spectrogram(mono)
    if spec.shape[0] < BLOCK:  # short sounds are padded with silence, as aiSFX itself does
        spec = np.vstack([spec, np.zeros((BLOCK - spec.shape[0], spec.shape[1]), np.float32)])
    starts = range(0, max(spec.shape[0] - BLOCK, 0) + 1, HOP)
    blocks = np.stack([spec[s: s + BLOCK] for s in starts]).astype(np.float32)
    with m.torch.no_grad():
        out: Any = m.model.get_embedding(m.torch.from_numpy(blocks))
    return np.asarray(out.numpy(), dtype=np.float32).mean(axis=0)


def embed_file(path: str) -> np.ndarray:
    from tessera.indexer.decode import decode

    return embed(decode(path).mono)


@dataclass
class LearnedTransform:
    """z-scores of the embedding over the catalogue, scaled so that its expected squared norm is weight²: the
    learned block then counts like one aspect of weight ``weight`` beside the aspects of `all`."""

    center: np.ndarray
    scale: np.ndarray
    weight: float

    @classmethod
    def fit(cls, matrix: np.ndarray, weight: float = FUSION_WEIGHT) -> LearnedTransform:
        m = np.asarray(matrix, np.float64)
        sd = m.std(axis=0) if m.shape[0] > 1 else np.ones(m.shape[1])
        return cls(m.mean(axis=0).astype(np.float32), np.where(sd > 1e-9, sd, 1.0).astype(np.float32), weight)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(matrix).astype(np.float32) - self.center) / self.scale
        return np.ascontiguousarray(z * (self.weight / np.sqrt(self.center.size)), dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"center": self.center.tolist(), "scale": self.scale.tolist(), "weight": self.weight,
                             "attribution": ATTRIBUTION}
        d["digest"] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LearnedTransform:
        return cls(np.asarray(d["center"], np.float32), np.asarray(d["scale"], np.float32), float(d["weight"]))


def fuse(all_search: np.ndarray, learned_search: np.ndarray) -> np.ndarray:
    """`all+learned` search vectors: the `all` space's search vectors beside the transformed embedding."""
    return np.ascontiguousarray(np.hstack([np.atleast_2d(all_search), np.atleast_2d(learned_search)]),
                                dtype=np.float32)


__all__ = ["ATTRIBUTION", "DIMENSION", "FUSION_WEIGHT", "LICENCE", "LearnedTransform", "available", "embed",
           "embed_file", "fuse", "spectrogram"]
