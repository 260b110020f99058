"""Firms and catalog providers on their own topics, on the real stack: a firm is the topic it
writes to, never the `firm_id` it wrote. Firm B naming firm A (its id or one of its assignments)
changes nothing of A's and is refused with a reason; a provider cannot change another provider's
coach; a firm onboarded while the services run is served; A's topics carry A's assignments only.
(With the broker's authorizer on, B cannot even write to A's topics: tests/integration/test_tenancy.py.)"""

import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from shared import dead_letter, topics
from shared.topics import FirmEvent, ProviderEvent, firm_topic, provider_topic

from .matching_catalog import coach, publish_to
from .notifications_helpers import own_addresses
from .polling import eventually
from .tenants import firm_topics, on, onboard

pytestmark = pytest.mark.integration

A, B = LOCAL_FIRMS  # the local stack's two firms: their topics come with the stack
RUN = uuid.uuid4().hex[:8]  # a stack directory may be reused: this run's own tenants
OWNER, RIVAL = LOCAL_PROVIDERS[0], f"rival-coaching-{RUN}"
OUTBOUND = (
    FirmEvent.ASSIGNMENT_REJECTED,
    FirmEvent.MATCH_ACCEPTANCE_REFUSED,
    FirmEvent.STAKEHOLDER_NOTIFIED,
    FirmEvent.DUTY_OF_INFORMATION,
)
# Every service that reads a firm's cancellations and consent withdrawals dead-letters its own copy
# of one it refuses (firms have no refusal topic for them: docs/events.md).
STOPPERS = {"matching", "notifications", "care"}


def firm_event(firm_id: str, assignment_id: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": now,
        "firm_id": firm_id,
        "correlation_id": f"{firm_id}-{uuid.uuid4().hex[:8]}",
        "payload": {"assignment_id": assignment_id, **payload},
    }


def dead_letters_of(event: dict[str, Any], topic: str) -> Callable[[Received], bool]:
    return lambda r: (
        r.topic == topics.DEAD_LETTER
        and r.headers.get(dead_letter.TOPIC) == topic
        and r.value.get("event_id") == event["event_id"]
    )


@pytest.fixture(scope="module")
async def databases(local_stack: StackConfig) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    connections = {s: await asyncpg.connect(local_stack.database_url(s)) for s in ("intake", "gateway", *STOPPERS)}
    try:
        yield connections
    finally:
        for connection in connections.values():
            await connection.close()


async def test_a_request_on_b_s_topic_naming_firm_a_is_refused_there_and_creates_nothing(
    local_stack: StackConfig, databases: dict[str, asyncpg.Connection]
) -> None:
    forged = assignment_request(SAMPLE_FAMILIES[1], firm_id=A)  # says it is A's
    assignment_id = forged["payload"]["assignment_id"]
    read = (topics.ASSIGNMENT_CREATED, topics.DEAD_LETTER, *firm_topics((A, B), FirmEvent.ASSIGNMENT_REJECTED))
    async with TopicReader(local_stack, *read) as reader:
        await publish(local_stack, [(record_key(forged), encode(forged))], firm_id=B)
        [refusal] = await reader.wait_for(on(FirmEvent.ASSIGNMENT_REJECTED, assignment_id))
        await reader.wait_for(dead_letters_of(forged, firm_topic(B, FirmEvent.ASSIGNMENT_REQUESTED)))
        # The refusal and the dead letter were queued in the transaction that handled the record:
        # had anything been created, it would have been queued with them.
        assert reader.matching(lambda r: r.topic == topics.ASSIGNMENT_CREATED and r.key == assignment_id) == []
    assert refusal.topic == firm_topic(B, FirmEvent.ASSIGNMENT_REJECTED), "answered to the sender, not to A"
    assert refusal.value["firm_id"] == B
    assert [(e["field"], e["code"]) for e in refusal.value["payload"]["errors"]] == [("firm_id", "firm_mismatch")]
    stored = await databases["intake"].fetchval(
        "SELECT count(*) FROM assignments WHERE assignment_id = $1", uuid.UUID(assignment_id)
    )
    assert stored == 0


