"""Batch mode is the exact optimum and never breaks capacity: checked against scipy's
assignment solver on small instances, with hypothesis drawing the instances."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from services.matching.batch import SCALE, Arcs, optimal_assignment

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
@given(instances)
def test_batch_reaches_the_exact_optimum_within_capacity(instance: tuple[list[int], list[list[int | None]]]) -> None:
    free, table = instance
    chosen = optimal_assignment(arcs_of(table), len(table), free)
    for partner, coach in enumerate(chosen):
        assert coach == -1 or table[partner][coach] is not None, "only feasible pairs"
    counts = np.bincount(chosen[chosen >= 0], minlength=len(free))
    assert (counts <= np.array(free)).all(), "no coach over capacity"
    total = sum(table[p][c] or 0 for p, c in enumerate(chosen) if c >= 0)
    assert total == scipy_optimum(free, table)


def test_an_empty_pool_assigns_nobody() -> None:
    assert optimal_assignment(arcs_of([]), 0, [3]).tolist() == []
