"""The best coach for every partner of a pool at once: an exact min-cost flow, with optional
coverage quotas per group of partners. Pure: arrays in, arrays out.

    source -> partner (cap 1) -> coach (cap = free places) -> sink, and source -> sink for the
    partners left unassigned; a partner -> coach arc costs -round(score * 10^4).

With quotas, partners hang under their group: source -> group -> partner, where the first
`quota` partners of a group placed earn a bonus larger than any total of scores. The solver then
fills as many quota places as the coaches allow before it maximises the score: when places are
scarce, a minority is not left out because the majority scores a little higher.

Speed: most arcs cannot matter. The first solve sees each partner's `shortlist` best arcs. Node
potentials from shortest paths in the residual network then price every arc left out; an arc
with negative reduced cost is added and the solve repeats. When none has, the potentials prove
the flow optimal over all arcs (the min-cost flow optimality condition).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

from ..ranking.vectors import Bools, Floats, Ints

SCALE = 10_000
# How many of each partner's best arcs the first solve sees; pricing adds any others that matter.
SHORTLIST = 20


@dataclass(frozen=True)
class Arcs:
    """Feasible (partner, coach) pairs and their scores, one array entry per arc."""

    partner: Ints
    coach: Ints
    score: Floats


@dataclass(frozen=True)
class Tier:
    """Groups with quotas: `member_of` maps each partner (first tier) or each group of the tier
    before to its group here; `places` is each group's quota."""

    member_of: Ints
    places: Ints


# Tiers nest: e.g. partners by (language, country), those cells by language.
Quotas = tuple[Tier, ...]


def optimal_assignment(
    arcs: Arcs,
    partners: int,
    free: Sequence[int],
    *,
    quotas: Quotas | None = None,
    shortlist: int = SHORTLIST,
) -> Ints:
    """The coach index per partner (-1: none) with the highest total score within free places
    (and, with quotas, among the assignments that fill the most quota places)."""
    cost = np.round(arcs.score * SCALE).astype(np.int64)
    solved = _priced(arcs, cost, _shortlisted(arcs.partner, cost, shortlist), partners, free, quotas)
    return solved.chosen


@dataclass(frozen=True)
class _Solved:
    chosen: Ints
    kept: Bools  # the arcs the optimum needed (a good start for a related solve)
    potential: Ints  # node potentials that prove it optimal
    network: "_Network"


def _priced(arcs: Arcs, cost: Ints, kept: Bools, partners: int, free: Sequence[int], quotas: Quotas | None) -> _Solved:
    """Solve on the kept arcs, add the arcs that price in, repeat until none does."""
    kept = kept.copy()
    while True:
        network = _Network.build(arcs.partner[kept], arcs.coach[kept], cost[kept], partners, free, quotas)
        flows = network.solve()
        potential = network.potentials(flows)
        reduced = -cost + potential[arcs.partner] - potential[partners + arcs.coach]
        improving = ~kept & (reduced < 0)
        if not improving.any():
            return _Solved(network.chosen(flows), kept, potential, network)
        kept |= improving


def coverage_quotas(tiers: Sequence[Sequence[str]], reachable: Bools, share: float) -> Quotas:
    """Quotas asking every group to cover `share` of its reachable partners. `tiers` holds a
    label per partner for each tier, finest first, each nested in the next: e.g. "ar/DE" cells,
    then "ar" languages."""
    quotas: list[Tier] = []
    previous: Ints | None = None  # each partner's group in the tier before
    for labels in tiers:
        names, group = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        places = np.floor(share * np.bincount(group[reachable], minlength=len(names))).astype(np.int64)
        member_of = group if previous is None else np.zeros(int(previous.max()) + 1, dtype=np.int64)
        if previous is not None:
            member_of[previous] = group
            assert (member_of[previous] == group).all(), "tiers must nest"
        quotas.append(Tier(member_of.astype(np.int64), places))
        previous = group.astype(np.int64)
    return tuple(quotas)


