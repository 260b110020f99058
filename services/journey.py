"""One assignment's journey, end to end, for an operator:

    python -m services.journey <assignment_id> [--since 2026-11-30T10:00]

In time order: every record keyed by the assignment on the platform's topics (and, once its firm
is known, on the firm's own topics), what intake, matching and notifications recorded in their
databases (states, proposals, each delivery's course), and the link to its trace. Ids, statuses,
codes and times only: no names, addresses or message content.

Each service's database comes from `--<service>-database-url` or `TRAILBLAZER_<SERVICE>_DATABASE_URL`
(default: the local stack's), the broker from `--bootstrap` or `TRAILBLAZER_KAFKA_BOOTSTRAP`, the
trace link from `TRAILBLAZER_TRACE_URL` (a template with `{trace_id}`, default the local Zipkin).
A source that cannot be reached is named in the output; the others are still shown. This command
is the one place that reads every service's data: each service's SQL stays in its own
`timeline.py`.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import dead_letter, topics
from shared.db import set_json_codecs
from shared.kafka_security import KafkaSecurity
from shared.ops.cli import add_connection_options
from shared.settings import ServiceSettings, local_database_url
from shared.timeline import Step

from .intake import timeline as intake_timeline
from .matching import timeline as matching_timeline
from .notifications import timeline as notifications_timeline

Timeline = Callable[[Any, uuid.UUID], Awaitable[list[Step]]]
SERVICES: dict[str, Timeline] = {
    "intake": intake_timeline.timeline,
    "matching": matching_timeline.timeline,
    "notifications": notifications_timeline.timeline,
}
DEFAULT_TRACE_URL = "http://127.0.0.1:9411/zipkin/traces/{trace_id}"
_READ_BUDGET_S = 60.0
_ACCEPTED = "accepted for firm "  # intake's step, which names the firm
# Records before the first database step by up to this much still belong to the journey.
_EARLIER = timedelta(minutes=10)


@dataclass
class Journey:
    assignment_id: uuid.UUID
    steps: list[Step]
    trace_ids: list[str]
    unreachable: list[str]
    firm_id: str | None

    def lines(self, trace_url: str) -> list[str]:
        out = [f"journey of assignment {self.assignment_id}" + (f" (firm {self.firm_id})" if self.firm_id else "")]
        out += [f"trace: {trace_url.format(trace_id=trace_id)}" for trace_id in self.trace_ids]
        out += [f"(not read: {source})" for source in self.unreachable]
        if not self.steps:
            out.append("nothing found: no record keyed by this id, no row in any service's database")
        width = max((len(step.source) for step in self.steps), default=0)
        for step in sorted(self.steps):
            at = f"{step.at.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
            out.append(f"{at}  {step.source:<{width}}  {step.what}")
        return out


async def _database_steps(name: str, url: str, assignment_id: uuid.UUID) -> list[Step]:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await set_json_codecs(connection)
        return await SERVICES[name](connection, assignment_id)
    finally:
        await connection.close()


def _record_step(record: Any) -> tuple[Step, str | None]:
    headers = {name: (value or b"").decode("utf-8", "replace") for name, value in record.headers or ()}
    trace_id = headers.get("traceparent", "").split("-")[1] if headers.get("traceparent", "").count("-") == 3 else None
    try:
        body = json.loads(record.value) if record.value else None
    except (ValueError, RecursionError):
        body = None
    body = body if isinstance(body, dict) else {}
    payload: dict[str, Any] = body["payload"] if isinstance(body.get("payload"), dict) else {}
    what = str(body.get("event_type") or headers.get("event_type") or "(not an event)")
    if record.topic == topics.DEAD_LETTER or dead_letter.REASON in headers:
        what = f"dead letter from {headers.get(dead_letter.CONSUMER, '?')}: {headers.get(dead_letter.REASON, '?')}"
    elif "errors" in payload:
        what += ": " + "; ".join(f"{e.get('field')}={e.get('code')}" for e in payload["errors"] if isinstance(e, dict))
    elif "status" in payload:
        what += f": {payload.get('stakeholder', '')} {payload.get('channel', '')} {payload['status']}".rstrip()
    elif "reason" in payload:
        what += f": {payload['reason']}"
    elif isinstance(payload.get("coach"), dict):
        what += f": coach {payload['coach'].get('coach_id')}, {len(payload.get('job_leads', []))} job leads"
    elif body.get("event_type") == "stakeholder.notified":
        what += f": {payload.get('stakeholder')} by {payload.get('channel')}"
    at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return Step(at, f"{record.topic} [{record.partition}@{record.offset}]", what), trace_id


async def _record_steps(
    bootstrap: str, security: KafkaSecurity, key: bytes, topic_names: Sequence[str], since: datetime | None
) -> tuple[list[Step], list[str]]:
    """Every record with this key on the topics that exist, from `since` (all if None)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10_000, **security.client_options()
    )
    await consumer.start()
    steps: list[Step] = []
    trace_ids: list[str] = []
    try:
        # The whole cluster's metadata: `consumer.topics()` fetches it too but keeps it to itself,
        # and `partitions_for_topic` knows only topics the consumer already asked about.
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(topic, partition)
            for topic in topic_names
            for partition in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return [], []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        if since is not None:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            starts = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in partitions}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in partitions if starts[tp] < ends[tp]}
        deadline = time.monotonic() + _READ_BUDGET_S
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} partition(s) not read to their end in {_READ_BUDGET_S:.0f} s")
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    if record.key == key:
                        step, trace_id = _record_step(record)
                        steps.append(step)
                        if trace_id and trace_id not in trace_ids:
                            trace_ids.append(trace_id)
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return steps, trace_ids


