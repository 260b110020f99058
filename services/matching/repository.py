"""matching's tables: the catalog, coach reservations, open partners and the proposals made."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shared.contracts import Coach, JobLead, Location, MatchProposedPayload, PartnerProfile
from shared.db import Connection, JsonText, holds, lock_key, lock_keys


def _json(model: Coach | JobLead | MatchProposedPayload | PartnerProfile | Location) -> JsonText:
    return JsonText(model.model_dump_json())


# ---- catalog -------------------------------------------------------------------------------


async def upsert_coaches(connection: Connection, coaches: Iterable[Coach]) -> None:
    """Insert or replace; the capacity column never drops below the current load (the caller
    releases places first, see `release_over_capacity`)."""
    await connection.executemany(
        """
        INSERT INTO coaches(coach_id, coach, active, remote, service_countries, capacity, deleted)
        VALUES ($1, $2, $3, $4, $5, $6, false)
        ON CONFLICT (coach_id) DO UPDATE SET coach = EXCLUDED.coach, active = EXCLUDED.active,
            remote = EXCLUDED.remote, service_countries = EXCLUDED.service_countries,
            capacity = GREATEST(EXCLUDED.capacity, coaches.active_partners), deleted = false,
            updated_at = clock_timestamp(), changed_by = pg_current_xact_id()
        """,
        [
            (
                c.coach_id,
                _json(c),
                c.active,
                c.remote,
                sorted({*c.countries, *(city.country for city in c.cities)}),
                c.capacity,
            )
            for c in coaches
        ],
    )
    await wake_catalog_caches(connection)


async def delete_coach(connection: Connection, coach_id: str) -> None:
    await connection.execute(
        "UPDATE coaches SET deleted = true, active = false, updated_at = clock_timestamp(),"
        " changed_by = pg_current_xact_id() WHERE coach_id = $1",
        coach_id,
    )
    await wake_catalog_caches(connection)


async def upsert_job_leads(connection: Connection, leads: Iterable[JobLead]) -> None:
    await connection.executemany(
        """
        INSERT INTO job_leads(job_lead_id, job_lead, country, remote, expires_at, deleted)
        VALUES ($1, $2, $3, $4, $5, false)
        ON CONFLICT (job_lead_id) DO UPDATE SET job_lead = EXCLUDED.job_lead,
            country = EXCLUDED.country, remote = EXCLUDED.remote, deleted = false,
            expires_at = EXCLUDED.expires_at, updated_at = clock_timestamp(), changed_by = pg_current_xact_id()
        """,
        [(j.job_lead_id, _json(j), j.location.country, j.remote, j.expires_at) for j in leads],
    )
    await wake_catalog_caches(connection)


async def delete_job_lead(connection: Connection, lead_id: str) -> str | None:
    """Mark the lead deleted; returns its shard (see `lock_lead_shard`), None if it is unknown."""
    shard: str | None = await connection.fetchval(
        "UPDATE job_leads SET deleted = true, updated_at = clock_timestamp(), changed_by = pg_current_xact_id()"
        " WHERE job_lead_id = $1 RETURNING CASE WHEN remote THEN $2 ELSE country END",
        lead_id,
        REMOTE_LEADS,
    )
    await wake_catalog_caches(connection)
    return shard


async def wake_catalog_caches(connection: Connection) -> None:
    """Tell every replica's cache, at commit, that the catalog changed (`CATALOG_CHANNEL`): only a
    wake-up, so that an idle cache catches up before its next use; what changed is read from the
    change feed (`catalog_changes`), which misses nothing whether the notification arrives or not.
    Notifications of one transaction are delivered once."""
    await connection.execute("SELECT pg_notify($1, '')", CATALOG_CHANNEL)


async def claim_catalog_record(connection: Connection, catalog: str, record_id: str, provider_id: str) -> str:
    """The provider that owns the coach or job lead: `provider_id` if nobody did yet (it claims
    it now), else the first provider that wrote it. Atomic: of two providers racing for a new id,
    the second waits for the first's commit and gets the first's name back."""
    owner: str = await connection.fetchval(
        "INSERT INTO catalog_owners(catalog, record_id, provider_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (catalog, record_id) DO UPDATE SET provider_id = catalog_owners.provider_id"
        " RETURNING provider_id",
        catalog,
        record_id,
        provider_id,
    )
    return owner


async def claim_catalog(connection: Connection, catalog: str, record_ids: Iterable[str], provider_id: str) -> None:
    """The provider of records loaded without a topic (the sample catalog)."""
    await connection.executemany(
        "INSERT INTO catalog_owners(catalog, record_id, provider_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(catalog, record_id, provider_id) for record_id in record_ids],
    )


async def catalog_is_empty(connection: Connection) -> bool:
    return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM coaches)")


CATALOG_CHANNEL = "matching_catalog"  # LISTEN/NOTIFY channel: the catalog changed


@dataclass(frozen=True)
class CatalogChanges:
    coaches: list[Coach]
    deleted_coaches: list[str]
    leads: list[JobLead]
    deleted_leads: list[str]
    # Rows the reading transaction itself changed and has not committed: not the catalog yet (it
    # may roll back), to be read again by id (migration 006).
    own_coaches: list[str]
    own_leads: list[str]
    watermark: int  # read from here next time
    read_at: datetime
    # The newest batch run's prices (None: none yet), so a cache reads prices only when they change.
    newest_price_run: int | None = None


async def catalog_changes(
    connection: Connection,
    watermark: int | None,
    coach_ids: Sequence[str] = (),
    lead_ids: Sequence[str] = (),
) -> CatalogChanges:
    """The change feed (migration 006): every catalog row changed by a transaction at or after
    `watermark` (all rows if None), and the rows `coach_ids` and `lead_ids` whatever changed them;
    the next watermark is the xmin of the read's own snapshot, so that whatever this read cannot
    see yet (a transaction still running) is at or above it. Deleted rows, and leads that have
    expired, come back as ids to remove: a lead re-sent with a past expiry must replace the
    version a cache holds, not be skipped. It names the newest batch run too, so that a cache
    reads the prices only when a batch has written new ones, without a round trip of its own."""
    # One statement, so one snapshot: the watermark is the xmin of the very snapshot the rows
    # are read in (every transaction below it is visible or aborted; any at or above it is read
    # again next time), in one round trip.
    rows = await connection.fetch(
        "WITH mark AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, clock_timestamp() AS read_at,"
        " (SELECT max(run_id) FROM price_runs) AS newest_run)"
        " SELECT 'coach' AS kind, coach_id AS id, coach AS body, deleted AS gone,"
        " (changed_by = pg_current_xact_id_if_assigned()) IS TRUE AS own, NULL AS xmin, NULL::timestamptz AS read_at,"
        " NULL::bigint AS newest_run"
        " FROM coaches WHERE changed_by >= $1::text::xid8 OR coach_id = ANY($2)"
        " UNION ALL"
        " SELECT 'lead', job_lead_id, job_lead, deleted OR expires_at <= now(),"
        " (changed_by = pg_current_xact_id_if_assigned()) IS TRUE, NULL, NULL, NULL FROM job_leads"
        " WHERE (changed_by >= $1::text::xid8 OR job_lead_id = ANY($3))"
        " AND ($4 OR (expires_at > now() AND NOT deleted) OR changed_by = pg_current_xact_id_if_assigned())"
        " UNION ALL"
        " SELECT 'mark', NULL, NULL, NULL, NULL, xmin, read_at, newest_run FROM mark",
        str(watermark or 0),
        list(coach_ids),
        list(lead_ids),
        watermark is not None,  # a first read needs only the open leads
    )
    mark = next(r for r in rows if r["kind"] == "mark")
    coach_rows = [r for r in rows if r["kind"] == "coach"]
    lead_rows = [r for r in rows if r["kind"] == "lead"]
    coaches = [r for r in coach_rows if not r["own"]]
    leads = [r for r in lead_rows if not r["own"]]
    return CatalogChanges(
        coaches=[Coach.model_validate(r["body"]) for r in coaches if not r["gone"]],
        deleted_coaches=[r["id"] for r in coaches if r["gone"]],
        leads=[JobLead.model_validate(r["body"]) for r in leads if not r["gone"]],
        deleted_leads=[r["id"] for r in leads if r["gone"]],
        own_coaches=[r["id"] for r in coach_rows if r["own"]],
        own_leads=[r["id"] for r in lead_rows if r["own"]],
        watermark=int(mark["xmin"]),
        read_at=mark["read_at"],
        newest_price_run=mark["newest_run"],
    )


async def job_leads_by_id(connection: Connection, lead_ids: Sequence[str]) -> dict[str, JobLead]:
    rows = await connection.fetch(
        "SELECT job_lead FROM job_leads WHERE job_lead_id = ANY($1) AND NOT deleted", list(lead_ids)
    )
    leads = (JobLead.model_validate(r["job_lead"]) for r in rows)
    return {lead.job_lead_id: lead for lead in leads}


async def open_job_leads_for(connection: Connection, host: Location, now: datetime) -> list[JobLead]:
    rows = await connection.fetch(
        "SELECT job_lead FROM job_leads WHERE (country = $1 OR remote) AND NOT deleted AND expires_at > $2",
        host.country,
        now,
    )
    return [JobLead.model_validate(r["job_lead"]) for r in rows]


# ---- coach load and reservations ------------------------------------------------------------


async def coach_loads(connection: Connection, coach_ids: Sequence[str]) -> dict[str, int]:
    rows = await connection.fetch(
        "SELECT coach_id, active_partners FROM coaches WHERE coach_id = ANY($1)", list(coach_ids)
    )
    return {r["coach_id"]: r["active_partners"] for r in rows}


async def reserve_coach(connection: Connection, coach_id: str, assignment_id: uuid.UUID) -> bool:
    """Take one place of the coach's capacity. Atomic: two replicas racing for the last place
    cannot both win, because the row update re-checks the capacity under its row lock."""
    taken = await connection.fetchval(
        "WITH taken AS (UPDATE coaches SET active_partners = active_partners + 1"
        " WHERE coach_id = $1 AND active AND NOT deleted AND active_partners < capacity RETURNING coach_id)"
        " INSERT INTO coach_reservations(assignment_id, coach_id) SELECT $2, coach_id FROM taken"
        " ON CONFLICT (assignment_id) DO UPDATE SET coach_id = EXCLUDED.coach_id, status = 'proposed',"
        " reserved_at = now() RETURNING 1",
        coach_id,
        assignment_id,
    )
    return taken is not None


async def release_reservation(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    coach_id: str | None = await connection.fetchval(
        "DELETE FROM coach_reservations WHERE assignment_id = $1 RETURNING coach_id", assignment_id
    )
    if coach_id is not None:
        await connection.execute(
            "UPDATE coaches SET active_partners = active_partners - 1 WHERE coach_id = $1", coach_id
        )
    return coach_id


async def release_over_capacity(connection: Connection, coach_id: str, keep: int) -> list[uuid.UUID]:
    """Release the coach's newest proposed reservations beyond `keep` places; accepted ones
    stay. Returns the assignments that lost their coach, to be re-matched."""
    await connection.execute("SELECT 1 FROM coaches WHERE coach_id = $1 FOR UPDATE", coach_id)
    rows = await connection.fetch(
        "SELECT assignment_id FROM coach_reservations WHERE coach_id = $1 AND status = 'proposed'"
        " ORDER BY reserved_at DESC, assignment_id",
        coach_id,
    )
    load = await connection.fetchval("SELECT active_partners FROM coaches WHERE coach_id = $1", coach_id) or 0
    excess = max(0, load - max(0, keep))
    chosen = [r["assignment_id"] for r in rows[:excess]]
    if not chosen:
        return []
    # Only what this statement deleted counts: a reservation accepted or released (assignment
    # closed) by another transaction since the SELECT is left alone, and not counted twice.
    deleted = await connection.fetch(
        "DELETE FROM coach_reservations WHERE assignment_id = ANY($1) AND coach_id = $2 AND status = 'proposed'"
        " RETURNING assignment_id",
        chosen,
        coach_id,
    )
    released = [r["assignment_id"] for r in deleted]
    if released:
        await connection.execute(
            "UPDATE coaches SET active_partners = active_partners - $2 WHERE coach_id = $1", coach_id, len(released)
        )
    return released


# ---- open partners and proposals --------------------------------------------------------------


@dataclass(frozen=True)
class OpenPartner:
    assignment_id: uuid.UUID
    firm_id: str
    correlation_id: str
    profile: PartnerProfile
    host: Location
    start_date: date


async def open_partner(connection: Connection, partner: OpenPartner) -> None:
    """Open the partner, holding the leads of their host country shared first, in one statement.

    Matching a partner in a country and a change to a lead they could get must not miss each
    other (the match ranked a cache without the new lead, the change looked for partners before
    the match committed). The match holds the country's and the remote leads' locks shared until
    it commits; a lead change takes its shard's lock exclusively (`lock_lead_shard`)."""
    await connection.execute(
        "WITH shared_leads AS (SELECT pg_advisory_xact_lock_shared($8, hashtext($5)),"
        " pg_advisory_xact_lock_shared($8, hashtext($9)))"
        " INSERT INTO open_partners(assignment_id, firm_id, correlation_id, profile, host_country, host, start_date)"
        " SELECT $1, $2, $3, $4, $5, $6, $7 FROM shared_leads ON CONFLICT (assignment_id) DO NOTHING",
        partner.assignment_id,
        partner.firm_id,
        partner.correlation_id,
        _json(partner.profile),
        partner.host.country,
        _json(partner.host),
        partner.start_date,
        _LEADS_LOCK,
        REMOTE_LEADS,
    )


