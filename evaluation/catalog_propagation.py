"""How long a catalog change takes to reach every partner it affects, on the real path: a private
local stack (Kafka, PostgreSQL, every service, two matching replicas), a provider publishing on
its own catalog topics, the partners' matches announced on `match.updated`.

    ./dev run python -m evaluation.catalog_propagation [partners] [changes]

`partners` (default 100) open partners in one host country, with three coaches there; then, one
change at a time, `changes` (default 10) of each kind:

- lead_added: a job lead every partner should get; reached when every partner's `match.updated`
  adds it;
- lead_withdrawn: its tombstone; reached when every partner's `match.updated` removes it;
- capacity_lowered: a coach's capacity set 5 below its load; reached when the 5 partners it
  released have their `match.updated` (re-matched to another coach, or told none is free).

Time = Kafka timestamp of the last of those `match.updated` records (written by matching's
outbox relay: from then on notifications can tell the partner) minus the catalog record's. Both
are stamped by producers on this machine, so they share a clock. The time to e-mail the partner
after that is the pipeline benchmark's (benchmarks/pipeline.py).

Writes evaluation/results/catalog_propagation.{json,md}, with the machine's load average. Nothing
here asserts a timing.
"""

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.local import kafka_access, stack
from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, SERVICES, StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from shared import topics
from shared.topics import FirmEvent, Kind, ProviderEvent, firm_topic, provider_topic

RESULTS = Path(__file__).parent / "results"
HOST = {"city": "Luxembourg", "country": "LU"}  # no sample coach or lead there
LANGUAGE = "lb"
FIRM, PROVIDER = LOCAL_FIRMS[0], LOCAL_PROVIDERS[0]
COACHES = provider_topic(PROVIDER, ProviderEvent.CATALOG_COACHES)
JOB_LEADS = provider_topic(PROVIDER, ProviderEvent.CATALOG_JOB_LEADS)
RELEASED = 5  # partners a capacity change releases


def coach(coach_id: str, capacity: int) -> dict[str, Any]:
    return {
        "coach_id": coach_id,
        "display_name": f"Coach {coach_id}",
        "contact_email": f"{coach_id}@coach.example",
        "languages": [{"code": LANGUAGE, "level": "C2"}],
        "sectors": ["energy"],
        "specialties": ["employment"],
        "cities": [HOST],
        "remote": False,
        "timezone": "Europe/Luxembourg",
        "capacity": capacity,
        "rating": 4.6,
    }


def job_lead(lead_id: str) -> dict[str, Any]:
    return {
        "job_lead_id": lead_id,
        "kind": "job",
        "title": "Reservoir engineer",
        "organisation": "Geothermal Power SA",
        "location": HOST,
        "remote": False,
        "sector": "energy",
        "occupation": "reservoir engineer",
        "skills": ["perform reservoir simulation", "manage project"],
        "required_languages": [],
        "work_rights_required": False,
        "visa_sponsorship": False,
        "expires_at": (datetime.now(UTC) + timedelta(days=20)).isoformat(),
    }


class Matches:
    """match.proposed and match.updated as they arrive, with their Kafka timestamps."""

    def __init__(self, cfg: StackConfig) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.MATCH_PROPOSED,
            topics.MATCH_UPDATED,
            bootstrap_servers=cfg.kafka_bootstrap,
            group_id=f"evaluation-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            **kafka_access.client_options(cfg),
        )
        self.proposed: set[str] = set()
        self.updates: list[tuple[int, dict[str, Any]]] = []  # (timestamp ms, payload)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _collect(self) -> None:
        async for record in self._consumer:
            payload = json.loads(record.value or b"{}").get("payload", {})
            if record.topic == topics.MATCH_PROPOSED:
                self.proposed.add(str(payload.get("assignment_id")))
            else:
                self.updates.append((record.timestamp, payload))


