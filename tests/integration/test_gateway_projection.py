"""gateway's projections in sets, on a real PostgreSQL: a batch's matches and duty-of-information
records are written at the end of its transaction with one statement per table, and leave exactly
the rows the statements before issue 12 left, applied one record at a time in the batch's order
(kept here as `_Before`); `assignment.created` is one statement instead of three, with the same
result. The batch is played as `Consumer` plays it: one transaction, one `outbox.gathered` block."""

import asyncio
import contextlib
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.local.config import StackConfig
from services.gateway import repository
from shared import outbox
from shared.db import SHARED_MIGRATIONS, Connection, create_pool

from .scratch_database import postgres_alone, scratch_database

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parents[2] / "services" / "gateway" / "migrations"
A, B = "firm-a", "firm-b"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)  # the seeded rows' updated_at: a write shows as now()


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    with postgres_alone(tmp_path_factory.mktemp("gateway-projection"), slot=8) as cfg:
        yield cfg


@pytest.fixture
async def pool(postgres: StackConfig) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_database(postgres, "gateway", [SHARED_MIGRATIONS, MIGRATIONS]) as dsn:
        pool = await create_pool(dsn, size=2)  # the service's pool: its JSON codecs
        try:
            yield pool
        finally:
            await pool.close()


class _Before:
    """The projections' statements before issue 12, one record at a time."""

    @staticmethod
    async def accepted(
        c: Connection, assignment_id: uuid.UUID, firm_id: str, correlation_id: str, at: datetime
    ) -> None:
        upsert = """
            INSERT INTO assignments(assignment_id, firm_id, {column}) VALUES ($1, $2, $3)
            ON CONFLICT (assignment_id) DO UPDATE SET {column} = {merge}, updated_at = now()
            WHERE assignments.firm_id = EXCLUDED.firm_id
        """
        await c.execute(
            "DELETE FROM assignments WHERE assignment_id = $1 AND firm_id <> $2 AND accepted_at IS NULL",
            assignment_id,
            firm_id,
        )
        await c.execute(upsert.format(column="accepted_at", merge="EXCLUDED.accepted_at"), assignment_id, firm_id, at)
        merge = "coalesce(assignments.correlation_id, EXCLUDED.correlation_id)"
        await c.execute(upsert.format(column="correlation_id", merge=merge), assignment_id, firm_id, correlation_id)

    @staticmethod
    async def matched(
        c: Connection,
        assignment_id: uuid.UUID,
        firm_id: str,
        *,
        coach_id: str | None,
        job_leads: int,
        unmatched: list[str],
        at: datetime,
    ) -> None:
        await c.execute(
            """
            INSERT INTO assignments(assignment_id, firm_id, coach_id, job_leads, unmatched, matched_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (assignment_id) DO UPDATE SET coach_id = EXCLUDED.coach_id, job_leads = EXCLUDED.job_leads,
                unmatched = EXCLUDED.unmatched, matched_at = EXCLUDED.matched_at, updated_at = now()
            WHERE assignments.firm_id = EXCLUDED.firm_id
              AND (assignments.matched_at IS NULL OR assignments.matched_at <= EXCLUDED.matched_at)
            """,
            assignment_id,
            firm_id,
            coach_id,
            job_leads,
            unmatched,
            at,
        )

    @staticmethod
    async def delivery(c: Connection, firm_id: str, record: dict[str, Any], informed: bool) -> None:
        await c.execute(
            """
            INSERT INTO deliveries(delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status,
                                   attempts, recorded_at, informed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, CASE WHEN $10::boolean THEN $9::timestamptz END)
            ON CONFLICT (delivery_id) DO UPDATE SET
                status = CASE WHEN EXCLUDED.recorded_at >= deliveries.recorded_at
                              THEN EXCLUDED.status ELSE deliveries.status END,
                attempts = greatest(deliveries.attempts, EXCLUDED.attempts),
                recorded_at = greatest(deliveries.recorded_at, EXCLUDED.recorded_at),
                informed_at = least(deliveries.informed_at, EXCLUDED.informed_at)
            WHERE deliveries.firm_id = EXCLUDED.firm_id
            """,
            record["delivery_id"],
            record["assignment_id"],
            firm_id,
            record["stakeholder"],
            record["channel"],
            record["content_kind"],
            record["status"],
            record["attempts"],
            record["recorded_at"],
            informed,
        )


