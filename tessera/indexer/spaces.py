"""Similarity spaces as data: which features, how they are weighted, how they are standardised.

A space picks feature groups (or single features) from the data dictionary.
Standardisation is robust (median and IQR over the collection) and each
group is weighted by 1/sqrt(its size), so that a 36-value MFCC block does not
drown a 4-value rhythm block. The fitted statistics are kept with the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.indexer.dictionary import BY_NAME, FEATURE_INDEX, FEATURE_NAMES
from tessera.indexer.errors import IndexerError


@dataclass(frozen=True)
class Space:
    name: str
    description: str
    # prefix or exact feature name -> weight of that block
    blocks: dict[str, float]

    def features(self) -> list[tuple[str, str, float]]:
        """(feature, block, block weight) for every feature in this space, in dictionary order."""
        out = []
        for name in FEATURE_NAMES:
            for block, w in self.blocks.items():
                if name == block or name.startswith(block + "_"):
                    out.append((name, block, w))
                    break
        return out


SPACES: dict[str, Space] = {
    s.name: s
    for s in (
        Space("timbre", "Tone colour: MFCC statistics, Bark-band envelope and spectral shape.",
              {"mfcc_mean": 1.0, "mfcc_std": 0.7, "mfcc_dstd": 0.5, "bark": 0.8, "spectral": 0.8,
               "zero_crossing_rate_mean": 0.3}),
        Space("rhythm", "Pulse and events: onset rate, tempo with its confidence, attack and dynamics.",
              {"onset_rate": 1.0, "bpm": 0.6, "bpm_confidence": 0.8, "beat_strength": 0.7,
               "log_attack_time": 0.7, "decay_time": 0.5, "temporal_centroid": 0.5, "dynamic_complexity": 0.6,
               "rms_std_db": 0.5}),
        Space("tonal", "Harmony and tuning: pitch-class profile relative to the tonic, key strength, "
              "tuning and its deviation from 12-TET, pitch register and inharmonicity.",
              {"hpcp_rel": 1.0, "key_strength": 0.5, "scale_major": 0.3, "tuning_frequency": 0.3,
               "tuning_deviation_cents": 0.6, "pitch_class_entropy": 0.6, "pitch_salience": 0.6,
               "pitch_median": 0.8, "inharmonicity": 0.5}),
        Space("all", "Everything: timbre, spectral shape, dynamics, rhythm and tonality together.",
              {"mfcc_mean": 1.0, "mfcc_std": 0.7, "mfcc_dstd": 0.5, "bark": 0.8, "spectral": 0.8,
               "zero_crossing_rate_mean": 0.3, "loudness_integrated": 0.3, "loudness_range": 0.3,
               "dynamic_complexity": 0.4, "log_attack_time": 0.6, "decay_time": 0.5, "temporal_centroid": 0.5,
               "rms_std_db": 0.3, "onset_rate": 0.5, "bpm": 0.2, "bpm_confidence": 0.3, "beat_strength": 0.3,
               "hpcp_rel": 0.4, "key_strength": 0.2, "tuning_deviation_cents": 0.3, "pitch_class_entropy": 0.3,
               "pitch_salience": 0.5, "pitch_median": 0.5, "inharmonicity": 0.3}),
    )
}


def get_space(name: str) -> Space:
    try:
        return SPACES[name]
    except KeyError:
        raise IndexerError(f"unknown similarity space {name!r}; one of {', '.join(SPACES)}",
                           space=name) from None


@dataclass
class Standardiser:
    """Fitted per-space transform from canonical vectors to search vectors."""

    space: str
    columns: np.ndarray  # indices into the canonical vector
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, space: Space, matrix: np.ndarray) -> Standardiser:
        feats = space.features()
        cols = np.asarray([FEATURE_INDEX[f] for f, _, _ in feats], dtype=np.int64)
        block_sizes: dict[str, int] = {}
        for _, b, _ in feats:
            block_sizes[b] = block_sizes.get(b, 0) + 1
        weights = np.asarray([w / np.sqrt(block_sizes[b]) for _, b, w in feats], dtype=np.float32)
        sub = matrix[:, cols].astype(np.float64) if matrix.size else np.zeros((0, len(cols)))
        if sub.shape[0]:
            center = np.median(sub, axis=0)
            q75, q25 = np.percentile(sub, [75, 25], axis=0)
            scale = (q75 - q25) / 1.349
            std = sub.std(axis=0)
            # IQR is 0 for mostly-constant features (e.g. bpm 0 on short sounds): fall back to std
            scale = np.where(scale > 1e-9, scale, np.where(std > 1e-9, std, 1.0))
        else:
            center = np.zeros(len(cols))
            scale = np.ones(len(cols))
        return cls(space.name, cols, center.astype(np.float32), scale.astype(np.float32), weights)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        m = np.atleast_2d(matrix)[:, self.columns].astype(np.float32)
        z = np.clip((m - self.center) / self.scale, -5.0, 5.0)
        return np.ascontiguousarray(z * self.weights, dtype=np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "features": [FEATURE_NAMES[i] for i in self.columns],
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Standardiser:
        cols = np.asarray([FEATURE_INDEX[f] for f in d["features"]], dtype=np.int64)
        return cls(d["space"], cols, np.asarray(d["center"], np.float32), np.asarray(d["scale"], np.float32),
                   np.asarray(d["weights"], np.float32))


def describe_spaces() -> list[dict[str, Any]]:
    return [
        {"name": s.name, "description": s.description,
         "features": [f for f, _, _ in s.features()],
         "groups": sorted({BY_NAME[f].group for f, _, _ in s.features()})}
        for s in SPACES.values()
    ]
