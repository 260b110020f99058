"""What the fault suite verifies afterwards, from the databases and the topics."""

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.local.config import StackConfig
from shared import topics

STAKEHOLDERS = 3  # partner, employee, HR


async def notified_count(cfg: StackConfig, assignment_ids: Iterable[uuid.UUID]) -> int:
    """How many of these assignments have all stakeholders recorded as notified."""
    rows = await _fetch(
        cfg,
        "notifications",
        "SELECT count(*) AS n FROM (SELECT assignment_id FROM notifications WHERE assignment_id = ANY($1)"
        " GROUP BY assignment_id HAVING count(DISTINCT stakeholder) >= $2) AS complete",
        list(assignment_ids),
        STAKEHOLDERS,
    )
    return int(rows[0]["n"])


PROGRESS = {
    "intake": "SELECT count(*) FROM assignments",
    "matching": "SELECT count(*) FROM proposals",
    "notifications": "SELECT count(*) FROM notifications",
    "gateway": "SELECT count(*) FROM deliveries",  # its projection of every firm's deliveries
    "care": "SELECT count(*) FROM care_record",
}


async def progress(cfg: StackConfig, service: str) -> int:
    """How much work `service` has committed so far; it grows while the service is healthy."""
    rows = await _fetch(cfg, service, PROGRESS[service].replace("count(*)", "count(*) AS n"))
    return int(rows[0]["n"])