# One record's projection, given the module whose functions project it (`repository` or `_Before`).
Op = Callable[[Any, Connection], Awaitable[None]]


def created(assignment_id: uuid.UUID, firm_id: str, seconds: int, correlation_id: str = "corr-new") -> Op:
    return lambda m, c: m.accepted(c, assignment_id, firm_id, correlation_id, at(seconds))


def proposed(assignment_id: uuid.UUID, firm_id: str, seconds: int, coach_id: str | None = None) -> Op:
    coach = coach_id or f"coach-{seconds}"
    unmatched = [] if seconds % 2 else ["no_coach_in_region"]
    return lambda m, c: m.matched(
        c, assignment_id, firm_id, coach_id=coach, job_leads=seconds, unmatched=unmatched, at=at(seconds)
    )


def delivered(delivery_id: uuid.UUID, firm_id: str, status: str, seconds: int, attempts: int = 1) -> Op:
    record = {
        "delivery_id": delivery_id,
        "assignment_id": uuid.UUID(int=delivery_id.int ^ 1),
        "stakeholder": "partner" if firm_id == A else "hr",
        "channel": "email",
        "content_kind": f"kind-of-{firm_id}",
        "status": status,
        "attempts": attempts,
        "recorded_at": at(seconds),
    }
    return lambda m, c: m.delivery(c, firm_id, record, status in ("sent", "delivered"))


# Rows there before the batch: (table, columns); updated_at long ago, so a write shows.
Seed = list[tuple[str, dict[str, Any]]]


async def _seed(c: Connection, seed: Seed) -> None:
    for table, row in seed:
        row = {**row, "updated_at": LONG_AGO} if table == "assignments" else row
        names = ", ".join(row)
        places = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        await c.execute(f"INSERT INTO {table}({names}) VALUES ({places})", *row.values())


async def _rows(c: Connection) -> dict[str, list[dict[str, Any]]]:
    """Both tables; updated_at as whether this transaction wrote the row (now() is the transaction's)."""
    assignments = await c.fetch("SELECT *, updated_at = now() AS written FROM assignments ORDER BY assignment_id")
    deliveries = await c.fetch("SELECT * FROM deliveries ORDER BY delivery_id")
    return {
        "assignments": [{k: v for k, v in r.items() if k != "updated_at"} for r in assignments],
        "deliveries": [dict(r) for r in deliveries],
    }


async def _play(pool: asyncpg.Pool, seed: Seed, ops: list[Op], *, batch: bool) -> dict[str, list[dict[str, Any]]]:
    """The tables after `ops` on top of `seed`, rolled back afterwards: as one batch of the
    consumer's (today's code), or one record at a time with the statements from before."""
    async with pool.acquire() as c:
        transaction = c.transaction()
        await transaction.start()
        try:
            await _seed(c, seed)
            if batch:
                async with outbox.gathered(c):
                    for op in ops:
                        await op(repository, c)
            else:
                for op in ops:
                    await op(_Before, c)
            return await _rows(c)
        finally:
            await transaction.rollback()


async def _same_as_before(pool: asyncpg.Pool, seed: Seed, ops: list[Op]) -> dict[str, list[dict[str, Any]]]:
    now = await _play(pool, seed, ops, batch=True)
    before = await _play(pool, seed, ops, batch=False)
    assert now == before
    return now


