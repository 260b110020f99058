"""Quality of matching on a generated pool: 10k partners x 2k coaches x 100k job leads, coach
capacity halved so places are scarce, minority languages in every host.

    uv run --frozen python -m evaluation.matching_quality [partners coaches leads]

Writes evaluation/results/matching_quality.{json,md}. Batch = min-cost flow over the whole pool,
the exact optimum of total score. Fair batch = what the service's batch runs by default: the best
total score among assignments that cover every language group, and every host country inside it,
at the pool's average coverage where coaches allow (`batch_fair_share` = 1.0).

Online modes take partners one by one in arrival order. First come = each takes the best coach
with a free place (the service before prices). Online = what the service does now
(assignment/prices.py): the prices, boosts and coverage of the last two batch runs, which ran on
two *other* pools of partners drawn from the same generator (seeds 12 and 13: yesterday's
partners, not the ones being matched), and balances per language and host country that start at
zero and move as partners arrive.
"""

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from samples.matching_catalog import generate_catalog
from samples.matching_partners import SamplePartner, generate_partners
from services.matching import domain
from services.matching.assignment import prices
from services.matching.assignment.batch import fairness_tiers, pool_arcs
from services.matching.assignment.optimum import fair_assignment, fair_plan, optimal_assignment
from services.matching.catalog.reference import timezone_of
from services.matching.ranking.lead_index import LeadIndex
from services.matching.ranking.vectors import CoachMatrix
from services.matching.settings import MatchingSettings

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results"
LEADS_PER_PARTNER = 10
MODES = ("batch", "fair_batch", "online_first_come", "online")
# The pools the last two batch runs saw (the evaluation pool is seed 11).
BATCH_SEEDS = (12, 13)


def situation(partner: SamplePartner, index: LeadIndex) -> domain.Situation:
    return domain.Situation(
        host=partner.host,
        now=NOW,
        host_timezone=timezone_of(partner.host),
        start_date=partner.start_date,
        rarity=index.rarity,
        related=index.related,
    )


def online(matrix: CoachMatrix, partners: list[SamplePartner], situations: list[domain.Situation]) -> np.ndarray:
    load = np.zeros(len(matrix.coaches), dtype=np.int64)
    chosen = np.full(len(partners), -1, dtype=np.int64)
    for i, (partner, where) in enumerate(zip(partners, situations, strict=True)):
        mask, scores = matrix.scores(partner.profile, where, load)
        if mask.any():
            best = int(np.flatnonzero(mask)[np.argmax(scores[mask])])
            chosen[i], load[best] = best, load[best] + 1
    return chosen


def online_priced(
    matrix: CoachMatrix,
    partners: list[SamplePartner],
    situations: list[domain.Situation],
    market: prices.MarketPrices,
    *,
    balanced: bool = True,
) -> tuple[np.ndarray, int]:
    """The service's online decision (assignment/matcher.py) without the database around it;
    and how many partners it held back while a feasible coach had a free place. `balanced`
    False: without the balances (ablation)."""
    held = 0
    load = np.zeros(len(matrix.coaches), dtype=np.int64)
    at_batch = np.zeros(len(matrix.coaches), dtype=np.int64)
    price = np.array([market.coach_price.get(c.coach_id, 0.0) for c in matrix.coaches])
    balances: dict[str, float] = defaultdict(float)
    chosen = np.full(len(partners), -1, dtype=np.int64)
    for i, (partner, where) in enumerate(zip(partners, situations, strict=True)):
        eligibility = matrix.eligible([partner.profile], [where.arrival], where)
        if not eligibility.mask.any():
            continue
        keys = prices.balance_keys(partner.profile, partner.host)
        allowance = market.group_boost.get(prices.group_of(partner.profile, partner.host), 0.0)
        allowance += sum(balances[key] for key in keys)
        mask, score = matrix.pool_scores([partner.profile], [where.arrival], where, load, eligibility)
        _, batch_score = matrix.pool_scores([partner.profile], [where.arrival], where, at_batch, eligibility)
        free = np.flatnonzero(mask[0])
        order = prices.coach_order(score[0][free], batch_score[0][free], price[free], allowance)
        if len(order):
            best = int(free[order[0]])
            chosen[i], load[best] = best, load[best] + 1
        held += len(free) > 0 and len(order) == 0
        step = prices.balance_step(market.target, len(order) > 0) if balanced else 0.0
        for key in keys:
            balances[key] = prices.next_balance(balances[key], step)
    return chosen, held