def _open_partner(row: object) -> OpenPartner:
    r: dict[str, object] = dict(row)  # type: ignore[call-overload]
    return OpenPartner(
        assignment_id=r["assignment_id"],  # type: ignore[arg-type]
        firm_id=str(r["firm_id"]),
        correlation_id=str(r["correlation_id"]),
        profile=PartnerProfile.model_validate(r["profile"]),
        host=Location.model_validate(r["host"]),
        start_date=r["start_date"],  # type: ignore[arg-type]
    )


_OPEN = "SELECT assignment_id, firm_id, correlation_id, profile, host, start_date FROM open_partners"


async def open_partners(connection: Connection, country: str | None = None) -> list[OpenPartner]:
    if country is None:
        rows = await connection.fetch(f"{_OPEN} ORDER BY opened_at, assignment_id")
    else:
        rows = await connection.fetch(f"{_OPEN} WHERE host_country = $1 ORDER BY opened_at, assignment_id", country)
    return [_open_partner(r) for r in rows]


async def open_partners_by_id(connection: Connection, ids: Sequence[uuid.UUID]) -> list[OpenPartner]:
    rows = await connection.fetch(f"{_OPEN} WHERE assignment_id = ANY($1) ORDER BY assignment_id", list(ids))
    return [_open_partner(r) for r in rows]