async def test_assignment_created_is_one_statement_and_leaves_what_the_three_before_left(pool: asyncpg.Pool) -> None:
    a = uuid.uuid4()
    mine = {"assignment_id": a, "firm_id": A}
    seeds: dict[str, Seed] = {
        "no row": [],
        "submitted over HTTP": [("assignments", {**mine, "submitted_at": at(-9), "correlation_id": "corr-http"})],
        "accepted before": [("assignments", {**mine, "accepted_at": at(-5), "correlation_id": "corr-old"})],
        "matched, no correlation": [("assignments", {**mine, "coach_id": "c", "matched_at": at(-1)})],
        # Another firm's early record (a cancel naming the id): it gives way, with all it said.
        "another firm's early row": [
            ("assignments", {"assignment_id": a, "firm_id": B, "cancelled_at": at(-3), "correlation_id": "corr-b"})
        ],
        "another firm's accepted row": [("assignments", {"assignment_id": a, "firm_id": B, "accepted_at": at(-3)})],
    }
    for name, seed in seeds.items():
        row = (await _same_as_before(pool, seed, [created(a, A, 0)]))["assignments"]
        assert len(row) == 1, name
        if name == "another firm's accepted row":
            assert row[0]["firm_id"] == B and not row[0]["written"], name
            continue
        assert row[0]["firm_id"] == A and row[0]["accepted_at"] == at(0) and row[0]["written"], name
        assert row[0]["correlation_id"] == {"submitted over HTTP": "corr-http", "accepted before": "corr-old"}.get(
            name, "corr-new"
        ), name
    assert (await _same_as_before(pool, seeds["another firm's early row"], [created(a, A, 0)]))["assignments"][0][
        "cancelled_at"
    ] is None

    async with pool.acquire() as c, c.transaction(), _statements(c) as logged:
        await repository.accepted(c, a, A, "corr", at(0))
    assert len(logged) == 1, logged


async def test_a_deliverys_records_in_any_order_in_a_batch_give_the_row_one_at_a_time_gave(pool: asyncpg.Pool) -> None:
    """The status of the newest record, the most attempts, the first time it informed."""
    d = uuid.uuid4()
    records = [
        delivered(d, A, "sending", 1),
        delivered(d, A, "sent", 2),
        delivered(d, A, "retrying", 3, attempts=2),
        delivered(d, A, "delivered", 5, attempts=2),
        delivered(d, A, "failed", 4, attempts=3),
    ]
    for order in itertools.permutations(records):
        (row,) = (await _same_as_before(pool, [], list(order)))["deliveries"]
        assert (row["status"], row["attempts"], row["recorded_at"], row["informed_at"]) == (
            "delivered",
            3,
            at(5),
            at(2),
        )
        assert row["firm_id"] == A and row["stakeholder"] == "partner"
    # On top of a row from an earlier batch, ties included (the later record wins a tie).
    earlier = {"delivery_id": d, "assignment_id": uuid.uuid4(), "firm_id": A, "stakeholder": "partner"}
    seed: Seed = [
        ("deliveries", {**earlier, "channel": "email", "content_kind": "k", "status": "sent", "attempts": 1,
                        "recorded_at": at(3), "informed_at": at(3)}),
    ]  # fmt: skip
    for order in itertools.permutations(
        [delivered(d, A, "retrying", 3, attempts=2), delivered(d, A, "delivered", 1), delivered(d, A, "failed", 3)]
    ):
        await _same_as_before(pool, seed, list(order))


async def test_another_firms_record_of_the_same_delivery_changes_nothing(pool: asyncpg.Pool) -> None:
    d = uuid.uuid4()
    mine, theirs = delivered(d, A, "sent", 2), delivered(d, B, "delivered", 9, attempts=7)
    owned: Seed = [
        ("deliveries", {"delivery_id": d, "assignment_id": uuid.uuid4(), "firm_id": A, "stakeholder": "partner",
                        "channel": "email", "content_kind": "k", "status": "sending", "attempts": 1,
                        "recorded_at": at(1), "informed_at": None}),
    ]  # fmt: skip
    for seed, ops in [
        ([], [mine, theirs]),
        ([], [mine, theirs, delivered(d, A, "delivered", 3)]),
        (owned, [theirs, mine]),
        (owned, [mine, theirs]),
        (owned, [theirs]),
    ]:
        (row,) = (await _same_as_before(pool, seed, ops))["deliveries"]
        assert row["firm_id"] == A and row["attempts"] < 7 and row["recorded_at"] < at(9)
    # Whoever wrote first owns it: a record of firm B first makes it B's, A's then changes nothing.
    (row,) = (await _same_as_before(pool, [], [theirs, mine]))["deliveries"]
    assert (row["firm_id"], row["status"]) == (B, "delivered")


