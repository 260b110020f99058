"""Matching speed and memory, on the generated catalog (no broker, no database: the in-process
work the service does per assignment, plus the batch optimum).

    uv run --frozen python -m benchmarks.matching_benchmark [online] [batch] [memory]

Writes benchmarks/results/matching.{json,md}. Targets from issue 3: an online proposal for one
partner under 20 ms at 100k leads and 5k coaches (`online_priced_proposal_*`: the priced path
production runs once a batch has run, prices from a fair batch over another pool;
`online_proposal_*`: first come, first served, before any batch); the batch optimum at 10k x 2k under 5 s; the
matching process under 400 MB RSS with 100k leads loaded.
"""

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from samples.matching_catalog import generate_catalog
from samples.matching_partners import generate_partners
from services.matching import domain
from services.matching.assignment import prices
from services.matching.assignment.batch import fairness_tiers, pool_arcs
from services.matching.assignment.matcher import priced_order
from services.matching.assignment.optimum import Plan, fair_assignment, fair_plan, optimal_assignment
from services.matching.catalog.reference import timezone_of
from services.matching.ranking.lead_index import LeadIndex
from services.matching.ranking.vectors import CoachMatrix

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results"


def timed(work: Callable[[], object], runs: int) -> dict[str, float]:
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        # CPU time of this process: what the work costs when other processes share the cores.
        "median_cpu_ms": round(statistics.median(cpu), 2),
        "peak_alloc_mb": round(peak / 2**20, 1),
    }


def situations(partners: list[Any], index: LeadIndex) -> list[domain.Situation]:
    return [
        domain.Situation(
            host=p.host,
            now=NOW,
            host_timezone=timezone_of(p.host),
            start_date=p.start_date,
            rarity=index.rarity,
            related=index.related,
        )
        for p in partners
    ]


def batch_prices(matrix: CoachMatrix, catalog: Any) -> Plan:
    """A fair batch run's prices on another pool of partners from the same generator (as the
    service's online path meets them: yesterday's batch, today's partners). Places are plentiful
    in this pool (about 100 of the 5,000 coaches get a price above 0); the work of one decision
    does not depend on the prices' values."""
    pool = generate_partners(3_000, catalog, today=TODAY, seed=12)
    where = situations(pool, LeadIndex())
    profiles = [p.profile for p in pool]
    arcs = pool_arcs(matrix, profiles, where, np.zeros(len(matrix.coaches), dtype=np.int64))
    return fair_plan(arcs, len(pool), matrix.capacity.tolist(), fairness_tiers(profiles, [p.host for p in pool]), 1.0)


def online_and_ranking() -> dict[str, Any]:
    out: dict[str, Any] = {}
    catalog = generate_catalog(coaches=5_000, job_leads=100_000, today=TODAY)
    partners = generate_partners(200, catalog, today=TODAY)
    matrix = CoachMatrix.build(catalog.coaches)
    load = np.zeros(len(catalog.coaches), dtype=np.int64)
    plan = batch_prices(matrix, catalog)
    allowances = [plan.group_boost.get(prices.group_of(p.profile, p.host), 0.0) for p in partners]
    for size in (10_000, 100_000):
        index = LeadIndex()
        index.upsert_many(catalog.job_leads[:size])
        where = situations(partners, index)
        for partner, s in zip(partners, where, strict=True):  # every host's shard built, as in the service
            index.rank(partner.profile, s, limit=10)
            matrix.ranked(partner.profile, s, load)
        cursor = iter(range(10**9))

        def rank_one(index: LeadIndex = index, where: list[domain.Situation] = where, cursor: Any = cursor) -> object:
            i = next(cursor) % len(partners)
            return index.rank(partners[i].profile, where[i], limit=10)

        out[f"rank_job_leads_one_partner_{size // 1000}k_leads"] = timed(rank_one, 200)

        def propose_one(
            index: LeadIndex = index, where: list[domain.Situation] = where, cursor: Any = cursor
        ) -> object:
            i = next(cursor) % len(partners)
            coaches = matrix.ranked(partners[i].profile, where[i], load)  # what matcher.reserve_best_coach tries
            return coaches, index.rank(partners[i].profile, where[i], limit=10)

        out[f"online_proposal_one_partner_5k_coaches_{size // 1000}k_leads"] = timed(propose_one, 200)

        def propose_priced(
            index: LeadIndex = index, where: list[domain.Situation] = where, cursor: Any = cursor
        ) -> object:
            """What production runs once a batch has priced the coaches (matcher.reserve_priced_coach):
            the eligibility, the priced order, the leads; its three small queries are not included."""
            i = next(cursor) % len(partners)
            profile, situation = partners[i].profile, where[i]
            eligibility = matrix.eligible([profile], [situation.arrival], situation)
            order = priced_order(matrix, eligibility, profile, situation, load, plan.coach_price, allowances[i])
            return order, index.rank(profile, situation, limit=10)

        out[f"online_priced_proposal_one_partner_5k_coaches_{size // 1000}k_leads"] = timed(propose_priced, 200)
    return out


