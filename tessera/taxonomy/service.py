"""A clustering run end to end: vectors from the catalogue, pure cluster/explain/identity cores, one write."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tessera.indexer.dictionary import EXTRACTOR_VERSION
from tessera.indexer.spaces import Standardiser, get_space
from tessera.indexer.store import IndexStore
from tessera.taxonomy.cluster import ClusterParams, Laps, cluster_vectors
from tessera.taxonomy.errors import NothingToCluster
from tessera.taxonomy.explain import explain_clusters
from tessera.taxonomy.identity import match_identities
from tessera.taxonomy.store import ClusterIn, LineageIn, TaxonomyStore

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    run_id: int
    space: str
    items: int
    clusters: int
    unclustered: int
    previous_run_id: int | None
    lineage: dict[str, int] = field(default_factory=dict)  # kind -> count
    summaries: list[dict[str, Any]] = field(default_factory=list)  # label, size, summary, exemplars
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds, to see where a run's time goes

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def run_clustering(catalog: IndexStore, store: TaxonomyStore, params: ClusterParams,
                   extractor_version: str = EXTRACTOR_VERSION, created_by: str | None = None) -> RunReport:
    lap = Laps()
    timings = lap.timings
    space = get_space(params.space)
    vs = catalog.vector_set(extractor_version, segments=False)
    if vs.matrix.shape[0] == 0:
        raise NothingToCluster(f"no indexed items for extractor {extractor_version}; run `tessera index` first",
                               extractor_version=extractor_version)
    z = Standardiser.fit(space, vs.matrix).transform(vs.matrix)
    lap("load")
    result = cluster_vectors(z, params)
    lap("umap_hdbscan")
    timings.update({f"umap_hdbscan.{k}": v for k, v in result.timings.items()})  # its parts
    file_ids = [int(f) for f in vs.file_ids]
    lic = store.licences_of(file_ids)
    expl = explain_clusters(vs.matrix, result.labels, file_ids, vs.ends, [lic.get(f, "") for f in file_ids],
                            result.embedding)
    lap("explain")

    prev_id = store.latest_run_id(space.name)
    current: dict[int, set[int]] = {lab: set() for lab in expl}
    for f, x in zip(file_ids, result.labels.tolist(), strict=True):  # one pass, not one per cluster
        if x in current:
            current[x].add(f)
    if prev_id is not None:
        prev, prev_universe = store.run_memberships(prev_id)
        plan = match_identities(prev, current, prev_universe, set(file_ids))
    else:
        plan = match_identities({}, current, set(), set(file_ids))
    lap("identity")
    clusters = [ClusterIn(lab, e.size, e.total_duration, e.as_dict(), e.exemplars) for lab, e in expl.items()]
    run_id = store.save_run(
        space.name, extractor_version, result.params, file_ids, result.labels, result.probabilities,
        result.coords, clusters, plan.continues,
        [LineageIn(e.kind, e.from_identity, e.to_label, e.overlap) for e in plan.lineage], prev_id, created_by,
    )
    lap("save")
    counts: dict[str, int] = {}
    for e in plan.lineage:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    log.info("clustering run %d: %d items, %d clusters, %d unclustered", run_id, len(file_ids),
             result.n_clusters, result.n_noise)
    return RunReport(
        run_id=run_id, space=space.name, items=len(file_ids), clusters=result.n_clusters,
        unclustered=result.n_noise, previous_run_id=prev_id, lineage=counts,
        summaries=[{"label": lab, "size": e.size, "summary": e.summary, "exemplars": e.exemplars}
                   for lab, e in expl.items()],
        timings=timings,
    )
