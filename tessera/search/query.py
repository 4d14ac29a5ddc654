"""Search by sound, combined with catalogue filters.

Scoring. Positive examples (uploads, items, segments) are standardised in the
chosen space and averaged into one point p (as ``SpaceIndex.search`` does).
With negatives ("less like that"), averaged into n, each candidate x is ranked by

    score = ||x - p|| - λ · ||x - n||

so candidates close to the negatives sink; ``distance`` in every hit is still
the plain ||x - p||. Each file keeps its best row (whole file or one segment).
Order is (score, file id): stable for pagination.

Candidates: with a flat index (small catalogues) every row is scored exactly.
With an approximate (HNSW) index, the filter (licence, features, text …, via
``SearchStore``) is resolved first: a selective filter's files are ranked
exactly; a broad one takes the nearest ``max_candidates`` rows and widens the
candidate list until the page is full, so filters never silently truncate.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.indexer.decode import decode
from tessera.indexer.features import extract
from tessera.indexer.similarity import EXACT_LIMIT, SpaceIndex
from tessera.search.errors import BadQuery, UnsupportedFormat, UploadTooLarge
from tessera.search.filters import Filters
from tessera.search.sandbox import DecodeSandbox
from tessera.search.store import SearchStore

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_SECONDS = 600.0
MAX_EXAMPLES = 20
DEFAULT_LAMBDA = 0.5
MAX_CANDIDATES = 2000

# leading bytes of the formats the decoders read
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"RIFF", 0, "wav"), (b"fLaC", 0, "flac"), (b"OggS", 0, "ogg"), (b"ID3", 0, "mp3"), (b"FORM", 0, "aiff"),
    (b"ftyp", 4, "m4a"),
]


def sniff_format(head: bytes) -> str:
    """The audio format from the first bytes, or UnsupportedFormat."""
    for magic, at, name in _MAGIC:
        if head[at:at + len(magic)] == magic:
            return name
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:  # MPEG audio frame sync
        return "mp3"
    raise UnsupportedFormat("the upload is not a recognised audio file (WAV, FLAC, Ogg/Opus, MP3, AIFF, M4A)")


def upload_vector(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_seconds: float = MAX_UPLOAD_SECONDS,
                  sandbox: DecodeSandbox | None = None, client: str | None = "local") -> np.ndarray:
    """Decode an uploaded recording (in the sandbox when given) and return its canonical feature vector."""
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the upload is {len(data)} bytes; the limit is {max_bytes}", limit=max_bytes)
    if not data:
        raise UnsupportedFormat("the upload is empty")
    fmt = sniff_format(data[:16])
    # the decoders read files, not bytes; the suffix helps FFmpeg and routes Opus to libsndfile
    fd, name = tempfile.mkstemp(suffix=f".{'opus' if fmt == 'ogg' and b'OpusHead' in data[:64] else fmt}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if sandbox is not None:
            return sandbox.vector(name, max_seconds, client)
        dec = decode(name, max_seconds=max_seconds)
        # no segments (we only need the whole-file vector) and no fingerprint: faster
        out = extract(dec, segment_min_duration=float("inf"), fingerprint=False)
    finally:
        os.unlink(name)
    return np.asarray(out.vector, dtype=np.float32)


@dataclass
class Query:
    positives: list[np.ndarray] = field(default_factory=list)  # canonical vectors
    negatives: list[np.ndarray] = field(default_factory=list)
    exclude: set[int] = field(default_factory=set)  # files that are themselves examples
    lam: float = DEFAULT_LAMBDA
    described: dict[str, Any] = field(default_factory=dict)  # echo of the query, for answers


@dataclass
class SearchHit:
    file_id: int
    segment_id: int | None
    start: float | None
    end: float | None
    distance: float | None
    score: float | None


@dataclass
class SearchPage:
    hits: list[SearchHit]
    total: int


def build_query(store: SearchStore, items: list[int] | None = None, segments: list[int] | None = None,
                not_items: list[int] | None = None, not_segments: list[int] | None = None,
                uploads: list[np.ndarray] | None = None, lam: float = DEFAULT_LAMBDA) -> Query:
    """Resolve example ids to vectors (visible, indexed items and segments only)."""
    items, segments = items or [], segments or []
    not_items, not_segments = not_items or [], not_segments or []
    uploads = uploads or []
    n = len(items) + len(segments) + len(not_items) + len(not_segments) + len(uploads)
    if n > MAX_EXAMPLES:
        raise BadQuery(f"at most {MAX_EXAMPLES} examples per query; got {n}")
    if not (0.0 <= lam <= 2.0):
        raise BadQuery("lambda must be between 0 and 2")
    q = Query(lam=lam, described={"items": items, "segments": segments, "not_items": not_items,
                                  "not_segments": not_segments, "uploads": len(uploads), "lambda": lam})
    q.positives.extend(uploads)
    for target, ids in ((q.positives, items), (q.negatives, not_items)):
        for i in ids:
            vec, dup = store.item_vector(i)
            target.append(vec)
            q.exclude.add(i)
            if dup:
                q.exclude.add(dup)
    for target, ids in ((q.positives, segments), (q.negatives, not_segments)):
        for sid in ids:
            vec, fid, _s, _e = store.segment_vector(sid)
            target.append(vec)
            q.exclude.add(fid)
    if q.negatives and not q.positives:
        raise BadQuery("'less like that' needs at least one positive example")
    return q


_MATRIX_CACHE: dict[int, tuple[Any, np.ndarray]] = {}


def _all_rows(space: SpaceIndex) -> np.ndarray:
    """The standardised vectors of a flat index, read once per loaded index."""
    key = id(space.index)
    hit = _MATRIX_CACHE.get(key)
    if hit is not None and hit[0] is space.index:
        return hit[1]
    mat = np.asarray(space.index.reconstruct_n(0, space.index.ntotal), dtype=np.float32)
    _MATRIX_CACHE.clear()  # one build at a time is enough
    _MATRIX_CACHE[key] = (space.index, mat)
    return mat


def _scores(mat: np.ndarray, q: Query, space: SpaceIndex) -> tuple[np.ndarray, np.ndarray]:
    p = space.standardiser.transform(np.vstack(q.positives)).mean(axis=0)
    dist = np.linalg.norm(mat - p, axis=1)
    if not q.negatives:
        return dist, dist
    neg = space.standardiser.transform(np.vstack(q.negatives)).mean(axis=0)
    return dist, dist - q.lam * np.linalg.norm(mat - neg, axis=1)


def _exact(space: SpaceIndex, q: Query, rows: np.ndarray) -> list[SearchHit]:
    """Score exactly the given index rows."""
    if not len(rows):
        return []
    if space.manifest.get("index_type", "flat") == "flat":
        mat = _all_rows(space)[rows]
    else:
        mat = np.asarray(space.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)), dtype=np.float32)
    dist, score = _scores(mat, q, space)
    return _best_per_file(space, rows, dist, score, q)


def _approximate(space: SpaceIndex, q: Query, fetch: int) -> list[SearchHit]:
    """The ``fetch`` nearest rows from the approximate index, re-ranked by score."""
    p = space.standardiser.transform(np.vstack(q.positives)).mean(axis=0)
    _d, idx = space.index.search(np.ascontiguousarray(p[None, :], dtype=np.float32), fetch)
    rows = idx[0][idx[0] >= 0]
    if not len(rows):
        return []
    mat = np.asarray(space.index.reconstruct_batch(rows.astype(np.int64)), dtype=np.float32)
    dist, score = _scores(mat, q, space)
    return _best_per_file(space, rows, dist, score, q)


def rank(space: SpaceIndex, q: Query, max_candidates: int = MAX_CANDIDATES) -> list[SearchHit]:
    """Candidate files, best row each, ordered by (score, file id): every file with a flat index,
    the nearest ``max_candidates`` rows' files with an approximate one."""
    if not q.positives:
        raise BadQuery("a similarity query needs at least one example")
    n = space.index.ntotal
    if n == 0:
        return []
    if space.manifest.get("index_type", "flat") == "flat":
        return _exact(space, q, np.arange(n))
    return _approximate(space, q, min(n, max_candidates))