def online_latency(
    index: LeadIndex, partners: list[SamplePartner], market: prices.MarketPrices, runs: int = 200
) -> dict[str, Any]:
    """The computation of one online proposal at 5k coaches and this pool's 100k leads, as the
    benchmark measures it (no database round trips): first come (rank coaches, rank leads) and
    priced (eligibility, scores at today's load and at the batch's, clearing, rank leads)."""
    coaches = generate_catalog(coaches=5_000, job_leads=0, today=TODAY).coaches
    matrix = CoachMatrix.build(coaches)
    load = np.zeros(len(coaches), dtype=np.int64)
    price = np.array([market.coach_price.get(c.coach_id, 0.0) for c in coaches])
    sample = partners[:runs]
    where = [situation(p, index) for p in sample]
    for partner, at in zip(sample, where, strict=True):  # every host's lead shard and in-person row built
        index.rank(partner.profile, at, limit=LEADS_PER_PARTNER)
        matrix.ranked(partner.profile, at, load)

    def first_come(i: int) -> object:
        return matrix.ranked(sample[i].profile, where[i], load), index.rank(sample[i].profile, where[i], limit=10)

    def priced(i: int) -> object:
        profile, at = sample[i].profile, where[i]
        eligibility = matrix.eligible([profile], [at.arrival], at)
        mask, score = matrix.pool_scores([profile], [at.arrival], at, load, eligibility)
        _, at_batch = matrix.pool_scores([profile], [at.arrival], at, np.zeros_like(load), eligibility)
        free = np.flatnonzero(mask[0])
        order = free[prices.coach_order(score[0][free], at_batch[0][free], price[free], 0.0)]
        return order, index.rank(profile, at, limit=10)

    out: dict[str, Any] = {"coaches": len(coaches), "job_leads": len(index), "partners": len(sample)}
    # Wall time is what a partner waits on a quiet machine; on a shared one, CPU time is the cost.
    out["load_average_before"] = round(os.getloadavg()[0], 1)
    for name, work in (("first_come", first_come), ("online", priced)):
        wall, cpu = [], []
        for i in range(len(sample)):
            started, started_cpu = time.perf_counter(), time.process_time()
            work(i)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        wall.sort()
        out[name] = {
            "median_ms": round(float(np.median(wall)), 2),
            "p95_ms": round(wall[int(0.95 * (len(wall) - 1))], 2),
            "median_cpu_ms": round(float(np.median(cpu)), 2),
        }
    out["load_average_after"] = round(os.getloadavg()[0], 1)
    return out


def last_batches(catalog: Any, matrix: CoachMatrix, index: LeadIndex, n_partners: int) -> prices.MarketPrices:
    """The prices the service's batch would have written after matching two earlier pools."""
    zero = np.zeros(len(matrix.coaches), dtype=np.int64)
    runs = []
    for run, seed in enumerate(BATCH_SEEDS, start=1):
        pool = generate_partners(n_partners, catalog, seed=seed, today=TODAY)
        where = [situation(p, index) for p in pool]
        arcs = pool_arcs(matrix, [p.profile for p in pool], where, zero)
        tiers = fairness_tiers([p.profile for p in pool], [p.host for p in pool])
        plan = fair_plan(arcs, len(pool), matrix.capacity.tolist(), tiers, MatchingSettings().batch_fair_share)
        coach_price = {c.coach_id: float(p) for c, p in zip(matrix.coaches, plan.coach_price, strict=True)}
        runs.append((run, coach_price, plan.group_boost, plan.coverage))
    return prices.average(runs)