async def proposed_reservations(connection: Connection) -> dict[uuid.UUID, str]:
    rows = await connection.fetch("SELECT assignment_id, coach_id FROM coach_reservations WHERE status = 'proposed'")
    return {r["assignment_id"]: r["coach_id"] for r in rows}


async def accepted_loads(connection: Connection) -> dict[str, int]:
    rows = await connection.fetch(
        "SELECT coach_id, count(*) AS n FROM coach_reservations WHERE status = 'accepted' GROUP BY coach_id"
    )
    return {r["coach_id"]: r["n"] for r in rows}


async def save_first_proposals(connection: Connection, proposals: Sequence[tuple[MatchProposedPayload, str]]) -> None:
    """New partners' proposals, each with its assignment's firm, in one statement (the batch's,
    through `outbox.add_later`). As if saved one after another: a later proposal for the same
    assignment replaces an earlier one, and the first firm recorded stays."""
    latest: dict[uuid.UUID, tuple[MatchProposedPayload, str]] = {}
    for proposal, firm_id in proposals:
        first = latest.get(proposal.assignment_id)
        latest[proposal.assignment_id] = (proposal, first[1] if first else firm_id)
    await connection.execute(
        "INSERT INTO proposals(assignment_id, proposal, firm_id)"
        " SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::text[])"
        " ON CONFLICT (assignment_id) DO UPDATE SET proposal = EXCLUDED.proposal, proposed_at = now(),"
        " firm_id = coalesce(proposals.firm_id, EXCLUDED.firm_id)",
        list(latest),
        [_json(p) for p, _ in latest.values()],
        [firm_id for _, firm_id in latest.values()],
    )


