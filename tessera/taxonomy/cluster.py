"""Embed standardised vectors with UMAP and group them with HDBSCAN. Pure: arrays in, arrays out.

HDBSCAN runs on a low-dimensional UMAP embedding, never on the raw vectors: density is
meaningless in ~150 dimensions. Items HDBSCAN leaves out are "unclustered" (label -1), a
first-class answer. With a seed the result is reproducible (UMAP then runs single-threaded).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

NOISE = -1
# below this, a neighbourhood graph says little: everything stays unclustered, mapped by PCA
MIN_ITEMS = 10


@dataclass(frozen=True)
class ClusterParams:
    space: str = "all"
    min_cluster_size: int | None = None  # None: chosen from the number of items
    min_samples: int | None = None
    n_components: int = 5  # dimensions HDBSCAN sees
    n_neighbors: int = 15
    min_dist: float = 0.0  # tight packing helps density clustering; the 2-D map uses map_min_dist
    map_min_dist: float = 0.1
    seed: int | None = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Clustering:
    labels: np.ndarray  # int64 (n,), NOISE for unclustered
    probabilities: np.ndarray  # float64 (n,), strength of membership, 0 for noise
    embedding: np.ndarray  # float32 (n, n_components): what HDBSCAN saw
    coords: np.ndarray  # float32 (n, 2): the map
    params: dict[str, Any]  # effective parameters, for the run record

    @property
    def n_clusters(self) -> int:
        return len({int(x) for x in self.labels if x != NOISE})

    @property
    def n_noise(self) -> int:
        return int(np.sum(self.labels == NOISE))


def auto_min_cluster_size(n: int) -> int:
    # about 4% of the collection, between 3 and 100: small sets still yield groups, big ones do not shatter
    return int(min(100, max(3, round(n * 0.04))))


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], k), np.float32)
    xc = x - x.mean(axis=0)
    if not np.any(xc):
        return np.zeros((x.shape[0], k), np.float32)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    out = np.zeros((x.shape[0], k), np.float32)
    m = min(k, s.shape[0])
    out[:, :m] = (u[:, :m] * s[:m]).astype(np.float32)
    return out


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0..k-1 by decreasing size (ties by first member) so labels read stably."""
    ids = [int(v) for v in np.unique(labels) if v != NOISE]
    ids.sort(key=lambda v: (-int(np.sum(labels == v)), int(np.argmax(labels == v))))
    out = np.full(labels.shape, NOISE, dtype=np.int64)
    for new, old in enumerate(ids):
        out[labels == old] = new
    return out


def cluster_vectors(vectors: np.ndarray, params: ClusterParams) -> Clustering:
    """UMAP to ``n_components`` and to 2-D (sharing one k-NN graph), then HDBSCAN on the former."""
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    n = x.shape[0]
    eff = params.as_dict()
    if n < MIN_ITEMS:
        eff.update(min_cluster_size=None, note=f"fewer than {MIN_ITEMS} items: nothing clustered")
        return Clustering(np.full(n, NOISE, np.int64), np.zeros(n), _pca(x, params.n_components), _pca(x, 2), eff)

    import hdbscan
    import umap
    from umap.umap_ import nearest_neighbors

    k = int(min(params.n_neighbors, n - 1))
    mcs = params.min_cluster_size or auto_min_cluster_size(n)
    mcs = int(max(2, min(mcs, n // 2)))
    eff.update(n_neighbors=k, min_cluster_size=mcs)
    rng_state = np.random.RandomState(params.seed) if params.seed is not None else np.random.RandomState()
    # one k-NN graph for both embeddings: nearest-neighbour descent is the costly half of UMAP
    knn_i, knn_d, knn_index = nearest_neighbors(
        x, n_neighbors=k, metric="euclidean", metric_kwds={}, angular=False, random_state=rng_state,
        n_jobs=1 if params.seed is not None else -1,
    )
    # spectral init needs a connected, not-too-small graph; random init is safe for small sets
    init = "spectral" if n >= 50 else "random"

    def embed(dims: int, min_dist: float) -> np.ndarray:
        model = umap.UMAP(
            n_components=dims, n_neighbors=k, min_dist=min_dist, metric="euclidean", init=init,
            random_state=params.seed, precomputed_knn=(knn_i, knn_d, knn_index),
            n_jobs=1 if params.seed is not None else -1, low_memory=True,
        )
        return np.asarray(model.fit_transform(x), dtype=np.float32)

    dims = int(min(params.n_components, max(2, n - 2)))
    emb = embed(dims, params.min_dist)
    coords = embed(2, params.map_min_dist)
    clusterer = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=params.min_samples,
                                cluster_selection_method="eom")
    raw = clusterer.fit_predict(emb.astype(np.float64))
    labels = _relabel(np.asarray(raw, dtype=np.int64))
    probs = np.where(labels == NOISE, 0.0, np.asarray(clusterer.probabilities_, dtype=np.float64))
    return Clustering(labels, probs, emb, coords, eff)
