"""Explanations and small inputs, without UMAP."""

import numpy as np

from tessera.indexer.dictionary import FEATURE_INDEX, FEATURE_NAMES
from tessera.taxonomy.cluster import NOISE, ClusterParams, cluster_vectors
from tessera.taxonomy.explain import explain_clusters


def test_tiny_inputs_stay_unclustered_without_error() -> None:
    for n in (0, 1, 5):
        c = cluster_vectors(np.ones((n, 8), np.float32), ClusterParams())
        assert c.labels.shape == (n,) and (c.labels == NOISE).all() and c.coords.shape == (n, 2)
        assert c.n_clusters == 0 and c.n_noise == n


def test_explanation_uses_dictionary_words() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(0, 1, (40, len(FEATURE_NAMES)))
    labels = np.array([0] * 15 + [1] * 15 + [NOISE] * 10)
    m[:15, FEATURE_INDEX["spectral_centroid_mean"]] += 5  # cluster 0 is bright
    m[15:30, FEATURE_INDEX["onset_rate"]] -= 5  # cluster 1 has few events
    emb = rng.normal(0, 1, (40, 5))
    ex = explain_clusters(m, labels, list(range(100, 140)), [2.0] * 40, ["CC0-1.0"] * 30 + ["CC-BY-4.0"] * 10, emb)
    assert set(ex) == {0, 1}
    assert ex[0].summary.startswith("bright") and ex[0].features[0].feature == "spectral_centroid_mean"
    assert ex[0].features[0].effect == 1.0
    assert "few events" in ex[1].summary and ex[1].features[0].effect == -1.0
    assert ex[0].size == 15 and ex[0].total_duration == 30.0 and ex[0].licences == {"CC0-1.0": 15}
    assert len(ex[0].exemplars) == 5 and set(ex[0].exemplars) <= set(range(100, 115))