async def save_proposals(connection: Connection, proposals: Sequence[MatchProposedPayload]) -> None:
    """`save_proposal` for many partners in one statement."""
    if proposals:
        await connection.execute(
            "INSERT INTO proposals(assignment_id, proposal)"
            " SELECT * FROM unnest($1::uuid[], $2::jsonb[])"
            " ON CONFLICT (assignment_id) DO UPDATE SET proposal = EXCLUDED.proposal, proposed_at = now()",
            [p.assignment_id for p in proposals],
            [_json(p) for p in proposals],
        )


# Proposals are read to be changed, and locked until the transaction ends: of two replicas
# changing one partner's proposal at once (a new lead, the coach leaving), the second reads the
# first's result instead of overwriting it. Locked in assignment order, so they never deadlock.


async def open_proposals(connection: Connection, country: str | None) -> list[tuple[OpenPartner, MatchProposedPayload]]:
    """The open partners of a host country (every one if None) who have a proposal, with it, locked:
    one query for a whole set of partners."""
    where = "" if country is None else "WHERE o.host_country = $1"
    rows = await connection.fetch(
        "SELECT o.assignment_id, o.firm_id, o.correlation_id, o.profile, o.host, o.start_date, p.proposal"
        f" FROM open_partners o JOIN proposals p USING (assignment_id) {where}"
        " ORDER BY o.assignment_id FOR UPDATE OF p",
        *(() if country is None else (country,)),
    )
    return [(_open_partner(r), MatchProposedPayload.model_validate(r["proposal"])) for r in rows]