async def test_b_cannot_cancel_accept_or_withdraw_consent_for_a_s_assignment(
    local_stack: StackConfig, databases: dict[str, asyncpg.Connection]
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[0], firm_id=A)
    assignment_id = request["payload"]["assignment_id"]
    key = uuid.UUID(assignment_id)
    read = (
        topics.MATCH_PROPOSED,
        topics.DEAD_LETTER,
        *firm_topics((A, B), FirmEvent.MATCH_ACCEPTANCE_REFUSED, FirmEvent.DUTY_OF_INFORMATION),
        firm_topic(A, FirmEvent.STAKEHOLDER_NOTIFIED),
    )
    async with TopicReader(local_stack, *read) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=A)
        [match] = await reader.wait_for(lambda r: r.topic == topics.MATCH_PROPOSED and r.key == assignment_id)
        await reader.wait_for(on(FirmEvent.STAKEHOLDER_NOTIFIED, assignment_id), count=3)
        await eventually(
            lambda: databases["care"].fetchrow("SELECT 1 FROM care_assignments WHERE assignment_id = $1", key),
            "care follows A's assignment",
        )
        coach_id = (match.value["payload"]["coach"] or {}).get("coach_id", "any-coach")

        # B, on its own topics, as itself: A's assignment is unknown to it.
        now = datetime.now(UTC).isoformat()
        cancel = firm_event(B, assignment_id, "assignment.cancelled", {"reason": "not ours", "cancelled_at": now})
        withdraw = firm_event(B, assignment_id, "partner.consent_withdrawn", {"withdrawn_at": now})
        accept = firm_event(B, assignment_id, "match.accepted", {"coach_id": coach_id, "accepted_at": now})
        # B, on its own topic, writing A's name: refused as naming another firm.
        posing = {**firm_event(B, assignment_id, "assignment.cancelled", {"cancelled_at": now}), "firm_id": A}
        sent = {
            FirmEvent.ASSIGNMENT_CANCELLED: [cancel, posing],
            FirmEvent.PARTNER_CONSENT_WITHDRAWN: [withdraw],
            FirmEvent.MATCH_ACCEPTED: [accept],
        }
        for kind, events in sent.items():
            await publish_to(local_stack, firm_topic(B, kind), [(assignment_id, e) for e in events])

        [refusal] = await reader.wait_for(on(FirmEvent.MATCH_ACCEPTANCE_REFUSED, assignment_id))
        assert refusal.topic == firm_topic(B, FirmEvent.MATCH_ACCEPTANCE_REFUSED) and refusal.value["firm_id"] == B
        assert [(e["field"], e["code"]) for e in refusal.value["payload"]["errors"]] == [
            ("payload.assignment_id", "unknown_assignment")
        ]
        for event, topic in (
            (cancel, firm_topic(B, FirmEvent.ASSIGNMENT_CANCELLED)),
            (withdraw, firm_topic(B, FirmEvent.PARTNER_CONSENT_WITHDRAWN)),
        ):
            letters = await reader.wait_for(dead_letters_of(event, topic), count=len(STOPPERS))
            assert {r.headers[dead_letter.CONSUMER] for r in letters} == STOPPERS
            for letter in letters:
                assert "payload.assignment_id=unknown_assignment" in letter.headers[dead_letter.REASON], letter.headers
        posed = await reader.wait_for(
            dead_letters_of(posing, firm_topic(B, FirmEvent.ASSIGNMENT_CANCELLED)), count=len(STOPPERS)
        )
        assert all("firm_id=firm_mismatch" in r.headers[dead_letter.REASON] for r in posed)
        [accept_letter] = await reader.wait_for(dead_letters_of(accept, firm_topic(B, FirmEvent.MATCH_ACCEPTED)))
        assert accept_letter.headers[dead_letter.CONSUMER] == "matching"

        # Nothing of A's changed: not closed, not stopped, nothing cancelled or suppressed.
        statuses = {
            r.value["payload"]["status"] for r in reader.matching(on(FirmEvent.DUTY_OF_INFORMATION, assignment_id))
        }
        assert not statuses & {"cancelled", "suppressed"}, statuses
        assert not reader.matching(
            lambda r: r.topic == firm_topic(B, FirmEvent.DUTY_OF_INFORMATION) and r.key == assignment_id
        )
    matching, notifications, care = databases["matching"], databases["notifications"], databases["care"]
    assert await matching.fetchval("SELECT count(*) FROM closed_assignments WHERE assignment_id = $1", key) == 0
    reservation = await matching.fetchrow("SELECT status FROM coach_reservations WHERE assignment_id = $1", key)
    assert reservation is None or reservation["status"] == "proposed"
    for table in ("cancellations", "consent_withdrawals"):
        assert await notifications.fetchval(f"SELECT count(*) FROM {table} WHERE assignment_id = $1", key) == 0
    assert await care.fetchval("SELECT stopped FROM care_assignments WHERE assignment_id = $1", key) is None

    # A itself can: its own cancellation on its own topic stops its assignment.
    own = firm_event(A, assignment_id, "assignment.cancelled", {"reason": "postponed", "cancelled_at": now})
    await publish_to(local_stack, firm_topic(A, FirmEvent.ASSIGNMENT_CANCELLED), [(assignment_id, own)])
    await eventually(
        lambda: matching.fetchval("SELECT firm_id FROM closed_assignments WHERE assignment_id = $1", key),
        "A's cancellation closes its assignment",
    )
    assert await matching.fetchval("SELECT firm_id FROM closed_assignments WHERE assignment_id = $1", key) == A