def listing(field: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda payload: value in payload[field]


def naming(field: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda payload: payload[field] == value


async def until(check: Callable[[], bool], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not reached within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(0.05)


async def measure(cfg: StackConfig, partners: int, changes: int) -> dict[str, Any]:
    firm = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, acks="all", **kafka_access.tenant_options(cfg, Kind.FIRM, FIRM)
    )
    provider = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, acks="all", **kafka_access.tenant_options(cfg, Kind.PROVIDER, PROVIDER)
    )
    matches = Matches(cfg)
    database = await asyncpg.connect(cfg.database_url("matching"))
    await firm.start()
    await provider.start()
    await matches.start()
    try:

        async def publish(topic: str, key: str, value: dict[str, Any] | None) -> int:
            producer = provider if topic in (COACHES, JOB_LEADS) else firm
            raw = None if value is None else json.dumps(value).encode()
            sent = await producer.send_and_wait(topic, value=raw, key=key.encode())
            return int(sent.timestamp)

        coach_ids = [f"coach-eval-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
        for coach_id in coach_ids:
            await publish(COACHES, coach_id, coach(coach_id, 60))
        known: list[bool] = [False]

        async def coaches_known() -> None:
            while not known[0]:
                count = await database.fetchval("SELECT count(*) FROM coaches WHERE coach_id = ANY($1)", coach_ids)
                known[0] = count == len(coach_ids)
                await asyncio.sleep(0.05)

        await asyncio.wait_for(coaches_known(), timeout=120)
        family = replace(SAMPLE_FAMILIES[0], partner_languages={LANGUAGE: "C2"}, host=(HOST["city"], HOST["country"]))
        ids = []
        for _ in range(partners):
            request = assignment_request(family, firm_id=FIRM)
            ids.append(request["payload"]["assignment_id"])
            await publish(firm_topic(FIRM, FirmEvent.ASSIGNMENT_REQUESTED), ids[-1], request)
        await until(lambda: set(ids) <= matches.proposed, "every partner proposed")
        wanted = set(ids)
        results: dict[str, list[int]] = {"lead_added": [], "lead_withdrawn": [], "capacity_lowered": []}

        async def reached(
            start: int, sent_at: int, what: str, match: Callable[[dict[str, Any]], bool], count: int
        ) -> int:
            """Milliseconds from `sent_at` until `count` partners had a match.updated that `match`es
            (the first such update of each partner), among the updates after the `start`th."""
            seen: dict[str, int] = {}

            def done() -> bool:
                for at, payload in matches.updates[start:]:
                    key = str(payload.get("assignment_id"))
                    if key in wanted and match(payload):
                        seen.setdefault(key, at)
                return len(seen) >= count

            await until(done, what)
            return max(seen.values()) - sent_at

        for _ in range(changes):
            lead_id = f"lead-eval-{uuid.uuid4().hex[:8]}"
            start, sent = len(matches.updates), await publish(JOB_LEADS, lead_id, job_lead(lead_id))
            added = await reached(start, sent, "lead added", listing("added_job_lead_ids", lead_id), partners)
            results["lead_added"].append(added)
            start, sent = len(matches.updates), await publish(JOB_LEADS, lead_id, None)
            removed = await reached(start, sent, "lead withdrawn", listing("removed_job_lead_ids", lead_id), partners)
            results["lead_withdrawn"].append(removed)
        for _ in range(changes):
            busiest = await database.fetchrow(
                "SELECT coach_id, active_partners FROM coaches WHERE coach_id = ANY($1)"
                " ORDER BY active_partners DESC LIMIT 1",
                coach_ids,
            )
            assert busiest is not None
            coach_id, load = busiest["coach_id"], busiest["active_partners"]
            if load < RELEASED:
                break
            start, sent = len(matches.updates), await publish(COACHES, coach_id, coach(coach_id, load - RELEASED))
            moved = await reached(start, sent, "capacity lowered", naming("previous_coach_id", coach_id), RELEASED)
            results["capacity_lowered"].append(moved)
    finally:
        await matches.stop()
        await firm.stop()
        await provider.stop()
        await database.close()
    return {
        kind: {
            "changes": len(times),
            "partners_reached_each": partners if kind != "capacity_lowered" else RELEASED,
            "median_ms": round(statistics.median(times)),
            "p95_ms": round(sorted(times)[int(0.95 * (len(times) - 1))]),
            "max_ms": round(max(times)),
        }
        for kind, times in results.items()
        if times
    }


def main(argv: list[str]) -> dict[str, Any]:
    partners = int(argv[0]) if argv else 100
    changes = int(argv[1]) if len(argv) > 1 else 10
    result: dict[str, Any] = {
        "path": "real: local stack, matching x2, provider -> catalog topic -> matching -> outbox -> match.updated",
        "partners": partners,
        "load_average_before": round(os.getloadavg()[0], 1),
    }
    with tempfile.TemporaryDirectory(prefix="trailblazer-eval-") as scratch:
        cfg = StackConfig.for_tests(Path(scratch), with_zipkin=False)
        try:
            stack.start_infra(cfg)
            stack.create_topics(cfg)
            env = {"TRAILBLAZER_SAMPLE_CATALOG": "true", "OTEL_TRACES_EXPORTER": "none"}
            stack.start_services(cfg, replicas={"matching": 2}, extra_env={s: env for s in SERVICES})
            result.update(asyncio.run(measure(cfg, partners, changes)))
        finally:
            stack.stop(cfg)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    return result


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalog_propagation.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Catalog change to every affected partner (`python -m evaluation.catalog_propagation`)", ""]
    lines += [f"- **{name}**: {value}" for name, value in result.items()]
    (RESULTS / "catalog_propagation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(main(sys.argv[1:]))