async def open_proposals_by_id(
    connection: Connection, ids: Sequence[uuid.UUID]
) -> list[tuple[OpenPartner, MatchProposedPayload]]:
    """`open_proposals` for the given partners (those still open and proposed), locked."""
    rows = await connection.fetch(
        "SELECT o.assignment_id, o.firm_id, o.correlation_id, o.profile, o.host, o.start_date, p.proposal"
        " FROM open_partners o JOIN proposals p USING (assignment_id) WHERE o.assignment_id = ANY($1)"
        " ORDER BY o.assignment_id FOR UPDATE OF p",
        list(ids),
    )
    return [(_open_partner(r), MatchProposedPayload.model_validate(r["proposal"])) for r in rows]


async def proposal(connection: Connection, assignment_id: uuid.UUID) -> MatchProposedPayload | None:
    """The partner's proposal, locked."""
    raw = await connection.fetchval("SELECT proposal FROM proposals WHERE assignment_id = $1 FOR UPDATE", assignment_id)
    return None if raw is None else MatchProposedPayload.model_validate(raw)


async def lock_proposals(connection: Connection, assignment_ids: Sequence[uuid.UUID]) -> None:
    """Lock many partners' proposals at once, before changing them one by one in another order."""
    await connection.execute(
        "SELECT 1 FROM proposals WHERE assignment_id = ANY($1) ORDER BY assignment_id FOR UPDATE",
        list(assignment_ids),
    )


async def proposals_with_lead(connection: Connection, lead_id: str) -> list[uuid.UUID]:
    rows = await connection.fetch(
        "SELECT assignment_id FROM proposals WHERE proposal->'job_leads' @> $1::jsonb",
        [{"job_lead_id": lead_id}],
    )
    return [r["assignment_id"] for r in rows]


async def accepted_partners(connection: Connection) -> set[uuid.UUID]:
    rows = await connection.fetch("SELECT assignment_id FROM coach_reservations WHERE status = 'accepted'")
    return {r["assignment_id"] for r in rows}


# ---- life cycle: acceptance, closing, expired leads --------------------------------------------