async def test_a_provider_cannot_change_or_remove_another_providers_coach(
    local_stack: StackConfig, databases: dict[str, asyncpg.Connection]
) -> None:
    onboard(local_stack, providers=[RIVAL])  # a provider onboarded while the services run
    coach_id = f"coach-mt-{RUN}"
    original = coach(coach_id, "mt", "Valletta", "MT", 1)
    matching = databases["matching"]
    rejected = [provider_topic(p, ProviderEvent.CATALOG_REJECTED) for p in (OWNER, RIVAL)]
    async with TopicReader(local_stack, *rejected, topics.DEAD_LETTER) as reader:
        await publish_to(local_stack, provider_topic(OWNER, ProviderEvent.CATALOG_COACHES), [(coach_id, original)])
        await eventually(
            lambda: matching.fetchval("SELECT provider_id FROM catalog_owners WHERE record_id = $1", coach_id),
            "the owner's coach stored",
        )
        changed = {**original, "display_name": "Someone else", "capacity": 0}
        rival_topic = provider_topic(RIVAL, ProviderEvent.CATALOG_COACHES)
        await publish_to(local_stack, rival_topic, [(coach_id, changed), (coach_id, None)])
        refusals = await reader.wait_for(
            lambda r: r.topic == provider_topic(RIVAL, ProviderEvent.CATALOG_REJECTED) and r.key == coach_id, count=2
        )
        letters = await reader.wait_for(
            lambda r: (
                r.topic == topics.DEAD_LETTER and r.headers.get(dead_letter.TOPIC) == rival_topic and r.key == coach_id
            ),
            count=2,
        )
        assert not reader.matching(
            lambda r: r.topic == provider_topic(OWNER, ProviderEvent.CATALOG_REJECTED) and r.key == coach_id
        )
    for refusal in refusals:
        assert [(e["field"], e["code"]) for e in refusal.value["payload"]["errors"]] == [("$key", "provider_mismatch")]
    assert all("provider_mismatch" in r.headers[dead_letter.REASON] for r in letters)
    row = await matching.fetchrow("SELECT coach, deleted, capacity FROM coaches WHERE coach_id = $1", coach_id)
    assert row is not None and not row["deleted"] and row["capacity"] == 1
    assert json.loads(row["coach"])["display_name"] == original["display_name"]
    assert await matching.fetchval("SELECT provider_id FROM catalog_owners WHERE record_id = $1", coach_id) == OWNER

    # Its own provider may: it removes the coach (and so leaves no coach behind for other tests).
    await publish_to(local_stack, provider_topic(OWNER, ProviderEvent.CATALOG_COACHES), [(coach_id, None)])
    await eventually(
        lambda: matching.fetchval("SELECT deleted FROM coaches WHERE coach_id = $1", coach_id), "the owner removes it"
    )


async def test_a_firm_onboarded_while_the_services_run_is_served_on_its_own_topics(local_stack: StackConfig) -> None:
    newcomer = f"newcomer-{RUN}"
    onboard(local_stack, newcomer)
    request = assignment_request(SAMPLE_FAMILIES[2], firm_id=newcomer)
    broken = assignment_request(SAMPLE_FAMILIES[2], firm_id=newcomer)
    del broken["payload"]["partner"]
    read = firm_topics((newcomer,), FirmEvent.STAKEHOLDER_NOTIFIED, FirmEvent.ASSIGNMENT_REJECTED)
    async with TopicReader(local_stack, *read) as reader:
        # Written before the services' next metadata refresh has found the firm's topics: read
        # from the start once it has.
        records = [(record_key(r), encode(r)) for r in (broken, request)]
        await publish(local_stack, records, firm_id=newcomer)
        notified = await reader.wait_for(
            on(FirmEvent.STAKEHOLDER_NOTIFIED, request["payload"]["assignment_id"]), count=3
        )
        [refusal] = await reader.wait_for(on(FirmEvent.ASSIGNMENT_REJECTED, broken["payload"]["assignment_id"]))
    assert {n.value["payload"]["stakeholder"] for n in notified} == {"partner", "employee", "hr"}
    assert {n.value["firm_id"] for n in notified} == {refusal.value["firm_id"]} == {newcomer}
    assert {(e["field"], e["code"]) for e in refusal.value["payload"]["errors"]} == {
        ("payload.partner", "missing_field")
    }