def batch_optimum() -> dict[str, Any]:
    catalog = generate_catalog(coaches=2_000, job_leads=0, today=TODAY)
    coaches = [c.model_copy(update={"capacity": max(1, c.capacity // 2)}) for c in catalog.coaches]
    leads_catalog = generate_catalog(coaches=1, job_leads=5_000, today=TODAY)
    partners = generate_partners(10_000, leads_catalog, today=TODAY)
    matrix = CoachMatrix.build(coaches)
    where = situations(partners, LeadIndex())
    zero = np.zeros(len(coaches), dtype=np.int64)
    profiles = [p.profile for p in partners]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    arcs = pool_arcs(matrix, profiles, where, zero)
    built = time.perf_counter()
    optimal_assignment(arcs, len(partners), matrix.capacity.tolist())
    solved = time.perf_counter()
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # growth of the peak
    tiers = fairness_tiers(profiles, [p.host for p in partners])
    fair_started = time.perf_counter()
    fair_assignment(arcs, len(partners), matrix.capacity.tolist(), tiers, share=1.0)
    fair_s = time.perf_counter() - fair_started
    return {
        "batch_optimum_10k_partners_2k_coaches": {
            "arcs": len(arcs.partner),
            "scoring_s": round(built - started, 2),
            "min_cost_flow_s": round(solved - built, 2),
            "total_s": round(solved - started, 2),
            "peak_rss_growth_mb": round(peak / 2**20, 1),
        },
        "fair_batch_10k_partners_2k_coaches": {
            "min_cost_flow_s": round(fair_s, 2),
            "total_s": round(built - started + fair_s, 2),
        },
    }


_RSS_PROBE = """
import gc, resource
from datetime import date
from services.matching.ranking.lead_index import LeadIndex
from services.matching.ranking.vectors import CoachMatrix
from samples.matching_catalog import generate_catalog
from services.matching import handlers  # the service's own modules, as loaded when it runs
catalog = generate_catalog(coaches=5000, job_leads=100000, today=date(2026, 11, 22))
index = LeadIndex()
index.upsert_many(catalog.job_leads)
matrix = CoachMatrix.build(catalog.coaches)
index._shard("NO"); index._shard("US")
del catalog
gc.collect()
rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
print(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def service_memory() -> dict[str, Any]:
    """RSS of a fresh process holding the service's catalog structures for 100k leads and 5k
    coaches; the peak includes the generated contracts, which the service never holds at once."""
    output = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, check=True).stdout
    rss, peak = (int(v) for v in output.split())
    return {
        "matching_process_100k_leads_5k_coaches": {"rss_mb": round(rss / 2**20), "peak_rss_mb": round(peak / 2**20)}
    }


def main(parts: list[str]) -> dict[str, Any]:
    """All parts, or only those named (`online`, `batch`, `memory`): the others keep their last
    committed figures."""
    result: dict[str, Any] = {"machine": "2-core shared dev machine; medians of 200 runs"}
    if parts and (RESULTS / "matching.json").exists():
        result.update(json.loads((RESULTS / "matching.json").read_text()))
    if not parts or "online" in parts:
        result.update(online_and_ranking())
    gc.collect()
    if not parts or "batch" in parts:
        result.update(batch_optimum())
    if not parts or "memory" in parts:
        result.update(service_memory())
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    return result


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Matching benchmark (generated by `python -m benchmarks.matching_benchmark`)", ""]
    for name, value in result.items():
        lines.append(f"- **{name}**: {value}")
    (RESULTS / "matching.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    outcome = main(sys.argv[1:])
    write(outcome)
    print(json.dumps(outcome, indent=2))