def _best_per_file(space: SpaceIndex, rows: np.ndarray, dist: np.ndarray, score: np.ndarray,
                   q: Query) -> list[SearchHit]:
    skip = q.exclude | space.removed
    order = np.lexsort((space.file_ids[rows], score))
    best: dict[int, SearchHit] = {}
    for j in order:
        r = int(rows[j])
        fid = int(space.file_ids[r])
        if fid in best or fid in skip:
            continue
        sid = int(space.segment_ids[r])
        best[fid] = SearchHit(fid, None if sid < 0 else sid, float(space.starts[r]) if sid >= 0 else None,
                              float(space.ends[r]) if sid >= 0 else None, round(float(dist[j]), 6),
                              round(float(score[j]), 6))
    return sorted(best.values(), key=lambda h: (h.score or 0.0, h.file_id))


def explain_page(space: SpaceIndex, q: Query, hits: list[SearchHit]) -> list[str | None]:
    """Why each hit is close, in plain words (the aspects that make the distance small, and those that do
    not), measured from the positive examples. Browsing without examples explains nothing."""
    if not q.positives or not hits:
        return [None] * len(hits)
    return [e.text for e in space.explain_hits(np.vstack(q.positives), hits)]


def search(store: SearchStore, space: SpaceIndex | None, q: Query | None, flt: Filters, limit: int,
           offset: int, max_candidates: int = MAX_CANDIDATES, exact_limit: int = EXACT_LIMIT) -> SearchPage:
    """One page of answers: similarity-ranked when there are examples, else a filtered browse.

    Filters never truncate: with an approximate index, the files passing the filter are found
    first; when their rows number at most ``exact_limit`` they are ranked exactly (a selective
    filter), otherwise the approximate candidate list widens until it holds the page. ``total``
    is always the number of matching indexed files.
    """
    if q is None or not q.positives:
        rows, total = store.browse(flt, limit, offset)
        return SearchPage([SearchHit(r.id, None, None, None, None, None) for r in rows], total)
    if space is None:
        raise BadQuery("a similarity query needs a space")
    n = space.index.ntotal
    if n == 0 or space.manifest.get("index_type", "flat") == "flat":
        ranked = rank(space, q, max_candidates)
        allowed = store.matching_ids(flt, among=[h.file_id for h in ranked])  # also drops withdrawn files
        kept = [h for h in ranked if h.file_id in allowed]
        return SearchPage(kept[offset:offset + limit], len(kept))
    allowed = store.matching_ids(flt)  # the viewer's visible files: consent and protocols apply even unfiltered
    skip = np.asarray(sorted(q.exclude | space.removed), dtype=np.int64)
    mask = np.isin(space.file_ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
    mask &= ~np.isin(space.file_ids, skip)
    cand = np.nonzero(mask)[0]
    total = int(np.unique(space.file_ids[cand]).shape[0])
    if len(cand) <= exact_limit:
        return SearchPage(_exact(space, q, cand)[offset:offset + limit], total)
    want = offset + limit
    fetch = min(n, max(max_candidates, 4 * want))
    while fetch < n:
        kept = [h for h in _approximate(space, q, fetch) if h.file_id in allowed]
        if len(kept) >= want:
            return SearchPage(kept[offset:offset + limit], total)
        fetch *= 4
    # HNSW cannot list every row (k near n returns fewer): the last widening is exact
    return SearchPage(_exact(space, q, cand)[offset:offset + limit], total)