# Advisory lock namespaces (two-key form); each service has its own database, so they never meet
# another service's locks.
_ASSIGNMENT_LOCK = 7230010
_EXPIRY_SWEEP_LOCK = 7230011
_LEADS_LOCK = 7230012
REMOTE_LEADS = "remote"  # the lead shard every host country sees


async def lock_assignment(connection: Connection, assignment_id: uuid.UUID) -> None:
    """Serialise this transaction with every other one that creates, accepts or closes the same
    assignment (they arrive on different topics, possibly at different replicas)."""
    if not holds(connection, str(assignment_id)):  # else the batch took it (`lock_assignments`)
        await lock_key(connection, _ASSIGNMENT_LOCK, str(assignment_id))


async def lock_assignments(connection: Connection, assignment_ids: Sequence[uuid.UUID | str]) -> None:
    """Several assignments' locks in one round trip, in one order (by id): a batch takes its
    records' locks at its start, so two batches wait for each other instead of deadlocking."""
    await lock_keys(connection, _ASSIGNMENT_LOCK, (str(a) for a in assignment_ids))


async def lock_lead_shard(connection: Connection, shard: str) -> None:
    """Wait for the matches in flight that could rank this shard's leads, and hold off new ones
    until this transaction commits. `shard`: the lead's country, or `REMOTE_LEADS`."""
    await lock_key(connection, _LEADS_LOCK, shard)


async def exclude_rebalance(connection: Connection) -> None:
    """Wait for a running batch re-assignment to commit, and keep the next one from starting
    until this transaction commits: batch holds `coaches` in SHARE ROW EXCLUSIVE mode, which
    conflicts with this mode (online reservations and each other do not)."""
    await connection.execute("LOCK TABLE coaches IN ROW EXCLUSIVE MODE")


async def lock_coach(connection: Connection, coach_id: str) -> None:
    """The coach's row lock, which `release_over_capacity` takes first too."""
    await connection.execute("SELECT 1 FROM coaches WHERE coach_id = $1 FOR UPDATE", coach_id)


@dataclass(frozen=True)
class AssignmentState:
    """What matching knows about an assignment when a firm acts on it."""

    owner_firm: str | None  # the firm that opened (or closed) it
    closed: bool
    proposed: bool  # a proposal was made
    reserved_coach: str | None
    accepted: bool  # the reserved coach is already accepted


async def assignment_state(connection: Connection, assignment_id: uuid.UUID) -> AssignmentState:
    row = await connection.fetchrow(
        "SELECT (SELECT firm_id FROM open_partners WHERE assignment_id = $1) AS open_firm,"
        " (SELECT firm_id FROM closed_assignments WHERE assignment_id = $1 LIMIT 1) AS closed_firm,"
        " (SELECT firm_id FROM proposals WHERE assignment_id = $1) AS proposed_firm,"
        " EXISTS (SELECT 1 FROM proposals WHERE assignment_id = $1) AS proposed",
        assignment_id,
    )
    assert row is not None
    reservation = await connection.fetchrow(
        "SELECT coach_id, status FROM coach_reservations WHERE assignment_id = $1 FOR UPDATE", assignment_id
    )
    return AssignmentState(
        owner_firm=row["proposed_firm"] or row["open_firm"] or row["closed_firm"],
        closed=row["closed_firm"] is not None,
        proposed=row["proposed"],
        reserved_coach=reservation["coach_id"] if reservation else None,
        accepted=reservation is not None and reservation["status"] == "accepted",
    )


async def accept_reservation(
    connection: Connection, assignment_id: uuid.UUID, coach_id: str, accepted_at: datetime
) -> bool:
    """Mark the proposed reservation accepted; False if it is not (or no longer) a proposed
    reservation of this coach."""
    updated = await connection.fetchval(
        "UPDATE coach_reservations SET status = 'accepted', accepted_at = $3"
        " WHERE assignment_id = $1 AND coach_id = $2 AND status = 'proposed' RETURNING 1",
        assignment_id,
        coach_id,
        accepted_at,
    )
    return updated is not None


