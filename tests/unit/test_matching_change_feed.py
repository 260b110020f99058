"""The catalog cache's change feed (catalog/cache.py, migration 006) against a model of
PostgreSQL's transactions: ids given at a transaction's first write, rows visible once their
writer commits, a snapshot's xmin below every transaction still running. After any interleaving
of writers, commits, rollbacks and refreshes, a refresh leaves the cache holding exactly the
committed catalog (inside a writing transaction: less the rows it wrote): a slow transaction's
change is never missed, and a reader's own uncommitted change is never kept."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.catalog.cache import CatalogCache
from services.matching.repository import CatalogChanges
from shared.contracts import JobLead

from .test_matching_domain import coach, lead

READ_AT = datetime(2026, 11, 22, 12, tzinfo=UTC)


@dataclass
class Transaction:
    xid: int | None = None  # given at the first write, as PostgreSQL does
    writes: dict[str, int | None] = field(default_factory=dict)  # coach id -> capacity, None: deleted
    open: bool = True


@dataclass
class Row:
    capacity: int | None
    changed_by: int


class FakeCatalog:
    """Coaches only (the feed reads leads with the same rule); one writer per row at a time, as
    row locks make it."""

    def __init__(self) -> None:
        self.next_xid = 100
        self.rows: dict[str, Row] = {}
        self.running: list[Transaction] = []

    def begin(self) -> Transaction:
        transaction = Transaction()
        self.running.append(transaction)
        return transaction

    def locked(self, coach_id: str) -> bool:
        return any(coach_id in t.writes for t in self.running)

    def write(self, transaction: Transaction, coach_id: str, capacity: int | None) -> None:
        assert transaction.open and (coach_id in transaction.writes or not self.locked(coach_id))
        if transaction.xid is None:
            transaction.xid, self.next_xid = self.next_xid, self.next_xid + 1
        transaction.writes[coach_id] = capacity

    def end(self, transaction: Transaction, *, commit: bool) -> None:
        if commit:
            assert transaction.xid is not None or not transaction.writes
            for coach_id, capacity in transaction.writes.items():
                self.rows[coach_id] = Row(capacity, transaction.xid or 0)
        transaction.open = False
        self.running.remove(transaction)

    def committed(self) -> dict[str, int]:
        return {i: r.capacity for i, r in self.rows.items() if r.capacity is not None}

    async def feed(self, reader: Any, watermark: int | None, coach_ids: Any, lead_ids: Any) -> CatalogChanges:
        """`repository.catalog_changes` on this model; `reader` is the reading transaction."""
        assert isinstance(reader, Transaction)
        xids = [t.xid for t in self.running if t.xid is not None]
        xmin = min(xids, default=self.next_xid)
        seen: dict[str, tuple[Row, bool]] = {}
        for coach_id, row in self.rows.items():
            seen[coach_id] = (row, False)
        for coach_id, capacity in reader.writes.items():  # a transaction sees its own writes
            assert reader.xid is not None
            seen[coach_id] = (Row(capacity, reader.xid), True)
        since = watermark or 0
        chosen = {i: v for i, v in seen.items() if v[0].changed_by >= since or i in coach_ids}
        theirs = {i: row for i, (row, own) in chosen.items() if not own}
        return CatalogChanges(
            coaches=[coach(i, capacity=r.capacity) for i, r in theirs.items() if r.capacity is not None],
            deleted_coaches=[i for i, r in theirs.items() if r.capacity is None],
            leads=[],
            deleted_leads=[],
            own_coaches=[i for i, (_, own) in chosen.items() if own],
            own_leads=[],
            watermark=xmin,
            read_at=READ_AT,
        )


def held(cache: CatalogCache) -> dict[str, int]:
    return {i: c.capacity for i, c in cache.coaches.items()}


def refresh(cache: CatalogCache, reader: Transaction) -> None:
    asyncio.run(cache.refresh(reader))  # type: ignore[arg-type]


def test_a_change_committed_late_by_a_slow_transaction_is_read_after_faster_ones_were() -> None:
    db = FakeCatalog()
    cache = CatalogCache(feed=db.feed)
    slow, fast = db.begin(), db.begin()
    db.write(slow, "coach-a", 2)  # the lower transaction id
    db.write(fast, "coach-b", 3)
    db.end(fast, commit=True)
    refresh(cache, Transaction())
    assert held(cache) == {"coach-b": 3}
    # A sequence or a timestamp would now stand past coach-a's; the watermark stays below it.
    assert cache.watermark == slow.xid
    db.end(slow, commit=True)
    refresh(cache, Transaction())
    assert held(cache) == {"coach-a": 2, "coach-b": 3}
    assert cache.watermark == db.next_xid


def test_a_readers_own_change_is_not_kept_when_it_rolls_back() -> None:
    db = FakeCatalog()
    cache = CatalogCache(feed=db.feed)
    setup = db.begin()
    db.write(setup, "coach-a", 2)
    db.end(setup, commit=True)
    refresh(cache, Transaction())
    handler = db.begin()
    db.write(handler, "coach-a", 0)
    db.write(handler, "coach-new", 4)
    refresh(cache, handler)  # inside the handler's own transaction
    assert held(cache) == {"coach-a": 2}
    db.end(handler, commit=False)
    refresh(cache, Transaction())
    assert held(cache) == {"coach-a": 2}


def test_a_row_the_first_read_skipped_as_the_readers_own_is_read_again_after_a_rollback() -> None:
    db = FakeCatalog()
    setup = db.begin()
    db.write(setup, "coach-a", 2)
    db.end(setup, commit=True)
    cache = CatalogCache(feed=db.feed)  # a process that starts while a handler changes coach-a
    handler = db.begin()
    db.write(handler, "coach-a", 0)
    refresh(cache, handler)
    assert held(cache) == {}
    db.end(handler, commit=False)
    refresh(cache, Transaction())  # coach-a's committed row is older than the watermark now
    assert held(cache) == {"coach-a": 2}


def test_a_lead_the_reader_wrote_itself_is_read_again_by_id() -> None:
    """The real feed's lead half: ids handed back as own are asked for again."""
    asked: list[tuple[int | None, list[str]]] = []
    offered: JobLead = lead("lead-1")

    async def feed(_reader: Any, watermark: int | None, _coaches: Any, lead_ids: Any) -> CatalogChanges:
        asked.append((watermark, list(lead_ids)))
        first = len(asked) == 1
        return CatalogChanges([], [], [] if first else [offered], [], [], ["lead-1"] if first else [], 7, READ_AT)

    cache = CatalogCache(feed=feed)
    refresh(cache, Transaction())
    refresh(cache, Transaction())
    assert asked == [(None, []), (7, ["lead-1"])]
    assert "lead-1" in cache.leads.rows