def _shortlisted(partner: Ints, cost: Ints, size: int) -> Bools:
    """Each partner's `size` best arcs."""
    if len(cost) == 0:
        return np.zeros(0, dtype=bool)
    top = int(cost.max())
    order = np.argsort(partner * (top - int(cost.min()) + 1) + (top - cost), kind="stable")
    ranked = partner[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))  # where each partner's arcs begin
    kept = np.zeros(len(partner), dtype=bool)
    kept[order[np.arange(len(order)) - first < size]] = True
    return kept


@dataclass(frozen=True)
class _Network:
    """Nodes: partners, then coaches, then groups, then source and sink. The partner -> coach
    arcs come first, in the order given."""

    tail: Ints
    head: Ints
    capacity: Ints
    cost: Ints
    partners: int
    matching_arcs: int
    nodes: int
    source: int
    sink: int

    @classmethod
    def build(
        cls, partner: Ints, coach: Ints, cost: Ints, partners: int, free: Sequence[int], quotas: Quotas | None
    ) -> "_Network":
        coaches = len(free)
        tiers = quotas or ()
        groups = sum(len(tier.places) for tier in tiers)
        source = partners + coaches + groups
        sink = source + 1
        columns = [
            (partner, partners + coach, np.ones(len(partner)), -cost),
            (partners + np.arange(coaches), np.full(coaches, sink), np.asarray(free), np.zeros(coaches)),
            ([source], [sink], [partners], [0]),  # the partners left unassigned
        ]
        # Flow reaches a partner from the source through the partner's group in every tier: each
        # group has a free arc from the tier above (cap = its partners) and a quota arc beside it.
        bonus = SCALE * (partners + 1)  # a quota place is worth more than all scores together
        offsets = partners + coaches + np.cumsum([0, *(len(tier.places) for tier in tiers)])
        nodes = [offsets[k] + np.arange(len(tier.places)) for k, tier in enumerate(tiers)]
        below: Ints = np.arange(partners)
        size: Ints = np.ones(partners, dtype=np.int64)
        for k, tier in enumerate(tiers):
            columns.append((nodes[k][tier.member_of], below, size, np.zeros(len(below))))
            size = np.bincount(tier.member_of, weights=size, minlength=len(tier.places)).astype(np.int64)
            above = nodes[k + 1][tiers[k + 1].member_of] if k + 1 < len(tiers) else np.full(len(nodes[k]), source)
            columns.append((above, nodes[k], tier.places, np.full(len(nodes[k]), -bonus)))
            below = nodes[k]
        columns.append((np.full(len(below), source), below, size, np.zeros(len(below))))
        tail, head, capacity, unit_cost = (
            np.concatenate([np.asarray(c, dtype=np.int64) for c in column]) for column in zip(*columns, strict=True)
        )
        return cls(tail, head, capacity, unit_cost, partners, len(partner), sink + 1, source, sink)

    def solve(self) -> Ints:
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(self.tail, self.head, self.capacity, self.cost)
        flow.set_nodes_supplies(np.array([self.source, self.sink]), np.array([self.partners, -self.partners]))
        status = flow.solve()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost flow ended with status {status}")
        flows: Ints = flow.flows(np.arange(len(self.tail)))
        return flows

    def chosen(self, flows: Ints) -> Ints:
        used = np.flatnonzero(flows[: self.matching_arcs] > 0)
        chosen = np.full(self.partners, -1, dtype=np.int64)
        chosen[self.tail[used]] = self.head[used] - self.partners
        return chosen

    def potentials(self, flows: Ints) -> Ints:
        """Shortest-path distances in the residual network from a virtual root joined to every
        node: on an optimal flow no residual arc has negative reduced cost under them.
        Bellman-Ford, vectorised; the paths are short, so a few dozen rounds."""
        forward, backward = flows < self.capacity, flows > 0
        tail = np.concatenate([self.tail[forward], self.head[backward]])
        head = np.concatenate([self.head[forward], self.tail[backward]])
        weight = np.concatenate([self.cost[forward], -self.cost[backward]])
        distance = np.zeros(self.nodes, dtype=np.int64)
        for _ in range(self.nodes + 1):
            relaxed = distance.copy()
            np.minimum.at(relaxed, head, distance[tail] + weight)
            if (relaxed == distance).all():
                return distance
            distance = relaxed
        raise RuntimeError("negative cycle in the residual network: the flow is not optimal")


