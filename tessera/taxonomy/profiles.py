"""Profiles of source records (a Zenodo dataset, an IA item, a folder), to find datasets that sound alike.

A record's profile is the mean and the spread of its files' standardised vectors in one similarity
space, so two collections compare by what they hold on average and by how varied they are. Its
explanation uses the same effect-size machinery as clusters: the record's files against everything
else. Pure: arrays in, dataclasses out; the API caches one ``RecordProfiles`` per index build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.taxonomy.explain import FeatureEffect, explain_clusters


@dataclass
class RecordProfile:
    record_id: int
    files: int
    total_duration: float
    summary: str
    features: list[FeatureEffect] = field(default_factory=list)
    exemplars: list[int] = field(default_factory=list)  # most typical files first


@dataclass
class SimilarRecord:
    record_id: int
    distance: float
    files: int


class RecordProfiles:
    """Per-record mean/spread vectors of one space, with nearest-record search by Euclidean distance."""

    def __init__(self, z: np.ndarray, raw: np.ndarray, file_ids: Sequence[int], record_of: dict[int, int],
                 durations: Sequence[float] | np.ndarray) -> None:
        """``z``: standardised vectors (n, d); ``raw``: dictionary features (n, F) for the explanations."""
        fids = np.asarray(file_ids, dtype=np.int64)
        recs = np.asarray([record_of.get(int(f), -1) for f in fids], dtype=np.int64)
        keep = recs >= 0
        self._z, self._raw, self._fids, self._recs = z[keep], raw[keep], fids[keep], recs[keep]
        self._dur = np.asarray(durations, dtype=np.float64)[keep]
        self.record_ids = np.unique(self._recs)
        d = self._z.shape[1] if self._z.ndim == 2 else 0
        means = np.zeros((len(self.record_ids), d), np.float32)
        spreads = np.zeros_like(means)
        self.counts = np.zeros(len(self.record_ids), np.int64)
        for i, r in enumerate(self.record_ids):
            rows = self._z[self._recs == r]
            means[i] = rows.mean(axis=0)
            spreads[i] = rows.std(axis=0)
            self.counts[i] = rows.shape[0]
        # the spread weighs half: two archives of the same instrument should match even if one is larger
        self._profile = np.hstack([means, 0.5 * spreads]).astype(np.float32)
        self._row = {int(r): i for i, r in enumerate(self.record_ids)}

    def __contains__(self, record_id: int) -> bool:
        return record_id in self._row

    def similar(self, record_id: int, k: int) -> list[SimilarRecord]:
        i = self._row[record_id]
        dist = np.linalg.norm(self._profile - self._profile[i], axis=1)
        dist[i] = np.inf
        order = np.argsort(dist, kind="stable")[:k]
        return [SimilarRecord(int(self.record_ids[j]), round(float(dist[j]), 5), int(self.counts[j]))
                for j in order if np.isfinite(dist[j])]

    def profile(self, record_id: int) -> RecordProfile:
        i = self._row[record_id]
        labels = np.where(self._recs == record_id, 0, -1)
        fids = [int(f) for f in self._fids]
        expl = explain_clusters(self._raw, labels, fids, self._dur, [""] * len(fids), self._z)[0]
        return RecordProfile(record_id=record_id, files=int(self.counts[i]), total_duration=expl.total_duration,
                             summary=expl.summary, features=expl.features, exemplars=expl.exemplars)
