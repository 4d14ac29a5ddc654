"""What sets each cluster apart, in the words of the data dictionary. Pure: arrays in, dicts out.

Effect size is the rank-biserial correlation of each feature, cluster vs everything else
(unclustered items included): -1..1, robust to the heavy tails of features such as spectral
kurtosis, and comparable across units. Only features with plain words (``high``/``low`` in the
dictionary) make the one-line summary; the full ranking is kept for whoever wants the numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tessera.indexer.dictionary import BY_NAME, FEATURE_NAMES
from tessera.taxonomy.cluster import NOISE

# |rank-biserial| from which a difference is worth saying out loud (≈ a "medium" effect)
MIN_EFFECT = 0.3


@dataclass
class FeatureEffect:
    feature: str
    effect: float  # rank-biserial, cluster vs rest: > 0 means higher in the cluster
    words: str  # the dictionary's plain word for this direction ("" if it has none)
    cluster_median: float
    rest_median: float | None  # None when every item is in the cluster
    unit: str


@dataclass
class Explanation:
    label: int
    size: int
    total_duration: float
    licences: dict[str, int]
    summary: str  # "bright, sharp attack, many events"
    features: list[FeatureEffect] = field(default_factory=list)
    exemplars: list[int] = field(default_factory=list)  # file ids, most central first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ranks(matrix: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(matrix, axis=0), dtype=np.float64)  # average ranks for ties


def explain_clusters(
    matrix: np.ndarray,
    labels: np.ndarray,
    file_ids: Sequence[int],
    durations: Sequence[float] | np.ndarray,
    licences: Sequence[str],
    embedding: np.ndarray,
    feature_names: Sequence[str] = FEATURE_NAMES,
    top_k: int = 8,
    n_words: int = 4,
    n_exemplars: int = 5,
) -> dict[int, Explanation]:
    """One explanation per cluster label. ``matrix`` holds raw dictionary features (n, F)."""
    m = np.nan_to_num(np.asarray(matrix, dtype=np.float64))
    labels = np.asarray(labels)
    fids = np.asarray(file_ids, dtype=np.int64)
    dur = np.asarray(durations, dtype=np.float64)
    n = m.shape[0]
    ranks = _ranks(m) if n else m
    lic_arr = np.asarray(list(licences), dtype=object)
    out: dict[int, Explanation] = {}
    for lab in sorted(int(v) for v in np.unique(labels) if v != NOISE):
        inside = labels == lab
        n1, n2 = int(inside.sum()), int(n - inside.sum())
        effects = np.zeros(m.shape[1])
        if n2 > 0:
            # Mann-Whitney U from rank sums; rank-biserial r = 2U/(n1 n2) - 1
            u = ranks[inside].sum(axis=0) - n1 * (n1 + 1) / 2.0
            effects = 2.0 * u / (n1 * n2) - 1.0
        order = np.argsort(-np.abs(effects), kind="stable")
        feats: list[FeatureEffect] = []
        words: list[str] = []
        for j in order:
            name = feature_names[j]
            fd = BY_NAME.get(name)
            e = float(effects[j])
            w = (fd.high if e > 0 else fd.low) if fd is not None else ""
            if len(feats) < top_k:
                feats.append(FeatureEffect(
                    name, round(e, 3), w, float(np.median(m[inside, j])),
                    float(np.median(m[~inside, j])) if n2 else None, fd.unit if fd else "",
                ))
            if w and abs(e) >= MIN_EFFECT and w not in words and len(words) < n_words:
                words.append(w)
        # exemplars: members nearest the cluster's centre in the space HDBSCAN saw
        emb = np.asarray(embedding, dtype=np.float64)[inside]
        centre = np.median(emb, axis=0)
        near = np.argsort(np.linalg.norm(emb - centre, axis=1), kind="stable")[:n_exemplars]
        member_ids = fids[inside]
        out[lab] = Explanation(
            label=lab, size=n1, total_duration=round(float(dur[inside].sum()), 3),
            licences=dict(Counter(lic_arr[inside].tolist()).most_common()),
            summary=", ".join(words) if words else "no single described feature sets it clearly apart",
            features=feats,
            exemplars=[int(member_ids[i]) for i in near],
        )
    return out
