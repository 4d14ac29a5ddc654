"""Why a hit is similar: which aspects of a space make two sounds close, and which keep them apart.

The learned metric (tessera.indexer.spaces) scales every aspect so that its expected squared
contribution to a catalogue distance is weight²; the squared distance of two sounds is the sum of one
term per aspect. An aspect is *close* when its term is well below what two random sounds of the
catalogue give (2 · weight²), *different* when it is well above. Pure functions: no index, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tessera.indexer.dictionary import BY_NAME, FEATURE_NAMES
from tessera.indexer.spaces import Standardiser

CLOSE_BELOW = 0.3  # share of the random-pair distance under which an aspect counts as similar
FAR_ABOVE = 1.2  # ... over which it counts as different
MAX_SIMILAR, MAX_DIFFERENT = 3, 2


@dataclass(frozen=True)
class AspectDistance:
    aspect: str
    squared: float  # this aspect's term of the squared distance
    relative: float  # squared / expected squared distance of two random catalogue sounds in this aspect
    direction: str = ""  # for different aspects, how the hit differs ("higher register"), when known


@dataclass(frozen=True)
class Explanation:
    text: str  # e.g. "similar tone colour, attack and decay; different pitch (higher register)"
    similar: list[str]
    different: list[str]
    aspects: list[AspectDistance]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def explain(std: Standardiser, query: np.ndarray, hit: np.ndarray, query_z: np.ndarray | None = None,
            hit_z: np.ndarray | None = None) -> Explanation:
    """Explain one hit from the query's and the hit's SEARCH vectors (``std.transform`` output, or rows
    reconstructed from the faiss index). With their clipped z-scores (``std.zscores`` of the canonical
    vectors) a different aspect also says in which direction the hit differs."""
    q, h = np.asarray(query, np.float64).ravel(), np.asarray(hit, np.float64).ravel()
    weights2 = {a.name: a.weight**2 for a in std.aspects}
    rows = []
    for name, sl in std.aspect_slices():
        d2 = float(np.sum((q[sl] - h[sl]) ** 2))
        w2 = weights2[name]
        rel = d2 / (2.0 * w2) if w2 > 0 else 0.0
        rows.append((name, d2, rel, w2))
    similar = [r for r in sorted(rows, key=lambda r: (r[2], -r[3])) if r[3] > 0 and r[2] < CLOSE_BELOW]
    # the aspects that weigh most in the space come first among the similar ones
    similar = sorted(similar, key=lambda r: -r[3] * (1.0 - r[2]))[:MAX_SIMILAR]
    different = sorted((r for r in rows if r[3] > 0 and r[2] > FAR_ABOVE), key=lambda r: -r[1])[:MAX_DIFFERENT]
    directions = {}
    if query_z is not None and hit_z is not None:
        directions = {r[0]: _direction(std, r[0], np.ravel(query_z), np.ravel(hit_z)) for r in different}
    aspects = [AspectDistance(n, round(d2, 6), round(rel, 4), directions.get(n, "")) for n, d2, rel, _ in rows]
    parts = []
    if similar:
        parts.append("similar " + _join([r[0] for r in similar]))
    if different:
        parts.append("different " + _join([r[0] + (f" ({directions[r[0]]})" if directions.get(r[0]) else "")
                                           for r in different]))
    text = "; ".join(parts) if parts else "close overall, no aspect stands out"
    return Explanation(text, [r[0] for r in similar], [r[0] for r in different], aspects)


def _direction(std: Standardiser, aspect: str, qz: np.ndarray, hz: np.ndarray) -> str:
    """The dictionary's word for the feature of this aspect that moves most from query to hit."""
    a = next(x for x in std.aspects if x.name == aspect)
    best, word = 0.0, ""
    for p in a.positions:
        f = BY_NAME[FEATURE_NAMES[int(std.columns[p])]]
        diff = float(hz[p] - qz[p])
        if abs(diff) > best and (f.high or f.low):
            best, word = abs(diff), (f.high if diff > 0 else f.low)
    return word if best >= 1.0 else ""


def explain_canonical(std: Standardiser, query: np.ndarray, hit: np.ndarray) -> Explanation:
    """Explain one hit from CANONICAL vectors (as stored in the catalogue, FEATURE_NAMES order)."""
    return explain(std, std.transform(query)[0], std.transform(hit)[0], std.zscores(query)[0],
                   std.zscores(hit)[0])
