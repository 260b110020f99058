"""The online path decides with what the batch knows (assignment/prices.py): the batch's prices
are the dual prices of its optimum, and a partner takes a place only where the score clears the
price; balances per group even coverage out as partners arrive."""

from collections.abc import Mapping

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.assignment import prices
from services.matching.assignment.optimum import SCALE, Arcs, fair_plan

instances = st.integers(1, 5).flatmap(
    lambda coaches: st.tuples(
        st.lists(st.integers(0, 3), min_size=coaches, max_size=coaches),
        st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, SCALE)), min_size=coaches, max_size=coaches),
            min_size=1,
            max_size=9,
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


@settings(max_examples=300, deadline=None)
@given(instances)
def test_the_prices_are_the_dual_prices_of_the_optimum(instance: tuple[list[int], list[list[int | None]]]) -> None:
    """Complementary slackness: every assigned partner has the best score net of price among its
    coaches, and at least 0; no unassigned partner would gain from any coach at its price; a coach
    with a place left has price 0. Then online, the same partners deciding one at a time with these
    prices take exactly what the optimum gave them (ties aside)."""
    free, table = instance
    plan = fair_plan(arcs_of(table), len(table), free, [["en/DE"] * len(table)], share=0.0)
    price = plan.coach_price
    assert (price >= 0).all()
    counts = np.bincount(plan.chosen[plan.chosen >= 0], minlength=len(free))
    assert (price[counts < np.array(free)] == 0).all(), "a coach with a place left is free"
    eps = 1e-9
    for partner, row in enumerate(table):
        net = [((row[c] or 0) / SCALE - price[c]) for c in range(len(free)) if row[c] is not None]
        coach = plan.chosen[partner]
        if coach >= 0:
            mine = (row[coach] or 0) / SCALE - price[coach]
            assert mine >= -eps and all(mine >= other - eps for other in net)
        else:
            assert all(other <= eps for other in net), (free, table, plan.chosen.tolist(), price.tolist())


def test_places_a_minority_needs_are_kept_for_them() -> None:
    """Coaches A (English and Russian) and B (English only), three places each; English speakers
    score 0.9 with A and 0.7 with B, Russian speakers 0.6 with A. Four English speakers arrive
    before four Russian speakers. First come, first served gives A to the English speakers and
    nothing to the Russian speakers. With the prices of a batch that saw such a pool (A dear, B
    cheaper, a boost for Russian speakers), English speakers take B first, and two Russian
    speakers get A's places."""
    english: list[int | None] = [9000, 7000]
    russian: list[int | None] = [6000, None]
    pool = [english] * 4 + [russian] * 4
    cells = ["en/DE"] * 4 + ["ru/DE"] * 4
    plan = fair_plan(arcs_of(pool), len(pool), [3, 3], [cells, [c.split("/")[0] for c in cells]], share=1.0)
    market = prices.average([(1, {"A": plan.coach_price[0], "B": plan.coach_price[1]}, plan.group_boost, 1.0)])
    price = np.array([market.coach_price["A"], market.coach_price["B"]])
    assert price[0] > price[1] and market.group_boost["ru/DE"] > market.group_boost["en/DE"]

    def online(price: np.ndarray, boost: Mapping[str, float]) -> list[int]:
        load, served = np.zeros(2, dtype=np.int64), []
        for row, cell in zip(pool, cells, strict=True):
            feasible = np.array([i for i, s in enumerate(row) if s is not None and load[i] < 3], dtype=np.int64)
            score = np.array([(row[i] or 0) / SCALE for i in feasible])
            order = prices.coach_order(score, score, price[feasible], boost.get(cell, 0.0))
            choice = int(feasible[order[0]]) if len(order) else -1
            load[max(choice, 0)] += choice >= 0
            served.append(choice)
        return served

    assert online(np.zeros(2), {}) == [0, 0, 0, 1, -1, -1, -1, -1], "first come, first served"
    assert online(price, market.group_boost) == [1, 1, 1, 0, 0, 0, -1, -1]


def test_coach_order_clears_the_price_and_ranks_by_score_net_of_price() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.5])
    price = np.array([0.95, 0.1, 0.0, 0.6])
    # 0.9 does not clear 0.95 - 0.04, nor 0.5 clear 0.6; the free coach 2 always clears; net 0.7 both: cheaper first.
    assert prices.coach_order(score, score, price, allowance=0.0).tolist() == [2, 1]
    # A group that needs places (boost, balance) clears dearer prices.
    assert prices.coach_order(score, score, price, allowance=0.1).tolist() == [2, 1, 0, 3]
    # A group served above its share does not, but a coach with places to spare still takes it.
    assert prices.coach_order(score, score, price, allowance=-0.9).tolist() == [2]
    # The price is cleared by the batch's score; the order follows today's.
    today = np.array([0.9, 0.5, 0.7, 0.5])
    assert prices.coach_order(today, score, price, allowance=0.0).tolist() == [2, 1]


def test_balances_move_towards_the_coverage_target_within_limits() -> None:
    market = prices.average([(7, {}, {}, 0.6), (8, {}, {}, 0.7)])
    assert market.known and market.runs == (7, 8)
    assert abs(market.target - 0.65 * prices.TARGET_MARGIN) < 1e-12
    assert prices.balance_step(market.target, served=False) > 0 > prices.balance_step(market.target, served=True)
    balance = 0.0
    for _ in range(1000):  # a group nobody can serve any more: the debt stops at the limit
        balance = prices.next_balance(balance, prices.balance_step(market.target, served=False))
    assert balance == prices.BALANCE_LIMIT
    # Served exactly at the target rate, the balance stays where it is.
    steps = [prices.balance_step(0.5, served=i % 2 == 0) for i in range(100)]
    assert abs(sum(steps)) < 1e-12


def test_averaged_runs_count_a_coach_missing_from_a_run_as_free() -> None:
    market = prices.average([(1, {"a": 0.8, "b": 0.4}, {"ru/DE": 0.2}, 0.6), (2, {"a": 0.6}, {}, 0.6)])
    assert market.coach_price == {"a": 0.7, "b": 0.2}
    assert market.group_boost == {"ru/DE": 0.1}
    assert not prices.average([]).known
