"""How many statements notifications sends to PostgreSQL to inform the three stakeholders of one
assignment, counted on a real database and a real SMTP sink: the handlers of `assignment.created`
and `match.proposed` (each in the transaction the consumer gives it) and the delivery worker until
HR's record is sent. Round trips, not time: the count is what set-based SQL lowers, and it does not
depend on the machine's load. The duty-of-information records written are counted too."""

import asyncio
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from faststream.kafka import KafkaMessage

from deploy.local import mailbox
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from deploy.local.postgres import start_postgres, stop_postgres
from services.notifications.handlers import Handlers
from services.notifications.settings import NotificationSettings
from services.notifications.worker import DeliveryWorker
from shared import outbox
from shared.contracts import AssignmentCreated, AssignmentCreatedPayload, AssignmentRequested, MatchProposed
from shared.db import SHARED_MIGRATIONS, apply_migrations
from tests.unit.test_notifications_golden import the_match

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parents[2] / "services" / "notifications" / "migrations"
ASSIGNMENTS = 4
# Statements per assignment, transactions and pool resets included (asyncpg's type introspection
# when it opens a connection is not: it is per connection). Measured with 4 assignments: 78.5
# before set-based handlers and worker (issue 12), 24.3 after; the bound leaves room for claimed
# sets that happen to be smaller.
BUDGET_PER_ASSIGNMENT = 30
_PER_CONNECTION = ("WITH RECURSIVE typeinfo_tree", "SELECT current_setting('jit')", "SELECT set_config('jit'")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """PostgreSQL alone, on a port of its own (next to a session's full stack, if one runs)."""
    base = StackConfig.for_tests(tmp_path_factory.mktemp("statements"))
    cfg = dataclasses.replace(base, postgres_port=base.postgres_port + 7, health_base_port=base.health_base_port + 70)
    try:
        start_postgres(cfg)
        yield cfg
    finally:
        stop_postgres(cfg)


@pytest.fixture
async def database(postgres: StackConfig) -> AsyncIterator[str]:
    name = f"notifications_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres.database_url("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        dsn = postgres.database_url(name)
        await apply_migrations(dsn, [SHARED_MIGRATIONS, MIGRATIONS])
        yield dsn
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def _record(event: Any) -> KafkaMessage:
    """What the handlers read of a Kafka record: its body."""
    return cast(KafkaMessage, SimpleNamespace(body=event.model_dump_json().encode()))


def _events(n: int) -> tuple[AssignmentCreated, MatchProposed]:
    request = AssignmentRequested.model_validate(assignment_request(SAMPLE_FAMILIES[n % len(SAMPLE_FAMILIES)]))
    created = AssignmentCreated.create(
        firm_id=request.firm_id,
        correlation_id=request.correlation_id,
        payload=AssignmentCreatedPayload(assignment=request.payload, accepted_at=datetime.now(UTC)),
    )
    match = the_match().model_copy(update={"assignment_id": request.payload.assignment_id})
    proposed = MatchProposed.create(firm_id=request.firm_id, correlation_id=request.correlation_id, payload=match)
    return created, proposed


async def test_three_stakeholders_informed_in_few_statements_and_few_duty_records(
    postgres: StackConfig, database: str, tmp_path: Path
) -> None:
    port = mailbox.port(postgres) + 9
    sink = mailbox.mailbox_controller(port, tmp_path)
    sink.start()
    statements: Counter[str] = Counter()

    async def count(connection: asyncpg.Connection) -> None:
        for type_name in ("json", "jsonb"):
            await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

        def counted(logged: Any) -> None:
            query = " ".join(logged.query.split())
            if not query.startswith(_PER_CONNECTION):
                statements.update([query[:60]])

        connection.add_query_logger(counted)

    pool = await asyncpg.create_pool(database, min_size=1, max_size=4, init=count)
    assert pool is not None
    settings = NotificationSettings(database_url=database, smtp_port=port)
    handlers = Handlers(settings)
    worker = DeliveryWorker(pool, settings)
    try:
        statements.clear()  # the pool's own start
        for n in range(ASSIGNMENTS):
            created, proposed = _events(n)
            # As the consumer runs an effect: a pooled connection, a transaction, its outbox records.
            for effect, event in ((handlers.remember_assignment, created), (handlers.remember_match, proposed)):
                async with pool.acquire() as connection, connection.transaction(), outbox.gathered(connection):
                    await effect(connection, _record(event))
        handled = sum(statements.values())
        while await worker.deliver_due():
            pass
        total = sum(statements.values())
        async with pool.acquire() as connection:
            sent = await connection.fetchval(
                "SELECT count(*) FROM deliveries WHERE status = 'sent' AND channel = 'email'"
            )
            duty = await connection.fetch(
                "SELECT payload FROM outbox WHERE topic LIKE '%.duty-of-information.v1' ORDER BY id"
            )
            notified = await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE topic LIKE '%.stakeholder.notified.v1'"
            )
    finally:
        await worker.close()
        await pool.close()
        await asyncio.to_thread(sink.stop)
    mails = await asyncio.to_thread(lambda: list(tmp_path.glob("*.eml")))
    print(
        f"\nstatements per assignment: {total / ASSIGNMENTS:.1f}"
        f" (handlers {handled / ASSIGNMENTS:.1f}, worker {(total - handled) / ASSIGNMENTS:.1f});"
        f" duty-of-information records per assignment: {len(duty) / ASSIGNMENTS:.1f}"
    )
    for query, n in statements.most_common():
        print(f"{n:5d}  {query}")
    assert (len(mails), sent, notified) == (3 * ASSIGNMENTS, 3 * ASSIGNMENTS, 3 * ASSIGNMENTS)
    records = [json.loads(bytes(row["payload"]))["payload"] for row in duty]
    assert Counter((r["stakeholder"], r["channel"], r["status"]) for r in records) == {
        (stakeholder, "email", "sent"): ASSIGNMENTS for stakeholder in ("partner", "employee", "hr")
    }
    assert total <= BUDGET_PER_ASSIGNMENT * ASSIGNMENTS