def groups(
    partners: list[SamplePartner], chosen: np.ndarray, score_of: dict[int, float], reachable: np.ndarray
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    keys: tuple[tuple[str, Callable[[SamplePartner], str]], ...] = (
        ("language", lambda p: domain.strongest_language(p.profile)),
        ("host_country", lambda p: p.host.country),
    )
    for name, key in keys:
        members: dict[str, list[int]] = defaultdict(list)
        for i, partner in enumerate(partners):
            if reachable[i]:
                members[key(partner)].append(i)
        table = {
            group: {
                "partners": len(ids),
                "coverage": round(float(np.mean(chosen[ids] >= 0)), 4),
                "mean_score": round(float(np.mean([score_of.get(i, 0.0) for i in ids])), 4),
            }
            for group, ids in sorted(members.items())
            if len(ids) >= 20
        }
        coverages = [g["coverage"] for g in table.values()]
        scores = [g["mean_score"] for g in table.values()]
        out[name] = {
            "groups": table,
            "coverage_min_max_ratio": round(min(coverages) / max(coverages), 4),
            "mean_score_min_max_ratio": round(min(scores) / max(scores), 4),
            "flagged_below_0_8": sorted(g for g, v in table.items() if v["coverage"] < 0.8 * max(coverages)),
        }
    return out


def coach_violations(matrix: CoachMatrix, partners: list[SamplePartner], situations: list[Any], chosen: Any) -> int:
    counts = np.bincount(chosen[chosen >= 0], minlength=len(matrix.coaches))
    violations = int((counts > matrix.capacity).sum())
    for i in np.flatnonzero(chosen >= 0):
        candidate = domain.CoachCandidate(matrix.coaches[chosen[i]], 0)
        violations += not domain.coach_is_feasible(candidate, partners[i].profile, situations[i])
    return violations


def lead_violations(
    index: LeadIndex, leads: dict[str, Any], partners: list[SamplePartner], situations: list[Any]
) -> dict[str, Any]:
    violations, proposed, with_leads = 0, 0, 0
    started = time.perf_counter()
    for partner, where in zip(partners, situations, strict=True):
        ranked = index.rank(partner.profile, where, limit=LEADS_PER_PARTNER)
        proposed += len(ranked)
        with_leads += bool(ranked)
        violations += sum(
            not domain.lead_is_proposable(leads[lead_id], partner.profile, where) for lead_id, _ in ranked
        )
    return {
        "partners_with_leads": round(with_leads / len(partners), 4),
        "leads_proposed": proposed,
        "violations": violations,
        "seconds_for_all_partners": round(time.perf_counter() - started, 2),
    }


def main(
    n_partners: int = 10_000, n_coaches: int = 2_000, n_leads: int = 100_000, *, with_leads: bool = True
) -> dict[str, Any]:
    started = time.perf_counter()
    catalog = generate_catalog(coaches=n_coaches, job_leads=n_leads, today=TODAY)
    # Scarce places: half of each coach's capacity (at least one).
    coaches = [c.model_copy(update={"capacity": max(1, c.capacity // 2)}) for c in catalog.coaches]
    partners = generate_partners(n_partners, catalog, today=TODAY)
    index = LeadIndex()
    index.upsert_many(catalog.job_leads)
    matrix = CoachMatrix.build(coaches)
    situations = [situation(p, index) for p in partners]
    generated = time.perf_counter() - started

    zero = np.zeros(len(coaches), dtype=np.int64)
    t = time.perf_counter()
    arcs = pool_arcs(matrix, [p.profile for p in partners], situations, zero)
    scoring_s = time.perf_counter() - t
    t = time.perf_counter()
    batch = optimal_assignment(arcs, len(partners), matrix.capacity.tolist())
    batch_s = scoring_s + time.perf_counter() - t
    t = time.perf_counter()
    tiers = fairness_tiers([p.profile for p in partners], [p.host for p in partners])
    fair = fair_assignment(arcs, len(partners), matrix.capacity.tolist(), tiers, MatchingSettings().batch_fair_share)
    fair_s = scoring_s + time.perf_counter() - t
    t = time.perf_counter()
    greedy = online(matrix, partners, situations)
    first_come_s = time.perf_counter() - t
    market = last_batches(catalog, matrix, index, n_partners)
    t = time.perf_counter()
    priced, held_back = online_priced(matrix, partners, situations, market)
    online_s = time.perf_counter() - t
    # Which part does what: the same decision without the balances, without the boosts, without both.
    no_boosts = prices.MarketPrices(market.coach_price, {}, market.coverage, market.runs)
    ablations = {
        "without_balances": online_priced(matrix, partners, situations, market, balanced=False)[0],
        "without_boosts": online_priced(matrix, partners, situations, no_boosts)[0],
        "prices_alone": online_priced(matrix, partners, situations, no_boosts, balanced=False)[0],
    }

    arc_score = {(int(p), int(c)): float(s) for p, c, s in zip(arcs.partner, arcs.coach, arcs.score, strict=True)}
    reachable = np.zeros(len(partners), dtype=bool)
    reachable[np.unique(arcs.partner)] = True

    def summary(chosen: np.ndarray, seconds: float) -> dict[str, Any]:
        score_of = {int(i): arc_score[(int(i), int(chosen[i]))] for i in np.flatnonzero(chosen >= 0)}
        return {
            "utility": round(sum(score_of.values()), 2),
            "coverage_of_reachable": round(float(np.mean(chosen[reachable] >= 0)), 4),
            "coverage_of_all": round(float(np.mean(chosen >= 0)), 4),
            "seconds": round(seconds, 2),
            "hard_constraint_violations": coach_violations(matrix, partners, situations, chosen),
            "fairness": groups(partners, chosen, score_of, reachable),
        }

    def ablated(chosen: np.ndarray) -> dict[str, Any]:
        result = summary(chosen, 0.0)
        return {
            "utility_share_of_optimum": round(result["utility"] / optimum, 4),
            "coverage_min_max_by_language": result["fairness"]["language"]["coverage_min_max_ratio"],
            "coverage_min_max_by_host_country": result["fairness"]["host_country"]["coverage_min_max_ratio"],
        }

    result_batch, result_online = summary(batch, batch_s), summary(priced, online_s)
    result_fair, result_first_come = summary(fair, fair_s), summary(greedy, first_come_s)
    optimum = result_batch["utility"]
    leads = {lead.job_lead_id: lead for lead in catalog.job_leads}
    return {
        "pool": {
            "partners": n_partners,
            "coaches": n_coaches,
            "coach_places": int(matrix.capacity.sum()),
            "job_leads": n_leads,
            "feasible_arcs": len(arcs.partner),
            "partners_with_a_feasible_coach": int(reachable.sum()),
            "generation_seconds": round(generated, 1),
        },
        "batch": {**result_batch, "utility_share_of_optimum": 1.0},
        "fair_batch": {**result_fair, "utility_share_of_optimum": round(result_fair["utility"] / optimum, 4)},
        "online_first_come": {
            **result_first_come,
            "utility_share_of_optimum": round(result_first_come["utility"] / optimum, 4),
        },
        "online": {**result_online, "utility_share_of_optimum": round(result_online["utility"] / optimum, 4)},
        "online_vs_batch_gap": round(1 - result_online["utility"] / optimum, 4),
        "online_ablation": {name: ablated(chosen) for name, chosen in ablations.items()},
        "online_prices": {
            "batch_runs": len(market.runs),
            "batch_seeds": list(BATCH_SEEDS),
            "coverage_target": round(market.target, 4),
            "priced_coaches": sum(1 for v in market.coach_price.values() if v > 0),
            "held_back": held_back,
        },
        "online_proposal_latency": online_latency(index, partners, market),
        "job_leads": lead_violations(index, leads, partners, situations) if with_leads else None,
    }


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Matching quality (generated by `python -m evaluation.matching_quality`)", ""]
    pool = result["pool"]
    lines.append(
        f"Pool: {pool['partners']} partners, {pool['coaches']} coaches with {pool['coach_places']} places,"
        f" {pool['job_leads']} job leads; {pool['feasible_arcs']} feasible partner-coach pairs;"
        f" {pool['partners_with_a_feasible_coach']} partners have at least one feasible coach."
    )
    lines += ["", "| mode | utility share of optimum | coverage (reachable) | coverage (all) | violations | s |"]
    lines.append("|---|---|---|---|---|---|")
    for mode in MODES:
        r = result[mode]
        lines.append(
            f"| {mode} | {r['utility_share_of_optimum']:.2%} | {r['coverage_of_reachable']:.2%} |"
            f" {r['coverage_of_all']:.2%} | {r['hard_constraint_violations']} | {r['seconds']} |"
        )
    for mode in MODES:
        for group, data in result[mode]["fairness"].items():
            lines.append(
                f"\n{mode}, per {group}: coverage min/max {data['coverage_min_max_ratio']},"
                f" mean score min/max {data['mean_score_min_max_ratio']}, flagged (< 0.8 of best):"
                f" {', '.join(data['flagged_below_0_8']) or 'none'}"
            )
    market = result["online_prices"]
    lines.append(
        f"\nOnline prices: averaged over {market['batch_runs']} batch runs on other pools (seeds"
        f" {market['batch_seeds']}); coverage target {market['coverage_target']}; {market['priced_coaches']}"
        f" coaches with a price > 0; partners held back for places others need: {market['held_back']}."
    )
    lines.append("\n| online, ablated | utility share of optimum | coverage min/max by language | by host country |")
    lines.append("|---|---|---|---|")
    for name, data in result["online_ablation"].items():
        lines.append(
            f"| {name.replace('_', ' ')} | {data['utility_share_of_optimum']:.2%} |"
            f" {data['coverage_min_max_by_language']} | {data['coverage_min_max_by_host_country']} |"
        )
    latency = result["online_proposal_latency"]
    lines.append(
        f"\nOnline proposal, one partner, {latency['coaches']} coaches and {latency['job_leads']} job leads (the"
        f" computation, no database): first come median {latency['first_come']['median_ms']} ms (p95"
        f" {latency['first_come']['p95_ms']}, CPU {latency['first_come']['median_cpu_ms']}); priced median"
        f" {latency['online']['median_ms']} ms (p95 {latency['online']['p95_ms']}, CPU"
        f" {latency['online']['median_cpu_ms']}); load average {latency['load_average_before']}"
        f" before, {latency['load_average_after']} after."
    )
    j = result["job_leads"]
    if j is not None:
        lines.append(
            f"\nJob leads: {j['partners_with_leads']:.2%} of partners get at least one; {j['leads_proposed']} proposed,"
            f" {j['violations']} hard-constraint violations; {j['seconds_for_all_partners']} s for all partners."
        )
    (RESULTS / "matching_quality.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    # --no-leads: the coach modes only (quick; the committed results are run with the leads).
    sizes = [int(a) for a in sys.argv[1:] if not a.startswith("--")][:3]
    outcome = main(*sizes, with_leads="--no-leads" not in sys.argv)
    write(outcome)
    print((RESULTS / "matching_quality.md").read_text())