def fair_assignment(
    arcs: Arcs, partners: int, free: Sequence[int], tiers: Sequence[Sequence[str]], share: float
) -> Ints:
    """The best assignment among those in which every group (see `coverage_quotas`) covers at
    least `share` of the pool's average coverage, where its feasible coaches allow. The average
    is the optimum's: how many partners the places can serve at all."""
    return fair_plan(arcs, partners, free, tiers, share).chosen


@dataclass(frozen=True)
class Plan:
    """A batch's assignment and what it teaches the online path (see `prices.py`): the price of
    each coach's places, the boost a partner of each finest group (first tier) needs, and the
    share of the partners who could be served at all (coverage of reachable partners)."""

    chosen: Ints
    coach_price: Floats
    group_boost: dict[str, float]
    coverage: float


def fair_plan(arcs: Arcs, partners: int, free: Sequence[int], tiers: Sequence[Sequence[str]], share: float) -> Plan:
    """`fair_assignment`, with the dual prices of its optimum."""
    cost = np.round(arcs.score * SCALE).astype(np.int64)
    solved = _priced(arcs, cost, _shortlisted(arcs.partner, cost, SHORTLIST), partners, free, None)
    reachable = np.zeros(partners, dtype=bool)
    reachable[arcs.partner] = True
    coverage = float((solved.chosen >= 0).sum() / reachable.sum()) if reachable.any() else 0.0
    quotas = None
    if share > 0 and reachable.any():
        quotas = coverage_quotas(tiers, reachable, share * coverage)
        solved = _priced(arcs, cost, solved.kept, partners, free, quotas)
    return _plan(solved, len(free), tiers[0] if tiers else [], quotas, coverage)


def _plan(solved: _Solved, coaches: int, finest: Sequence[str], quotas: Quotas | None, coverage: float) -> Plan:
    """Dual prices from the potentials that prove the flow optimal. A new partner of group g
    gains from coach c exactly when score > price(c) - boost(g): the arc partner -> c would have
    a negative reduced cost. A quota bonus (worth more than all scores) counts as one score
    point: online it means "take any place" / "only for a partner whose group needs it"."""
    network, potential = solved.network, solved.potential
    bonus = SCALE * (network.partners + 1)

    def score_units(value: Ints) -> Floats:
        if not quotas:  # no bonus in the flow: the potentials are scores
            return np.asarray(value / SCALE, dtype=np.float64)
        # The score part is at most about one score (a dual price never exceeds the score of a
        # partner who pays it), below half a bonus in any pool of two partners or more.
        bonuses = np.floor((value + bonus // 2) / bonus)
        return np.asarray((value - bonuses * bonus) / SCALE + bonuses, dtype=np.float64)

    partners = network.partners
    # A coach with a place left over has no price (the potentials may put it below 0).
    coach_price = np.maximum(score_units(potential[network.sink] - potential[partners + np.arange(coaches)]), 0.0)
    group_boost: dict[str, float] = {}
    if quotas:
        names = np.unique(np.asarray(finest, dtype=str))
        nodes = partners + coaches + np.arange(len(names))
        boosts = score_units(potential[network.sink] - potential[nodes])
        group_boost = dict(zip(names.tolist(), boosts.tolist(), strict=True))
    return Plan(solved.chosen, coach_price, group_boost, coverage)