async def test_the_newest_match_wins_whatever_their_order_in_a_batch(pool: asyncpg.Pool) -> None:
    a = uuid.uuid4()
    matches = [proposed(a, A, 1), proposed(a, A, 4), proposed(a, A, 2), proposed(a, A, 4, coach_id="same-time")]
    for order in itertools.permutations(matches):
        (row,) = (await _same_as_before(pool, [], list(order)))["assignments"]
        # Two at the newest time: the later record wins, as `matched_at <= EXCLUDED.matched_at` did.
        newest = [m for m in order if m in (matches[1], matches[3])][-1]
        assert (row["coach_id"], row["job_leads"]) == ("coach-4" if newest is matches[1] else "same-time", 4)
        assert row["unmatched"] == ["no_coach_in_region"]
    # On top of a newer match from an earlier batch: none of them changes it.
    seed: Seed = [("assignments", {"assignment_id": a, "firm_id": A, "coach_id": "kept", "matched_at": at(7)})]
    (row,) = (await _same_as_before(pool, seed, matches))["assignments"]
    assert row["coach_id"] == "kept" and not row["written"]


async def test_created_and_proposed_in_either_order_in_a_batch_give_the_accepted_matched_row(
    pool: asyncpg.Pool,
) -> None:
    a = uuid.uuid4()
    submitted: Seed = [("assignments", {"assignment_id": a, "firm_id": A, "submitted_at": at(-1)})]
    for seed in ([], submitted):
        for ops in ([created(a, A, 0), proposed(a, A, 1)], [proposed(a, A, 1), created(a, A, 0)]):
            (row,) = (await _same_as_before(pool, seed, ops))["assignments"]
            assert (row["firm_id"], row["accepted_at"], row["correlation_id"]) == (A, at(0), "corr-new")
            assert (row["coach_id"], row["job_leads"], row["matched_at"]) == ("coach-1", 1, at(1))


async def test_a_match_that_met_another_firms_early_row_stays_lost_when_created_claims_the_row(
    pool: asyncpg.Pool,
) -> None:
    """Another firm's early record made the row; the assignment's match, then its creation, come
    in one batch. One record at a time, the match met the other firm's row and changed nothing,
    and `assignment.created` then replaced that row: the batch, which writes the match after the
    creation, must not show it either. In the other order the match shows."""
    a = uuid.uuid4()
    early: Seed = [("assignments", {"assignment_id": a, "firm_id": B, "cancelled_at": at(-2)})]
    (row,) = (await _same_as_before(pool, early, [proposed(a, A, 1), created(a, A, 0)]))["assignments"]
    assert (row["firm_id"], row["coach_id"], row["cancelled_at"]) == (A, None, None)
    (row,) = (await _same_as_before(pool, early, [created(a, A, 0), proposed(a, A, 1)]))["assignments"]
    assert (row["firm_id"], row["coach_id"]) == (A, "coach-1")
    # A match of another firm made the row first (no row before): created replaces it likewise.
    (row,) = (await _same_as_before(pool, [], [proposed(a, B, 2), proposed(a, A, 1), created(a, A, 0)]))["assignments"]
    assert (row["firm_id"], row["coach_id"]) == (A, None)


