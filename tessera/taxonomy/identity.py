"""Match a new run's clusters to the previous run's by shared members. Pure: sets in, a plan out.

Only items present in both runs count (new files cannot vote for or against a match). A
previous cluster P and a new cluster N are linked when their overlap is a substantial share of
both sides (``min_share`` of P's surviving members and of N's previously seen members). Then:
- one P linked to one N: N *continues* P's identity;
- P linked to several N: a *split*; the N with the largest overlap continues P, the others are
  new identities whose lineage says where they came from;
- several P linked to one N: a *merge*; N continues the P it shares most with, the others'
  identities end there (their labels stay on them and lineage leads to N);
- P linked to nothing: *dissolved*; N linked to nothing: *new*.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

CONTINUED, SPLIT, MERGED, NEW, DISSOLVED = "continued", "split", "merged", "new", "dissolved"


@dataclass(frozen=True)
class LineageEdge:
    kind: str
    from_identity: int | None  # previous identity (None for "new")
    to_label: int | None  # new run's cluster label (None for "dissolved")
    overlap: int


@dataclass
class IdentityPlan:
    # new cluster label -> previous identity it continues (absent: needs a fresh identity)
    continues: dict[int, int] = field(default_factory=dict)
    lineage: list[LineageEdge] = field(default_factory=list)


def match_identities(
    previous: Mapping[int, Set[int]],
    current: Mapping[int, Set[int]],
    previous_universe: Set[int],
    current_universe: Set[int],
    min_share: float = 0.25,
) -> IdentityPlan:
    """``previous``: identity -> member ids; ``current``: new label -> member ids; universes: all items of each run."""
    common = set(previous_universe) & set(current_universe)
    prev = {p: set(m) & common for p, m in previous.items()}
    cur = {c: set(m) & common for c, m in current.items()}
    edges: list[tuple[int, int, int]] = []  # (overlap, p, c)
    for p, pm in prev.items():
        if not pm:
            continue
        for c, cm in cur.items():
            if not cm:
                continue
            ov = len(pm & cm)
            # most of P went to C (continued or merged), or a share substantial on both sides (a split part)
            if ov and (ov > 0.5 * len(pm) or (ov >= min_share * len(pm) and ov >= min_share * len(cm))):
                edges.append((ov, p, c))
    deg_p: dict[int, int] = {}
    deg_c: dict[int, int] = {}
    for _, p, c in edges:
        deg_p[p] = deg_p.get(p, 0) + 1
        deg_c[c] = deg_c.get(c, 0) + 1

    plan = IdentityPlan()
    # greedy by overlap (ties by ids, for determinism): each identity continues into at most one cluster
    taken_p: set[int] = set()
    for _, p, c in sorted(edges, key=lambda e: (-e[0], e[1], e[2])):
        if p not in taken_p and c not in plan.continues:
            plan.continues[c] = p
            taken_p.add(p)
    for ov, p, c in sorted(edges, key=lambda e: (e[1], e[2])):
        if deg_c[c] > 1:
            kind = MERGED
        elif deg_p[p] > 1:
            kind = SPLIT
        else:
            kind = CONTINUED
        plan.lineage.append(LineageEdge(kind, p, c, ov))
    for p in sorted(previous):
        if p not in deg_p:
            plan.lineage.append(LineageEdge(DISSOLVED, p, None, 0))
    for c in sorted(current):
        if c not in deg_c:
            plan.lineage.append(LineageEdge(NEW, None, c, 0))
    return plan