async def _fetch(cfg: StackConfig, db: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(cfg.database_url(db), timeout=10)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record on `topic`, without a consumer group."""
    # A throwaway group id: aiokafka 0.13's group-less consumer raises CancelledError on stop().
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"fault-suite-check-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(_partitions(topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while True:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                return records
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                records.extend(r for r in batch if r.offset < ends[tp])
    finally:
        await consumer.stop()


def _partitions(topic: str) -> int:
    tenant = topics.tenant_of(topic)
    if tenant is not None:  # a firm's or provider's own topic: the onboarding convention's partitions
        return next(s.partitions for s in (*topics.FIRM_TOPICS, *topics.PROVIDER_TOPICS) if s.event == tenant.event)
    return next(spec.partitions for spec in topics.TOPICS if spec.name == topic)


@dataclass
class CareVerdict:
    """The duty of care under the same faults: every assignment followed, its check-ins and
    deadlines set once, and the firm's duty-of-care stream saying so once."""

    followed_db: int  # assignments in care's database
    deadlines_db: int  # check-ins and deadlines set
    scheduled_topic: int  # assignments whose schedule is on the firm's duty-of-care topic
    # Two different entry ids for one assignment's same scheduled check-in or deadline.
    duplicate_entries: int
    redelivered_entries: int  # the same entry id more than once (at-least-once relay)


@dataclass
class Verdict:
    requested: int
    created_db: int
    created_topic: int
    matched_db: int
    matched_topic: int
    fully_notified_db: int
    notification_rows: int
    duplicate_notifications_db: int
    notified_topic_distinct: int
    duplicate_notifications_topic: int
    redelivered_records: dict[str, int]
    dead_letters: int
    rejections: int
    outbox_left: dict[str, int]
    care: CareVerdict

    @property
    def lost(self) -> int:
        return self.requested - min(
            self.created_db, self.matched_db, self.fully_notified_db, self.care.followed_db, self.care.scheduled_topic
        )

    @property
    def duplicated(self) -> int:
        return self.duplicate_notifications_db + self.duplicate_notifications_topic + self.care.duplicate_entries


_SCHEDULING = ("check_in.scheduled", "deadline.set")


async def verify_care(cfg: StackConfig, firm_id: str, ids: list[uuid.UUID]) -> CareVerdict:
    count = "SELECT count(*) AS n FROM {} WHERE assignment_id = ANY($1)"
    followed = await _fetch(cfg, "care", count.format("care_assignments"), ids)
    deadlines = await _fetch(cfg, "care", count.format("care_deadlines"), ids)
    keys = {str(i) for i in ids}
    topic = topics.firm_topic(firm_id, topics.FirmEvent.DUTY_OF_CARE)
    entries = [json.loads(r.value)["payload"] for r in await read_topic(cfg.kafka_bootstrap, topic) if r.key]
    scheduling = [e for e in entries if e["assignment_id"] in keys and e["kind"] in _SCHEDULING]
    by_fact: dict[tuple[str, str, object], set[str]] = {}
    for entry in scheduling:
        by_fact.setdefault((entry["assignment_id"], entry["kind"], entry["detail"].get("deadline")), set()).add(
            entry["entry_id"]
        )
    return CareVerdict(
        followed_db=int(followed[0]["n"]),
        deadlines_db=int(deadlines[0]["n"]),
        scheduled_topic=len({fact[0] for fact in by_fact}),
        duplicate_entries=sum(len(ids_) - 1 for ids_ in by_fact.values()),
        redelivered_entries=len(scheduling) - len({e["entry_id"] for e in scheduling}),
    )


async def verify(cfg: StackConfig, firm_id: str, published: list[uuid.UUID]) -> Verdict:
    ids = sorted(set(published))
    keys = {str(i) for i in ids}
    created_db = await _fetch(cfg, "intake", "SELECT count(*) AS n FROM assignments WHERE assignment_id = ANY($1)", ids)
    rejected = await _fetch(cfg, "intake", "SELECT count(*) AS n FROM rejections WHERE assignment_id = ANY($1)", ids)
    matched_db = await _fetch(cfg, "matching", "SELECT count(*) AS n FROM proposals WHERE assignment_id = ANY($1)", ids)
    per_stakeholder = await _fetch(
        cfg,
        "notifications",
        "SELECT assignment_id, stakeholder, content_kind, count(*) AS n FROM notifications"
        " WHERE assignment_id = ANY($1) GROUP BY 1, 2, 3",
        ids,
    )
    complete = Counter(r["assignment_id"] for r in per_stakeholder)
    outbox = {
        db: int((await _fetch(cfg, db, "SELECT count(*) AS n FROM outbox"))[0]["n"])
        for db in ("intake", "matching", "notifications", "gateway", "care")
    }
    topic_counts = {t: await _keyed(cfg, t, keys) for t in (topics.ASSIGNMENT_CREATED, topics.MATCH_PROPOSED)}
    notified = [
        r
        for r in await read_topic(cfg.kafka_bootstrap, topics.STAKEHOLDER_NOTIFIED)
        if r.key and r.key.decode() in keys
    ]
    distinct = _notifications(notified)
    letters = await read_topic(cfg.kafka_bootstrap, topics.DEAD_LETTER)
    return Verdict(
        requested=len(ids),
        created_db=int(created_db[0]["n"]),
        created_topic=len(topic_counts[topics.ASSIGNMENT_CREATED]),
        matched_db=int(matched_db[0]["n"]),
        matched_topic=len(topic_counts[topics.MATCH_PROPOSED]),
        fully_notified_db=sum(1 for n in complete.values() if n >= STAKEHOLDERS),
        notification_rows=sum(int(r["n"]) for r in per_stakeholder),
        duplicate_notifications_db=sum(int(r["n"]) - 1 for r in per_stakeholder),
        notified_topic_distinct=len(distinct),
        # Two different notification ids for one stakeholder and one content kind = told twice.
        duplicate_notifications_topic=sum(n - 1 for n in Counter(distinct.values()).values()),
        redelivered_records={
            topics.ASSIGNMENT_CREATED: sum(topic_counts[topics.ASSIGNMENT_CREATED].values())
            - len(topic_counts[topics.ASSIGNMENT_CREATED]),
            topics.MATCH_PROPOSED: sum(topic_counts[topics.MATCH_PROPOSED].values())
            - len(topic_counts[topics.MATCH_PROPOSED]),
            topics.STAKEHOLDER_NOTIFIED: len(notified) - len(distinct),
        },
        dead_letters=len(letters),
        rejections=int(rejected[0]["n"]),
        outbox_left=outbox,
        care=await verify_care(cfg, firm_id, ids),
    )


async def _keyed(cfg: StackConfig, topic: str, keys: set[str]) -> Counter[str]:
    """Records per assignment on `topic` (a relay may publish a record twice: at-least-once)."""
    return Counter(
        r.key.decode() for r in await read_topic(cfg.kafka_bootstrap, topic) if r.key and r.key.decode() in keys
    )


def _notifications(records: list[Any]) -> dict[str, tuple[str, str, str]]:
    distinct: dict[str, tuple[str, str, str]] = {}
    for record in records:
        payload = json.loads(record.value)["payload"]
        distinct[payload["notification_id"]] = (
            payload["assignment_id"],
            payload["stakeholder"],
            payload["content_kind"],
        )
    return distinct
