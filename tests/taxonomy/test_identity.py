"""Matching clusters across runs (pure)."""

from tessera.taxonomy.identity import CONTINUED, DISSOLVED, MERGED, NEW, SPLIT, match_identities


def r(a: int, b: int) -> set[int]:
    return set(range(a, b))


def test_continued_new_and_dissolved() -> None:
    prev = {10: r(0, 10), 11: r(10, 20)}
    cur = {0: r(0, 9) | r(100, 105), 1: r(200, 210)}  # 0 continues 10; 1 is all new items; 11 vanished
    plan = match_identities(prev, cur, r(0, 20), r(0, 9) | r(100, 105) | r(200, 210) | r(10, 20))
    assert plan.continues == {0: 10}
    kinds = {(e.kind, e.from_identity, e.to_label) for e in plan.lineage}
    assert kinds == {(CONTINUED, 10, 0), (DISSOLVED, 11, None), (NEW, None, 1)}


def test_split_keeps_identity_on_largest_part() -> None:
    prev = {5: r(0, 30)}
    cur = {0: r(0, 12), 1: r(12, 30)}
    plan = match_identities(prev, cur, r(0, 30), r(0, 30))
    assert plan.continues == {1: 5}  # 18 shared beats 12
    assert sorted((e.kind, e.to_label, e.overlap) for e in plan.lineage) == [(SPLIT, 0, 12), (SPLIT, 1, 18)]


def test_merge_continues_the_biggest_contributor() -> None:
    prev = {1: r(0, 8), 2: r(8, 20)}
    cur = {0: r(0, 20)}
    plan = match_identities(prev, cur, r(0, 20), r(0, 20))
    assert plan.continues == {0: 2}
    assert sorted((e.kind, e.from_identity) for e in plan.lineage) == [(MERGED, 1), (MERGED, 2)]


def test_only_items_seen_by_both_runs_count() -> None:
    # 3 of P's 10 items were withdrawn; the 7 left all sit in cluster 0 with 40 new items
    prev = {1: r(0, 10)}
    cur = {0: r(3, 10) | r(100, 140)}
    plan = match_identities(prev, cur, r(0, 10), r(3, 10) | r(100, 140))
    assert plan.continues == {0: 1}


def test_a_stray_member_is_not_a_match() -> None:
    prev = {1: r(0, 20)}
    cur = {0: r(0, 19), 1: {19} | r(50, 70)}
    plan = match_identities(prev, cur, r(0, 20) | r(50, 70), r(0, 20) | r(50, 70))
    assert plan.continues == {0: 1}
    assert (NEW, None, 1) in {(e.kind, e.from_identity, e.to_label) for e in plan.lineage}


def test_first_run_is_all_new() -> None:
    plan = match_identities({}, {0: {1, 2}, 1: {3}}, set(), {1, 2, 3})
    assert plan.continues == {} and [e.kind for e in plan.lineage] == [NEW, NEW]