async def assignment_firm(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    """The firm of an assignment matching has seen (proposed or opened); None if it has not."""
    firm: str | None = await connection.fetchval(
        "SELECT coalesce((SELECT firm_id FROM proposals WHERE assignment_id = $1),"
        " (SELECT firm_id FROM open_partners WHERE assignment_id = $1))",
        assignment_id,
    )
    return firm


async def closes(connection: Connection, assignment_id: uuid.UUID, firm_id: str) -> tuple[bool, int]:
    """Whether the firm closed the assignment, after dropping its closes by other firms
    (recorded while it was unknown here): (closed by the firm, foreign closes dropped)."""
    row = await connection.fetchrow(
        "WITH foreign_closes AS (DELETE FROM closed_assignments WHERE assignment_id = $1 AND firm_id <> $2"
        " RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM closed_assignments WHERE assignment_id = $1 AND firm_id = $2) AS closed,"
        " (SELECT count(*) FROM foreign_closes) AS dropped",
        assignment_id,
        firm_id,
    )
    assert row is not None
    return bool(row["closed"]), int(row["dropped"])


async def record_closed(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, reason: str, closed_at: datetime
) -> bool:
    """True the first time the assignment is closed; a later cancel or withdrawal changes nothing."""
    inserted = await connection.fetchval(
        "INSERT INTO closed_assignments(assignment_id, firm_id, reason, closed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (assignment_id, firm_id) DO NOTHING RETURNING 1",
        assignment_id,
        firm_id,
        reason,
        closed_at,
    )
    return inserted is not None


async def reserved_coach(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    coach_id: str | None = await connection.fetchval(
        "SELECT coach_id FROM coach_reservations WHERE assignment_id = $1", assignment_id
    )
    return coach_id


async def close_partner(connection: Connection, assignment_id: uuid.UUID) -> bool:
    """No longer matched: batch re-assignment and new leads no longer consider the partner."""
    deleted = await connection.fetchval("DELETE FROM open_partners WHERE assignment_id = $1 RETURNING 1", assignment_id)
    return deleted is not None


async def release_closed_reservations(connection: Connection) -> int:
    """Free the places of closed assignments that still hold one (a coach's re-assignment that
    raced with the close). Counts only what was deleted here, so it never frees a place twice."""
    freed: int | None = await connection.fetchval(
        """
        WITH released AS (
            DELETE FROM coach_reservations r USING closed_assignments c
            WHERE r.assignment_id = c.assignment_id RETURNING r.coach_id
        ), per_coach AS (
            SELECT coach_id, count(*) AS n FROM released GROUP BY coach_id
        ), freed AS (
            UPDATE coaches SET active_partners = coaches.active_partners - per_coach.n
            FROM per_coach WHERE coaches.coach_id = per_coach.coach_id RETURNING per_coach.n
        )
        SELECT coalesce(sum(n), 0) FROM freed
        """
    )
    return int(freed or 0)


async def try_expiry_sweep_lock(connection: Connection) -> bool:
    """One replica sweeps at a time; the lock ends with the transaction."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", _EXPIRY_SWEEP_LOCK))


async def proposals_holding_expired_leads(
    connection: Connection, now: datetime, limit: int
) -> dict[uuid.UUID, list[str]]:
    """Open partners whose saved proposal holds a job lead that expired by `now`, with those
    leads. Their proposal rows stay locked until the transaction ends; a row another transaction
    is changing right now is skipped (the next sweep finds it)."""
    rows = await connection.fetch(
        """
        SELECT p.assignment_id FROM proposals p
        WHERE EXISTS (SELECT 1 FROM open_partners o WHERE o.assignment_id = p.assignment_id)
          AND EXISTS (
            SELECT 1 FROM jsonb_array_elements(p.proposal->'job_leads') AS held(lead)
            JOIN job_leads l ON l.job_lead_id = held.lead->>'job_lead_id'
            WHERE l.expires_at <= $1
          )
        ORDER BY p.assignment_id
        LIMIT $2
        FOR UPDATE OF p SKIP LOCKED
        """,
        now,
        limit,
    )
    if not rows:
        return {}
    expired = await connection.fetch(
        """
        SELECT p.assignment_id, array_agg(DISTINCT l.job_lead_id ORDER BY l.job_lead_id) AS lead_ids
        FROM proposals p
        CROSS JOIN LATERAL jsonb_array_elements(p.proposal->'job_leads') AS held(lead)
        JOIN job_leads l ON l.job_lead_id = held.lead->>'job_lead_id'
        WHERE p.assignment_id = ANY($1) AND l.expires_at <= $2
        GROUP BY p.assignment_id
        """,
        [r["assignment_id"] for r in rows],
        now,
    )
    return {r["assignment_id"]: list(r["lead_ids"]) for r in expired}


# ---- what the batch teaches the online path (assignment/prices.py) -----------------------------


@dataclass(frozen=True)
class PriceRun:
    run_id: int
    coach_price: dict[str, float]
    group_boost: dict[str, float]
    coverage: float


async def save_price_run(
    connection: Connection, coach_price: dict[str, float], group_boost: dict[str, float], coverage: float
) -> int:
    """Store a batch run's prices and reset the balances (the batch has just evened coverage
    out); runs beyond the latest `keep` are deleted."""
    run_id: int = await connection.fetchval("INSERT INTO price_runs(coverage) VALUES ($1) RETURNING run_id", coverage)
    await connection.executemany(
        "INSERT INTO coach_prices(run_id, coach_id, price) VALUES ($1, $2, $3)",
        [(run_id, coach_id, price) for coach_id, price in coach_price.items()],
    )
    await connection.executemany(
        "INSERT INTO group_boosts(run_id, group_name, boost) VALUES ($1, $2, $3)",
        [(run_id, group, boost) for group, boost in group_boost.items()],
    )
    await connection.execute("DELETE FROM fairness_balances")
    return run_id


async def prune_price_runs(connection: Connection, keep: int) -> None:
    await connection.execute(
        "DELETE FROM price_runs WHERE run_id NOT IN (SELECT run_id FROM price_runs ORDER BY run_id DESC LIMIT $1)",
        keep,
    )


async def latest_price_runs(connection: Connection, count: int) -> list[int]:
    """The ids of the latest `count` runs, newest first (one indexed query: the online path asks
    on every match, and reads the prices only when they changed)."""
    rows = await connection.fetch("SELECT run_id FROM price_runs ORDER BY run_id DESC LIMIT $1", count)
    return [r["run_id"] for r in rows]


async def price_runs(connection: Connection, run_ids: Sequence[int]) -> list[PriceRun]:
    runs = await connection.fetch(
        "SELECT run_id, coverage FROM price_runs WHERE run_id = ANY($1) ORDER BY run_id", list(run_ids)
    )
    prices = await connection.fetch(
        "SELECT run_id, coach_id, price FROM coach_prices WHERE run_id = ANY($1)", list(run_ids)
    )
    boosts = await connection.fetch(
        "SELECT run_id, group_name, boost FROM group_boosts WHERE run_id = ANY($1)", list(run_ids)
    )
    return [
        PriceRun(
            run_id=run["run_id"],
            coach_price={r["coach_id"]: r["price"] for r in prices if r["run_id"] == run["run_id"]},
            group_boost={r["group_name"]: r["boost"] for r in boosts if r["run_id"] == run["run_id"]},
            coverage=run["coverage"],
        )
        for run in runs
    ]


async def fairness_balances(connection: Connection, keys: Sequence[str]) -> dict[str, float]:
    rows = await connection.fetch(
        "SELECT balance_key, balance FROM fairness_balances WHERE balance_key = ANY($1)", list(keys)
    )
    return {r["balance_key"]: r["balance"] for r in rows}


async def shift_balances(connection: Connection, keys: Sequence[str], step: float, limit: float) -> None:
    """Move each balance by `step`, within ±`limit`, atomically: replicas deciding for partners
    of the same group at once each add their own step (no lost update)."""
    await connection.executemany(
        """
        INSERT INTO fairness_balances(balance_key, balance)
        VALUES ($1, GREATEST(LEAST($2::float8, $3::float8), -$3::float8))
        ON CONFLICT (balance_key) DO UPDATE
            SET balance = GREATEST(LEAST(fairness_balances.balance + $2::float8, $3::float8), -$3::float8)
        """,
        [(key, step, limit) for key in sorted(keys)],
    )
