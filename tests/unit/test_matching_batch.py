"""Batch mode is the exact optimum and never breaks capacity: checked against scipy's
assignment solver and, with coverage quotas, against brute force on small instances, with
hypothesis drawing the instances."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from services.matching.assignment.optimum import SCALE, Arcs, coverage_quotas, fair_assignment, optimal_assignment

instances = st.integers(1, 6).flatmap(
    lambda coaches: st.tuples(
        st.lists(st.integers(0, 3), min_size=coaches, max_size=coaches),
        st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, SCALE)), min_size=coaches, max_size=coaches),
            min_size=1,
            max_size=8,
        ),
    )
)


def arcs_of(table: list[list[int | None]]) -> Arcs:
    pairs = [(p, c, s / SCALE) for p, row in enumerate(table) for c, s in enumerate(row) if s is not None]
    return Arcs(
        np.array([p for p, _, _ in pairs], dtype=np.int64),
        np.array([c for _, c, _ in pairs], dtype=np.int64),
        np.array([s for _, _, s in pairs]),
    )


def scipy_optimum(free: list[int], table: list[list[int | None]]) -> int:
    """Slots replicated per free place; an infeasible pair costs nothing (= unassigned)."""
    slots = [c for c, n in enumerate(free) for _ in range(n)]
    if not slots:
        return 0
    gain = np.array([[row[c] or 0 for c in slots] for row in table])
    rows, cols = linear_sum_assignment(gain, maximize=True)
    return int(gain[rows, cols].sum())


@settings(max_examples=300, deadline=None)
@given(instances, st.integers(1, 7))
def test_batch_reaches_the_exact_optimum_within_capacity(
    instance: tuple[list[int], list[list[int | None]]], shortlist: int
) -> None:
    """Whatever the shortlist, pricing the arcs left out must end at the full optimum."""
    free, table = instance
    chosen = optimal_assignment(arcs_of(table), len(table), free, shortlist=shortlist)
    for partner, coach in enumerate(chosen):
        assert coach == -1 or table[partner][coach] is not None, "only feasible pairs"
    counts = np.bincount(chosen[chosen >= 0], minlength=len(free))
    assert (counts <= np.array(free)).all(), "no coach over capacity"
    total = sum(table[p][c] or 0 for p, c in enumerate(chosen) if c >= 0)
    assert total == scipy_optimum(free, table)


def test_an_empty_pool_assigns_nobody() -> None:
    assert optimal_assignment(arcs_of([]), 0, [3]).tolist() == []


quota_instances = st.tuples(
    st.lists(st.integers(0, 2), min_size=1, max_size=3),  # free places per coach
    st.integers(1, 6).flatmap(
        lambda partners: st.tuples(
            st.lists(
                st.sampled_from(["ar/DE", "ar/NO", "en/DE", "en/NO", "hi/DE"]), min_size=partners, max_size=partners
            ),
            st.lists(
                st.lists(st.one_of(st.none(), st.integers(1, SCALE)), min_size=3, max_size=3),
                min_size=partners,
                max_size=partners,
            ),
        )
    ),
    st.sampled_from([0.5, 0.8, 1.0]),
)


@settings(max_examples=200, deadline=None)
@given(quota_instances, st.integers(1, 3))
def test_quotas_are_filled_first_then_the_score_is_the_best(
    instance: tuple[list[int], tuple[list[str], list[list[int | None]]], float], shortlist: int
) -> None:
    """Brute force over every assignment: the most quota places filled in every tier (cells,
    then languages), and among those the highest total score."""
    free, (cells, full_table), share = instance
    table = [row[: len(free)] for row in full_table]
    tiers = [cells, [cell.split("/")[0] for cell in cells]]
    reachable = np.array([any(s is not None for s in row) for row in table])
    quotas = coverage_quotas(tiers, reachable, share)

    def value(chosen: tuple[int, ...]) -> tuple[int, int]:
        filled, group = 0, np.arange(len(table))
        for tier in quotas:
            group = tier.member_of[group]  # each partner's group in this tier
            placed = np.bincount(group[np.array(chosen) >= 0], minlength=len(tier.places))
            filled += int(np.minimum(placed, tier.places).sum())
        return filled, sum(table[p][c] or 0 for p, c in enumerate(chosen) if c >= 0)

    options = [[-1] + [c for c, s in enumerate(row) if s is not None] for row in table]
    valid = (
        chosen
        for chosen in itertools.product(*options)
        if all(sum(1 for c in chosen if c == coach) <= places for coach, places in enumerate(free))
    )
    best = max(value(chosen) for chosen in valid)
    found = optimal_assignment(arcs_of(table), len(table), free, quotas=quotas, shortlist=shortlist)
    counts = np.bincount(found[found >= 0], minlength=len(free))
    assert (counts <= np.array(free)).all()
    assert value(tuple(int(c) for c in found)) == best


def test_a_fair_batch_covers_a_minority_the_optimum_leaves_out() -> None:
    """Three places for four English and two Tagalog speakers: the plain optimum gives all three
    to the higher-scoring majority; a fair batch owes each language half its partners."""
    majority: list[int | None] = [9000, 9000]
    minority: list[int | None] = [1000, 1000]
    table = [majority] * 4 + [minority] * 2
    cells = ["en/DE"] * 4 + ["tl/DE"] * 2
    tiers = [cells, [c.split("/")[0] for c in cells]]
    plain = optimal_assignment(arcs_of(table), 6, [2, 1])
    assert (plain[:4] >= 0).sum() == 3 and (plain[4:] == -1).all()
    fair = fair_assignment(arcs_of(table), 6, [2, 1], tiers, share=1.0)
    assert (fair[:4] >= 0).sum() == 2 and (fair[4:] >= 0).sum() == 1