COACH_IDS = ["coach-a", "coach-b", "coach-c"]
steps = st.lists(
    st.tuples(
        st.sampled_from(["begin", "write", "commit", "rollback", "refresh", "refresh_inside"]),
        st.integers(0, 5),  # which running transaction
        st.sampled_from(COACH_IDS),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_after_any_interleaving_a_refresh_holds_exactly_the_committed_catalog(plan: list[Any]) -> None:
    db = FakeCatalog()
    cache = CatalogCache(feed=db.feed)
    for action, which, coach_id, capacity in plan:
        running = db.running
        transaction = running[which % len(running)] if running else None
        if action == "begin" or transaction is None:
            db.begin()
        elif action == "write":
            if coach_id in transaction.writes or not db.locked(coach_id):
                db.write(transaction, coach_id, capacity)
        elif action in ("commit", "rollback"):
            db.end(transaction, commit=action == "commit")
        elif action == "refresh":
            refresh(cache, Transaction())
            assert held(cache) == db.committed()
        else:  # a handler refreshing inside its own transaction: the catalog, less the rows it wrote
            refresh(cache, transaction)  # (which it cannot see as committed; read again next time)
            theirs = {i: n for i, n in held(cache).items() if i not in transaction.writes}
            assert theirs == {i: n for i, n in db.committed().items() if i not in transaction.writes}
    for transaction in list(db.running):
        db.end(transaction, commit=True)
    refresh(cache, Transaction())
    assert held(cache) == db.committed()