async def test_any_batch_of_these_records_leaves_what_one_at_a_time_left(pool: asyncpg.Pool) -> None:
    """Random batches over two assignments and two deliveries, both firms, few distinct times (so
    ties are common), on random rows from before."""
    chance = random.Random(12)
    assignments, deliveries = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]

    def seed_of(key: uuid.UUID) -> Seed:
        firm, when = chance.choice([A, B]), at(chance.randint(-1, 3))
        kind = chance.choice(["none", "early", "accepted", "matched", "both"])
        row: dict[str, Any] = {"assignment_id": key, "firm_id": firm}
        if kind == "none":
            return []
        if kind in ("accepted", "both"):
            row |= {"accepted_at": when, "correlation_id": chance.choice([None, "corr-old"])}
        if kind in ("matched", "both"):
            row |= {"coach_id": "old", "job_leads": 0, "unmatched": [], "matched_at": when}
        return [("assignments", row)]

    def delivery_seed(key: uuid.UUID) -> Seed:
        if chance.random() < 0.5:
            return []
        informed = chance.choice([None, at(chance.randint(0, 3))])
        return [("deliveries", {"delivery_id": key, "assignment_id": key, "firm_id": chance.choice([A, B]),
                                "stakeholder": "hr", "channel": "webhook", "content_kind": "old", "status": "sending",
                                "attempts": chance.randint(0, 2), "recorded_at": at(chance.randint(0, 3)),
                                "informed_at": informed})]  # fmt: skip

    def op() -> Op:
        firm, seconds = chance.choice([A, A, B]), chance.randint(0, 3)
        kind = chance.choice(["created", "proposed", "proposed", "delivered", "delivered"])
        if kind == "created":
            return created(chance.choice(assignments), firm, seconds, chance.choice(["corr-1", "corr-2"]))
        if kind == "proposed":
            return proposed(chance.choice(assignments), firm, seconds, chance.choice(["x", "y", None]))
        status = chance.choice(["sending", "sent", "delivered", "retrying", "failed"])
        return delivered(chance.choice(deliveries), firm, status, seconds, attempts=chance.randint(0, 3))

    for _ in range(150):
        seed = [row for key in assignments for row in seed_of(key)]
        seed += [row for key in deliveries for row in delivery_seed(key)]
        await _same_as_before(pool, seed, [op() for _ in range(chance.randint(1, 9))])


# asyncpg's own, once per connection the first time it meets a type: not the projections'.
_PER_CONNECTION = ("WITH RECURSIVE typeinfo_tree", "SELECT current_setting('jit')", "SELECT set_config('jit'")


@contextlib.asynccontextmanager
async def _statements(c: Connection) -> AsyncIterator[list[str]]:
    """The statements sent on `c` in the block, as asyncpg's query logger sees them (it calls
    the logger soon after each, hence `_logged`)."""
    logged: list[str] = []

    def log(query: Any) -> None:
        text = " ".join(query.query.split())
        if not text.startswith(_PER_CONNECTION):
            logged.append(text)

    c.add_query_logger(log)
    try:
        yield logged
    finally:
        await _logged()
        c.remove_query_logger(log)


async def _logged() -> None:
    await asyncio.sleep(0)


async def test_a_batch_writes_its_matches_and_deliveries_with_one_statement_per_table(pool: asyncpg.Pool) -> None:
    """Per assignment: `assignment.created` one statement, its match and updates and its three
    duty-of-information records none of their own; then one statement per table for the batch."""
    ids = [uuid.uuid4() for _ in range(20)]
    ops: list[Op] = []
    for n, a in enumerate(ids):
        ops += [created(a, A, 0), proposed(a, A, 1), proposed(a, A, 2 + n % 2)]
        ops += [delivered(uuid.uuid4(), A, "sent", 2 + k) for k in range(3)]
    async with pool.acquire() as c:
        async with c.transaction(), _statements(c) as logged, outbox.gathered(c):
            for op in ops:
                await op(repository, c)
            await _logged()
            assert len(logged) == len(ids), "one each for assignment.created, the rest at the end"
            assert all("DELETE FROM assignments" in q for q in logged)
        matches, deliveries = logged[len(ids) :]
        assert matches.startswith("INSERT INTO assignments(assignment_id, firm_id, coach_id")
        assert deliveries.startswith("INSERT INTO deliveries")
        rows = await c.fetch("SELECT coach_id, job_leads, unmatched FROM assignments")
        assert len(rows) == len(ids) and {r["coach_id"] for r in rows} == {"coach-2", "coach-3"}
        assert all(r["unmatched"] == (["no_coach_in_region"] if r["job_leads"] == 2 else []) for r in rows)
        assert await c.fetchval("SELECT count(*) FROM deliveries WHERE informed_at IS NOT NULL") == 3 * len(ids)