async def test_each_firm_s_outbound_topics_carry_only_its_own_assignments(local_stack: StackConfig) -> None:
    requests = {firm: assignment_request(SAMPLE_FAMILIES[i], firm_id=firm) for i, firm in enumerate((A, B))}
    for request in requests.values():
        own_addresses(request)  # the sample families' addresses are every test's: this run's own
    ids = {firm: r["payload"]["assignment_id"] for firm, r in requests.items()}
    async with TopicReader(local_stack, *firm_topics((A, B), *OUTBOUND)) as reader:
        for firm, request in requests.items():
            await publish(local_stack, [(record_key(request), encode(request))], firm_id=firm)
        for firm in (A, B):
            await reader.wait_for(on(FirmEvent.STAKEHOLDER_NOTIFIED, ids[firm]), count=3)
            await reader.wait_for(on(FirmEvent.DUTY_OF_INFORMATION, ids[firm]))
        records = list(reader.records)
    for firm, other in ((A, B), (B, A)):
        own_topics = set(firm_topics((firm,), *OUTBOUND))
        on_its_topics = [r for r in records if r.topic in own_topics]
        assert {r.value["firm_id"] for r in on_its_topics} == {firm}, "every record on a firm's topics is its own"
        assert ids[firm] in {r.key for r in on_its_topics}
        assert ids[other] not in {r.key for r in on_its_topics}, f"{other}'s assignment on {firm}'s topics"
        other_partner = requests[other]["payload"]["partner"]["email"]
        assert other_partner not in json.dumps([r.value for r in on_its_topics]), "another firm's partner's address"


async def test_b_cancelling_an_assignment_id_before_a_s_request_arrives_stops_nothing_of_a_s(
    local_stack: StackConfig, databases: dict[str, asyncpg.Connection]
) -> None:
    """A stop may overtake its assignment (another topic): each service keeps it for its firm only,
    so an id B names before A's request exists does not stop A's assignment once it comes."""
    request = assignment_request(SAMPLE_FAMILIES[0], firm_id=A)
    assignment_id = request["payload"]["assignment_id"]
    key = uuid.UUID(assignment_id)
    now = datetime.now(UTC).isoformat()
    early = firm_event(B, assignment_id, "assignment.cancelled", {"reason": "first", "cancelled_at": now})
    await publish_to(local_stack, firm_topic(B, FirmEvent.ASSIGNMENT_CANCELLED), [(assignment_id, early)])
    kept = {
        "matching": "SELECT firm_id FROM closed_assignments WHERE assignment_id = $1",
        "notifications": "SELECT firm_id FROM cancellations WHERE assignment_id = $1",
        "care": "SELECT firm_id FROM care_early_stops WHERE assignment_id = $1",
    }
    for service, query in kept.items():
        stored = functools.partial(databases[service].fetchval, query, key)
        owner = await eventually(stored, f"{service} keeps B's early stop")
        assert owner == B

    read = (topics.MATCH_PROPOSED, *firm_topics((A,), FirmEvent.STAKEHOLDER_NOTIFIED, FirmEvent.DUTY_OF_INFORMATION))
    async with TopicReader(local_stack, *read) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=A)
        await reader.wait_for(lambda r: r.topic == topics.MATCH_PROPOSED and r.key == assignment_id)
        await reader.wait_for(on(FirmEvent.STAKEHOLDER_NOTIFIED, assignment_id), count=3)
        statuses = {
            r.value["payload"]["status"] for r in reader.matching(on(FirmEvent.DUTY_OF_INFORMATION, assignment_id))
        }
    assert not statuses & {"cancelled", "suppressed"}, statuses
    row = await eventually(
        lambda: databases["care"].fetchrow("SELECT stopped FROM care_assignments WHERE assignment_id = $1", key),
        "care follows A's assignment",
    )
    assert row is not None and row["stopped"] is None
    for service in ("matching", "notifications"):
        assert await databases[service].fetchval(kept[service], key) is None, f"{service} dropped B's stop"
    # The gateway's view of the assignment is A's, though B's early cancel reached it first.
    shown = functools.partial(
        databases["gateway"].fetchrow,
        "SELECT firm_id, cancelled_at FROM assignments WHERE assignment_id = $1 AND accepted_at IS NOT NULL",
        key,
    )
    view = await eventually(shown, "the gateway shows A's assignment")
    assert view is not None and (view["firm_id"], view["cancelled_at"]) == (A, None)