def _topics(firm_id: str | None) -> list[str]:
    names = [spec.name for spec in topics.TOPICS if "catalog" not in spec.name]
    if firm_id is not None and hasattr(topics, "firm_topic"):
        names += [topics.firm_topic(firm_id, event) for event in topics.FirmEvent]
    return names


async def build(
    assignment_id: uuid.UUID,
    database_urls: dict[str, str],
    bootstrap: str,
    security: KafkaSecurity,
    since: datetime | None = None,
) -> Journey:
    steps: list[Step] = []
    unreachable: list[str] = []
    for name, url in database_urls.items():
        try:
            steps += await _database_steps(name, url, assignment_id)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            unreachable.append(f"{name}'s database ({type(error).__name__})")
    accepted = [s.what for s in steps if s.what.startswith(_ACCEPTED)]
    firm_id = accepted[0].removeprefix(_ACCEPTED).split(":")[0] if accepted else None
    if since is None and steps:
        since = min(step.at for step in steps) - _EARLIER
    trace_ids: list[str] = []
    try:
        key = str(assignment_id).encode()
        records, trace_ids = await _record_steps(bootstrap, security, key, _topics(firm_id), since)
        steps += records
    except Exception as error:  # the broker away: the databases' story still stands
        unreachable.append(f"Kafka at {bootstrap} ({type(error).__name__})")
    return Journey(assignment_id, steps, trace_ids, unreachable, firm_id)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.journey", description=__doc__.split("\n")[0])
    parser.add_argument("assignment_id", type=uuid.UUID)
    parser.add_argument(
        "--since", type=datetime.fromisoformat, help="read topics from here (default: 10 min before its first step)"
    )
    for name in SERVICES:
        parser.add_argument(
            f"--{name}-database-url",
            default=None,
            help=f"{name}'s database (default: TRAILBLAZER_{name.upper()}_DATABASE_URL, else the local stack's)",
        )
    add_connection_options(parser, bootstrap=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ServiceSettings()
    urls = {
        name: getattr(args, f"{name}_database_url")
        or os.environ.get(f"TRAILBLAZER_{name.upper()}_DATABASE_URL")
        or local_database_url(name)
        for name in SERVICES
    }
    since = args.since.replace(tzinfo=args.since.tzinfo or UTC) if args.since else None
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    journey = asyncio.run(build(args.assignment_id, urls, bootstrap, KafkaSecurity.from_settings(settings), since))
    print("\n".join(journey.lines(os.environ.get("TRAILBLAZER_TRACE_URL", DEFAULT_TRACE_URL))))
    return 0 if journey.steps else 1


if __name__ == "__main__":
    sys.exit(main())
