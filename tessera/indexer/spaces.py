"""Similarity spaces as data: which features, grouped into aspects, and the metric learned for them.

A space is a list of *aspects* (attack, decay, tone colour, brightness, pitch …): each names feature
groups (or single features) of the data dictionary and carries a weight. The metric is learned from the
catalogue itself, without labels, when an index is built (``Standardiser.fit``):

1. robust standardisation: median and IQR per feature over the catalogue, values clipped to ±5;
2. per aspect, optional PCA whitening (``Space.whiten``: eigenvalue power; 0 keeps the axes) so that
   strongly correlated features (12 MFCCs, 27 Bark bands) stop counting their shared direction many times;
3. per aspect, a scale so that its expected squared contribution to a distance is exactly its weight²:
   a 40-dimension aspect does not drown a 5-dimension one, whatever its size or correlation.

Squared distances therefore split exactly into one term per aspect, which is what the "why similar"
explanations (tessera.indexer.explain) read. The fitted transform is stored in the index manifest
with a digest of its numbers, so an index is always searched with the transform it was built with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.indexer.dictionary import BY_NAME, FEATURE_INDEX, FEATURE_NAMES
from tessera.indexer.errors import IndexerError

CLIP = 5.0
KEEP_VARIANCE = 0.999  # PCA components kept per aspect: all but numerical noise
MIN_ROWS_PER_DIM = 10  # whitening an aspect of d features needs at least 10·d catalogue vectors


@dataclass(frozen=True)
class Aspect:
    name: str  # plain words, as explanations say them: "attack", "tone colour"
    prefixes: tuple[str, ...]  # feature names or name prefixes (prefix + "_")
    weight: float


@dataclass(frozen=True)
class Space:
    name: str
    description: str
    aspects: tuple[Aspect, ...]
    whiten: float = 0.0  # eigenvalue power of the per-aspect PCA: 0 = robust z-scores only, 0.5 = full whitening

    def features(self) -> list[tuple[str, str, float]]:
        """(feature, aspect, aspect weight) for every feature in this space, in dictionary order."""
        out = []
        for name in FEATURE_NAMES:
            for a in self.aspects:
                if any(name == p or name.startswith(p + "_") for p in a.prefixes):
                    out.append((name, a.name, a.weight))
                    break
        return out

    @property
    def blocks(self) -> dict[str, float]:
        """Prefix -> weight of its aspect (the shape of the earlier, aspect-less definition)."""
        return {p: a.weight for a in self.aspects for p in a.prefixes}


def _a(name: str, weight: float, *prefixes: str) -> Aspect:
    return Aspect(name, prefixes, weight)


# Aspect weights of `all` were chosen on the development corpora only (bench/tune_space.py: GM notes of two
# soundfonts, hydrogen drum kits, the sonic-pi pack) and are proven on the held-out corpora
# (bench/results/similarity_quality.md). Pitch, key and tempo stay in, lightly weighted: they are what
# users filter and ask about, but an instrument is the same instrument on another note.
ALL_ASPECTS = (
    _a("tone colour", 1.5, "mfcc_mean", "bark"),
    _a("timbre movement", 0.6, "mfcc_std", "mfcc_dstd"),
    _a("attack colour", 0.8, "mfcc_attack"),
    _a("brightness", 0.7, "spectral_centroid_mean", "spectral_centroid_std", "spectral_spread_mean",
       "spectral_rolloff_mean", "spectral_skewness_mean", "spectral_kurtosis_mean"),
    _a("noisiness", 0.6, "spectral_flatness_mean", "zero_crossing_rate_mean", "spectral_contrast",
       "spectral_valley"),
    _a("attack", 0.6, "log_attack_time", "envelope_db_50ms", "envelope_db_100ms"),
    _a("decay", 0.7, "decay_time", "temporal_centroid", "envelope_db_200ms", "envelope_db_400ms",
       "envelope_db_800ms", "envelope_db_1600ms", "spectral_centroid_slope"),
    _a("texture", 0.5, "envelope_modulation_db", "spectral_flux_sustain", "rms_std_db", "dynamic_complexity"),
    _a("partials", 0.6, "pitched_ratio", "tristimulus", "odd_even_ratio", "harmonic_centroid", "harmonic_profile",
       "inharmonicity", "pitch_salience"),
    _a("loudness", 0.3, "loudness_integrated", "loudness_range"),
    _a("rhythm", 0.5, "onset_rate", "bpm", "bpm_confidence", "beat_strength"),
    _a("harmony", 0.3, "hpcp_rel", "key_strength", "pitch_class_entropy", "tuning_deviation_cents"),
    _a("pitch", 0.15, "pitch_median"),
)

SPACES: dict[str, Space] = {
    s.name: s
    for s in (
        Space("timbre", "Tone colour: MFCC statistics of the sound and of its attack, Bark-band envelope, "
              "spectral shape and the balance of partials.",
              (_a("tone colour", 1.0, "mfcc_mean", "bark"), _a("timbre movement", 0.6, "mfcc_std", "mfcc_dstd"),
               _a("attack colour", 0.8, "mfcc_attack"),
               _a("brightness", 0.8, "spectral_centroid_mean", "spectral_centroid_std", "spectral_spread_mean",
                  "spectral_rolloff_mean", "spectral_skewness_mean", "spectral_kurtosis_mean"),
               _a("noisiness", 0.6, "spectral_flatness_mean", "zero_crossing_rate_mean", "spectral_contrast",
                  "spectral_valley"),
               _a("partials", 0.6, "tristimulus", "odd_even_ratio", "harmonic_centroid", "harmonic_profile"))),
        Space("rhythm", "Pulse and events: onset rate, tempo with its confidence, attack, decay and dynamics.",
              (_a("rhythm", 1.0, "onset_rate", "bpm", "bpm_confidence", "beat_strength"),
               _a("attack", 0.7, "log_attack_time", "envelope_db_50ms", "envelope_db_100ms"),
               _a("decay", 0.6, "decay_time", "temporal_centroid", "envelope_db_200ms", "envelope_db_400ms",
                  "envelope_db_800ms", "envelope_db_1600ms"),
               _a("texture", 0.6, "dynamic_complexity", "rms_std_db", "envelope_modulation_db"))),
        Space("tonal", "Harmony and tuning: pitch-class profile relative to the tonic, key strength, "
              "tuning and its deviation from 12-TET, pitch register and inharmonicity.",
              (_a("harmony", 1.0, "hpcp_rel", "key_strength", "scale_major", "pitch_class_entropy"),
               _a("tuning", 0.6, "tuning_frequency", "tuning_deviation_cents"),
               _a("pitch", 0.8, "pitch_median", "pitch_salience"),
               _a("partials", 0.5, "inharmonicity"))),
        Space("all", "Everything, weighted by aspect: tone colour, attack and decay, brightness, partials, "
              "dynamics, rhythm and tonality.", ALL_ASPECTS, whiten=0.25),
    )
}


def get_space(name: str) -> Space:
    try:
        return SPACES[name]
    except KeyError:
        raise IndexerError(f"unknown similarity space {name!r}; one of {', '.join(SPACES)}",
                           space=name) from None


@dataclass
class AspectTransform:
    """One aspect's part of the metric: positions in the space's columns, then a centred projection."""

    name: str
    positions: np.ndarray  # indices into Standardiser.columns
    mean: np.ndarray  # of the clipped z-scores
    projection: np.ndarray  # (len(positions), k), already scaled by weight / sqrt(expected squared norm)
    weight: float  # the aspect's weight: its expected squared norm over the catalogue is weight²


@dataclass
class Standardiser:
    """Fitted per-space transform from canonical vectors to search vectors (the learned metric)."""

    space: str
    columns: np.ndarray  # indices into the canonical vector
    center: np.ndarray
    scale: np.ndarray
    aspects: list[AspectTransform] = field(default_factory=list)

    @classmethod
    def fit(cls, space: Space, matrix: np.ndarray, whiten: float | None = None) -> Standardiser:
        """Learn the transform from the catalogue's canonical vectors (rows), without labels."""
        feats = space.features()
        cols = np.asarray([FEATURE_INDEX[f] for f, _, _ in feats], dtype=np.int64)
        sub = matrix[:, cols].astype(np.float64) if matrix.size else np.zeros((0, len(cols)))
        if sub.shape[0]:
            center = np.median(sub, axis=0)
            q75, q25 = np.percentile(sub, [75, 25], axis=0)
            scale = (q75 - q25) / 1.349
            std = sub.std(axis=0)
            # IQR is 0 for mostly-constant features (e.g. bpm 0 on short sounds): fall back to std
            scale = np.where(scale > 1e-9, scale, np.where(std > 1e-9, std, 1.0))
        else:
            center, scale = np.zeros(len(cols)), np.ones(len(cols))
        z = np.clip((sub - center) / scale, -CLIP, CLIP)
        power = space.whiten if whiten is None else whiten
        aspects = []
        for a in space.aspects:
            pos = np.asarray([i for i, (_, an, _) in enumerate(feats) if an == a.name], dtype=np.int64)
            if pos.size:
                aspects.append(_fit_aspect(a, pos, z[:, pos], power))
        return cls(space.name, cols, center.astype(np.float32), scale.astype(np.float32), aspects)

    @property
    def dimension(self) -> int:
        return int(sum(a.projection.shape[1] for a in self.aspects))

    def zscores(self, matrix: np.ndarray) -> np.ndarray:
        m = np.atleast_2d(matrix)[:, self.columns].astype(np.float32)
        return np.clip((m - self.center) / self.scale, -CLIP, CLIP)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        z = self.zscores(matrix)
        parts = [(z[:, a.positions] - a.mean) @ a.projection for a in self.aspects]
        out = np.hstack(parts) if parts else np.zeros((z.shape[0], 0), np.float32)
        return np.ascontiguousarray(out, dtype=np.float32)

    def aspect_slices(self) -> list[tuple[str, slice]]:
        """Where each aspect's coordinates sit in a search vector."""
        out, at = [], 0
        for a in self.aspects:
            k = a.projection.shape[1]
            out.append((a.name, slice(at, at + k)))
            at += k
        return out

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "space": self.space,
            "features": [FEATURE_NAMES[i] for i in self.columns],
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "aspects": [{"name": a.name, "weight": a.weight, "positions": a.positions.tolist(),
                         "mean": a.mean.tolist(), "projection": a.projection.tolist()} for a in self.aspects],
        }
        d["digest"] = _digest(d)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Standardiser:
        cols = np.asarray([FEATURE_INDEX[f] for f in d["features"]], dtype=np.int64)
        if "aspects" not in d:
            # a manifest written before aspects: one diagonal block per feature weight
            w = np.asarray(d["weights"], np.float32)
            aspects = [AspectTransform("all features", np.arange(len(cols)), np.zeros(len(cols), np.float32),
                                       np.diag(w), float(np.sqrt(np.sum(w**2))))]
        else:
            if "digest" in d and _digest({k: v for k, v in d.items() if k != "digest"}) != d["digest"]:
                raise IndexerError("the stored transform does not match its digest: rebuild the index",
                                   space=d.get("space"))
            aspects = [AspectTransform(a["name"], np.asarray(a["positions"], np.int64),
                                       np.asarray(a["mean"], np.float32),
                                       np.asarray(a["projection"], np.float32).reshape(len(a["positions"]), -1),
                                       float(a["weight"]))
                       for a in d["aspects"]]
        return cls(d["space"], cols, np.asarray(d["center"], np.float32), np.asarray(d["scale"], np.float32),
                   aspects)

    def digest(self) -> str:
        return str(self.to_json()["digest"])


