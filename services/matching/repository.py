"""matching's tables: the catalog, coach reservations and the proposals made."""

import json
from collections.abc import Iterable
from datetime import datetime

from shared.contracts import Coach, JobLead, Location, MatchProposedPayload
from shared.db import Connection

from .domain import CoachCandidate


def _json(model: Coach | JobLead | MatchProposedPayload) -> object:
    return json.loads(model.model_dump_json())


async def upsert_coaches(connection: Connection, coaches: Iterable[Coach]) -> None:
    await connection.executemany(
        """
        INSERT INTO coaches(coach_id, coach, active, remote, service_countries, capacity)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (coach_id) DO UPDATE SET coach = EXCLUDED.coach, active = EXCLUDED.active,
            remote = EXCLUDED.remote, service_countries = EXCLUDED.service_countries,
            capacity = EXCLUDED.capacity, updated_at = now()
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


async def upsert_job_leads(connection: Connection, leads: Iterable[JobLead]) -> None:
    await connection.executemany(
        """
        INSERT INTO job_leads(job_lead_id, job_lead, country, remote, expires_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (job_lead_id) DO UPDATE SET job_lead = EXCLUDED.job_lead,
            country = EXCLUDED.country, remote = EXCLUDED.remote,
            expires_at = EXCLUDED.expires_at, updated_at = now()
        """,
        [(j.job_lead_id, _json(j), j.location.country, j.remote, j.expires_at) for j in leads],
    )


async def catalog_is_empty(connection: Connection) -> bool:
    return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM coaches)")


async def coaches_for(connection: Connection, host: Location) -> list[CoachCandidate]:
    """Coaches who could serve the host country, full ones included so that an empty result can
    say why."""
    rows = await connection.fetch(
        "SELECT coach, active_partners FROM coaches WHERE remote OR $1 = ANY(service_countries)",
        host.country,
    )
    return [CoachCandidate(Coach.model_validate(r["coach"]), r["active_partners"]) for r in rows]


async def open_job_leads_for(connection: Connection, host: Location, now: datetime) -> list[JobLead]:
    rows = await connection.fetch(
        "SELECT job_lead FROM job_leads WHERE (country = $1 OR remote) AND expires_at > $2",
        host.country,
        now,
    )
    return [JobLead.model_validate(r["job_lead"]) for r in rows]


async def reserve_coach(connection: Connection, coach_id: str, assignment_id: object) -> bool:
    """Take one place of the coach's capacity. Atomic: two replicas racing for the last place
    cannot both win, because the row update re-checks the capacity under its row lock."""
    taken = await connection.fetchval(
        "UPDATE coaches SET active_partners = active_partners + 1"
        " WHERE coach_id = $1 AND active AND active_partners < capacity RETURNING 1",
        coach_id,
    )
    if taken is None:
        return False
    await connection.execute(
        "INSERT INTO coach_reservations(assignment_id, coach_id) VALUES ($1, $2)", assignment_id, coach_id
    )
    return True


async def save_proposal(connection: Connection, proposal: MatchProposedPayload) -> None:
    await connection.execute(
        "INSERT INTO proposals(assignment_id, proposal) VALUES ($1, $2)"
        " ON CONFLICT (assignment_id) DO UPDATE SET proposal = EXCLUDED.proposal, proposed_at = now()",
        proposal.assignment_id,
        _json(proposal),
    )
