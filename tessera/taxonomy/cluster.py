"""Embed standardised vectors with UMAP and group them with HDBSCAN. Pure: arrays in, arrays out.

HDBSCAN runs on a low-dimensional UMAP embedding, never on the raw vectors: density is
meaningless in ~150 dimensions. Items HDBSCAN leaves out are "unclustered" (label -1), a
first-class answer.

Seed policy (the product default is speed): without a seed UMAP and the k-NN descent use every
core (numba parallel) and two runs may differ slightly; with a seed the run is reproducible but
single-threaded, because UMAP's parallel SGD is not deterministic. The two paths compile different
numba kernels, so each pays its own first-call compile (~40 s) once per process. Small unseeded
runs (under ``parallel_min_items``) still use one thread: numba's per-epoch barriers cost more than
they save on a few thousand points, several times more on a shared, loaded machine (bench/).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
    seed: int | None = None  # None: parallel and fast; an int: reproducible, single-threaded
    parallel_min_items: int = 5000  # unseeded runs smaller than this stay on one thread
    # "leaf": the finest stable groups. "eom" favours a few big ones: on the 165 Sonic Pi samples it made
    # 2 groups (name-class purity 0.16) where leaf made 5 (purity 0.32, 22 items left unclustered)
    selection: Literal["leaf", "eom"] = "leaf"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Clustering:
    labels: np.ndarray  # int64 (n,), NOISE for unclustered
    probabilities: np.ndarray  # float64 (n,), strength of membership, 0 for noise
    embedding: np.ndarray  # float32 (n, n_components): what HDBSCAN saw
    coords: np.ndarray  # float32 (n, 2): the map
    params: dict[str, Any]  # effective parameters, for the run record
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds (k-NN, each UMAP, HDBSCAN)

    @property
    def n_clusters(self) -> int:
        return len({int(x) for x in self.labels if x != NOISE})

    @property
    def n_noise(self) -> int:
        return int(np.sum(self.labels == NOISE))


class Laps:
    """Seconds per stage of a run: call it with a stage's name when that stage ends."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._t, 3)
        self._t = now


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
    """UMAP to ``n_components`` and to 2-D (sharing one k-NN graph; the map starts from the former's
    main plane), then HDBSCAN on the former."""
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
    jobs = 1 if params.seed is not None or n < params.parallel_min_items else -1
    eff.update(threads="all" if jobs == -1 else 1)
    lap = Laps()
    # one k-NN graph for both embeddings: nearest-neighbour descent is the costly half of UMAP
    knn_i, knn_d, knn_index = nearest_neighbors(
        x, n_neighbors=k, metric="euclidean", metric_kwds={}, angular=False, random_state=rng_state,
        n_jobs=jobs,
    )
    lap("knn")
    # spectral init needs a connected, not-too-small graph; random init is safe for small sets
    init = "spectral" if n >= 50 else "random"

    def embed(dims: int, min_dist: float, start: str | np.ndarray) -> np.ndarray:
        model = umap.UMAP(
            n_components=dims, n_neighbors=k, min_dist=min_dist, metric="euclidean", init=start,
            random_state=params.seed, precomputed_knn=(knn_i, knn_d, knn_index),
            n_jobs=jobs, low_memory=True,
        )
        return np.asarray(model.fit_transform(x), dtype=np.float32)

    dims = int(min(params.n_components, max(2, n - 2)))
    emb = embed(dims, params.min_dist, init)
    lap("umap")
    # the map starts from the main plane of the clustering embedding: same graph, so a second
    # spectral decomposition of it would cost much and add nothing
    coords = embed(2, params.map_min_dist, _pca(emb, 2).astype(np.float64) if init == "spectral" else init)
    lap("umap_map")
    clusterer = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=params.min_samples,
                                cluster_selection_method=params.selection)
    raw = clusterer.fit_predict(emb.astype(np.float64))
    labels = _relabel(np.asarray(raw, dtype=np.int64))
    probs = np.where(labels == NOISE, 0.0, np.asarray(clusterer.probabilities_, dtype=np.float64))
    lap("hdbscan")
    return Clustering(labels, probs, emb, coords, eff, lap.timings)