def _fit_aspect(a: Aspect, pos: np.ndarray, z: np.ndarray, power: float) -> AspectTransform:
    d = pos.size
    if z.shape[0] < 2:
        return AspectTransform(a.name, pos, np.zeros(d, np.float32),
                               (np.eye(d) * a.weight / np.sqrt(d)).astype(np.float32), a.weight)
    mean = z.mean(axis=0)
    # a covariance needs many more sounds than dimensions: on a small catalogue whitening would blow
    # sampling noise up into directions, so it waits until the catalogue can support it
    if power > 0 and d > 1 and z.shape[0] >= MIN_ROWS_PER_DIM * d:
        lam, vec = np.linalg.eigh(np.cov(z - mean, rowvar=False))
        lam, vec = lam[::-1].clip(min=0), vec[:, ::-1]
        keep = max(1, int(np.searchsorted(np.cumsum(lam) / max(lam.sum(), 1e-12), KEEP_VARIANCE) + 1))
        lam, vec = lam[:keep], vec[:, :keep]
        floor = max(float(lam[0]) * 1e-3, 1e-9)  # tiny components would be blown up into noise
        proj = vec * (np.maximum(lam, floor) ** -power)
        expected = float(np.sum(np.maximum(lam, floor) ** (1 - 2 * power) * (lam / np.maximum(lam, floor))))
    else:
        proj = np.eye(d)
        expected = float(np.sum(np.var(z, axis=0)))
    proj = proj * (a.weight / np.sqrt(max(expected, 1e-9)))
    return AspectTransform(a.name, pos, mean.astype(np.float32), proj.astype(np.float32), a.weight)


def space_digest(space: Space) -> str:
    """Names the metric's definition (features, aspects, weights, whitening, clipping), not its fitted
    numbers: an index built under another definition must be rebuilt, not extended."""
    return _digest({"space": space.name, "features": space.features(), "whiten": space.whiten,
                    "aspects": [[a.name, list(a.prefixes), a.weight] for a in space.aspects],
                    "clip": CLIP, "keep_variance": KEEP_VARIANCE, "min_rows_per_dim": MIN_ROWS_PER_DIM})


def _digest(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def describe_spaces() -> list[dict[str, Any]]:
    return [
        {"name": s.name, "description": s.description,
         "features": [f for f, _, _ in s.features()],
         "aspects": [{"name": a.name, "weight": a.weight, "features": [f for f, an, _ in s.features() if an == a.name]}
                     for a in s.aspects],
         "groups": sorted({BY_NAME[f].group for f, _, _ in s.features()})}
        for s in SPACES.values()
    ]
