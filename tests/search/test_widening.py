"""Similarity + filters on an approximate (HNSW) index never truncate: selective filters rank their
subset exactly, broad ones widen the candidate list. Limits are passed down, not patched globals."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.catalog.visibility import OPERATOR
from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.similarity import IndexSet, SpaceIndex, build
from tessera.search.filters import Filters
from tessera.search.query import build_query, search
from tessera.search.store import SearchStore

Indexed = tuple[TestClient, dict[str, int], Path]


@pytest.fixture(scope="module")
def spaces(indexed: Indexed, tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchStore, SpaceIndex, SpaceIndex]:
    client, _ids, _audio = indexed
    app = client.app
    vs = app.state.services.index_store.vector_set(EXTRACTOR_VERSION)  # type: ignore[attr-defined]
    d = tmp_path_factory.mktemp("hnsw")
    manifest = build(vs, d, spaces=["all"], exact_limit=1)  # HNSW even for a dozen vectors
    assert manifest["spaces"]["all"]["index_type"].startswith("hnsw")
    hnsw = IndexSet(d).space("all")
    flat = app.state.services.indexes.space("all")  # type: ignore[attr-defined]
    assert flat.manifest["index_type"] == "flat"
    return SearchStore(app.state.services.db, OPERATOR), hnsw, flat  # type: ignore[attr-defined]


def _ids(page: object) -> list[int]:
    return [h.file_id for h in page.hits]  # type: ignore[attr-defined]


def test_selective_filter_ranks_its_subset_exactly(spaces: tuple[SearchStore, SpaceIndex, SpaceIndex],
                                                  indexed: Indexed) -> None:
    store, hnsw, flat = spaces
    _client, ids, _ = indexed
    q = build_query(store, items=[ids["ambi_drone"]])
    flt = Filters(q="bd")  # the five kicks, all far from a drone
    truth = search(store, flat, q, flt, 10, 0)
    assert truth.total == 5 and {i for i in _ids(truth)} == {v for k, v in ids.items() if k.startswith("bd_")}
    # only the 2 nearest rows as candidates: the old code found no kick at all
    got = search(store, hnsw, q, flt, 10, 0, max_candidates=2, exact_limit=100)
    assert got.total == 5
    assert _ids(got) == _ids(truth)
    assert [h.distance for h in got.hits] == pytest.approx([h.distance for h in truth.hits], abs=1e-4)
    page2 = search(store, hnsw, q, flt, 2, 2, max_candidates=2, exact_limit=100)
    assert _ids(page2) == _ids(truth)[2:4] and page2.total == 5


def test_broad_filter_widens_candidates(spaces: tuple[SearchStore, SpaceIndex, SpaceIndex],
                                        indexed: Indexed) -> None:
    store, hnsw, flat = spaces
    _client, ids, _ = indexed
    q = build_query(store, items=[ids["ambi_drone"]])
    flt = Filters(q="bd")  # exact_limit 0 forces the widening path
    truth = search(store, flat, q, flt, 3, 0)
    got = search(store, hnsw, q, flt, 3, 0, max_candidates=2, exact_limit=0)
    assert got.total == truth.total == 5
    assert _ids(got) == _ids(truth)
    # no filter at all: the total is every indexed file but the example, as with the flat index
    allq = search(store, hnsw, q, Filters(), 4, 0, max_candidates=2, exact_limit=0)
    assert allq.total == search(store, flat, q, Filters(), 4, 0).total == len(ids) - 1
    assert ids["ambi_drone"] not in _ids(allq) and len(allq.hits) == 4
