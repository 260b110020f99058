"""Online close to the optimum and fair as it goes: what the last batch knows, used one partner
at a time. Pure: numbers in, decisions out (the repository stores them, the matcher applies them).

The batch's optimum (optimum.py, `fair_plan`) is proven by node potentials; they give
- a **price** per coach: what one more of its places would add to the optimum. A coach whose
  places everybody wants, or whom a minority needs, is dear; one with places to spare is free;
- a **boost** per (language, host country) group: how much less a partner of that group must
  score to earn a place, because the fair batch covers the group at the pool's average;
- the **coverage** the places allow: the share of partners with a feasible coach it served.

Online, a partner takes the coach with the best score net of its price, and only if the score
clears the price (less the group's boost, less a small tolerance for the prices' noise):
places a later partner needs more are kept for them. First come, first served instead fills the
places with whoever comes first; on the evaluation pool it reaches 93.7% of the optimum.

Fair as it goes: a *balance* per language group and per host country corrects the prices while
partners arrive, a stochastic-approximation controller. Each partner of a group with a feasible
coach moves the group's balance by `RATE * (coverage target - served)`: a group served less than
the target becomes easier to serve, one served more becomes harder. A new batch resets them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.contracts import Location, PartnerProfile

from ..domain import strongest_language
from ..ranking.vectors import Floats, Ints

# How far below its price a score may be and still take the place: the prices come from
# another pool than the partners who meet them (measured: 0.02-0.06 all within 0.1% of utility).
TOLERANCE = 0.04
# How fast a group's balance moves per partner (score points). Measured on the evaluation pool:
# 0.01 leaves small groups behind (coverage ratio 0.87), 0.04 costs 0.3% of utility.
RATE = 0.02
# A balance never exceeds this many score points either way, so that a group no coach can
# serve any more (its coaches are full) does not pile up a debt that floods it later.
BALANCE_LIMIT = 0.5
# Aim a little above the coverage the batch reached: the controllers then fill the last places
# instead of leaving them empty (1.00: 0.9% fewer partners served on the evaluation pool).
TARGET_MARGIN = 1.03
# How many of the latest batch runs' prices are averaged: one pool's prices are noisy (a coach's
# 1-6 places), two pools' average reached 0.5% more of the optimum than one.
RUNS_AVERAGED = 2


@dataclass(frozen=True)
class MarketPrices:
    """What the latest batch runs taught: averaged prices, boosts and coverage (see the module)."""

    coach_price: Mapping[str, float] = field(default_factory=dict)
    group_boost: Mapping[str, float] = field(default_factory=dict)
    coverage: float = 1.0
    runs: tuple[int, ...] = ()

    @property
    def known(self) -> bool:
        """False before any batch: online then serves first come, first served."""
        return bool(self.runs)

    @property
    def target(self) -> float:
        return min(1.0, self.coverage * TARGET_MARGIN)


def group_of(profile: PartnerProfile, host: Location) -> str:
    """The batch's finest fairness group: the partner's strongest language in the host country."""
    return f"{strongest_language(profile)}/{host.country}"


def balance_keys(profile: PartnerProfile, host: Location) -> tuple[str, str]:
    """The groups whose coverage is evened out as partners arrive: language, host country."""
    return f"language:{strongest_language(profile)}", f"country:{host.country}"


def coach_order(score: Floats, score_at_batch: Floats, price: Floats, allowance: float) -> Ints:
    """Feasible coaches (indexes into the arrays, one entry per coach with a free place) whose
    place this partner may take, best first by score net of price; empty: the places are kept
    for partners who need them more.

    `score` ranks with today's loads; `score_at_batch` is scored as the batch scored (no load)
    and is what clears the price. `allowance`: the group's boost plus its balances. A coach with
    places to spare in the batch (price 0) is never held back: nobody was waiting for them."""
    clears = np.flatnonzero((score_at_batch + allowance + TOLERANCE - price >= 0) | (price <= 0))
    net = np.round(score[clears] - price[clears], 4)
    # Equal net scores: the cheaper coach first, leaving the dear one to whom it is worth more.
    return clears[np.lexsort((price[clears], -net))]


def balance_step(target: float, served: bool) -> float:
    """How much a partner's groups' balances move after the partner's decision."""
    return RATE * (target - float(served))


def next_balance(balance: float, step: float) -> float:
    return float(np.clip(balance + step, -BALANCE_LIMIT, BALANCE_LIMIT))


def average(runs: Sequence[tuple[int, Mapping[str, float], Mapping[str, float], float]]) -> MarketPrices:
    """The mean of the given runs' prices and boosts (a key missing in a run counts as 0: a coach
    who was not in that batch had no price there)."""
    if not runs:
        return MarketPrices()
    coaches = {key for _, prices, _, _ in runs for key in prices}
    groups = {key for _, _, boosts, _ in runs for key in boosts}
    n = len(runs)
    return MarketPrices(
        coach_price={key: sum(prices.get(key, 0.0) for _, prices, _, _ in runs) / n for key in coaches},
        group_boost={key: sum(boosts.get(key, 0.0) for _, _, boosts, _ in runs) / n for key in groups},
        coverage=sum(coverage for *_, coverage in runs) / n,
        runs=tuple(sorted(run for run, *_ in runs)),
    )
