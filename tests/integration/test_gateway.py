"""The HTTP gateway, running as a service of the stack: a firm without Kafka submits, cancels,
withdraws consent, accepts a match and reads what happened, signed in with its own Kafka SCRAM user;
schemathesis probes the running API from its OpenAPI document."""

import asyncio
import base64
import copy
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deploy.local import kafka_access
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from shared import topics
from shared.contracts import Assignment
from shared.topics import FirmEvent, Kind, firm_topic

from .notifications_helpers import mails_to

pytestmark = pytest.mark.integration

FIRM = "http-relocation"
USER, PASSWORD = f"firm-{FIRM}", "gateway-test-password-4b1e"
OTHER_FIRM, OTHER_PASSWORD = "firm-other-relocation", "other-firm-password-9c2d"
# The firm's own topics (what it writes over HTTP lands on its inbound ones) and the internal ones.
REQUESTED, REJECTED, NOTIFIED, CANCELLED, WITHDRAWN, ACCEPTED, REFUSED = (
    firm_topic(FIRM, event)
    for event in (
        FirmEvent.ASSIGNMENT_REQUESTED,
        FirmEvent.ASSIGNMENT_REJECTED,
        FirmEvent.STAKEHOLDER_NOTIFIED,
        FirmEvent.ASSIGNMENT_CANCELLED,
        FirmEvent.PARTNER_CONSENT_WITHDRAWN,
        FirmEvent.MATCH_ACCEPTED,
        FirmEvent.MATCH_ACCEPTANCE_REFUSED,
    )
)
READ = (
    REQUESTED,
    topics.ASSIGNMENT_CREATED,
    REJECTED,
    topics.MATCH_PROPOSED,
    NOTIFIED,
    CANCELLED,
    WITHDRAWN,
    ACCEPTED,
    REFUSED,
)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def gateway(local_stack: StackConfig) -> Iterator[str]:
    # Onboarded as an operator onboards a firm, with passwords of the test's choosing.
    kafka_access.onboard_tenant(local_stack, Kind.FIRM, FIRM, PASSWORD)
    kafka_access.onboard_tenant(local_stack, Kind.FIRM, OTHER_FIRM.removeprefix("firm-"), OTHER_PASSWORD)
    yield f"http://127.0.0.1:{local_stack.gateway_port()}"


@pytest.fixture
async def firm(gateway: str) -> Any:
    async with httpx.AsyncClient(base_url=gateway, headers=basic(USER, PASSWORD), timeout=30) as client:
        yield client


def submission(family: int = 0) -> dict[str, Any]:
    """What a firm posts: the Kafka request's correlation id and payload, with addresses of its own."""
    request = assignment_request(SAMPLE_FAMILIES[family], firm_id=FIRM)
    assignment_id = request["payload"]["assignment_id"]
    for person in ("partner", "employee"):
        name, domain = request["payload"][person]["email"].split("@")
        request["payload"][person]["email"] = f"{name}+{assignment_id[:8]}@{domain}"
    return {"correlation_id": request["correlation_id"], "payload": request["payload"]}


def about(topic: str, assignment_id: str) -> Any:
    return lambda r: r.topic == topic and r.key == assignment_id


async def status_when(firm: httpx.AsyncClient, assignment_id: str, done: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = (await firm.get(f"/v1/assignments/{assignment_id}")).json()
        if done(answer) or time.monotonic() > deadline:
            return dict(answer)
        await asyncio.sleep(0.3)


def shape(records: list[Received]) -> list[tuple[str, str]]:
    """What matters of a record to compare two paths: its topic and event type."""
    return sorted((r.topic, r.value["event_type"]) for r in records)


async def test_an_assignment_over_http_gives_the_same_events_and_emails_as_one_on_kafka(
    local_stack: StackConfig, firm: httpx.AsyncClient
) -> None:
    over_http = submission(0)
    on_kafka = assignment_request(SAMPLE_FAMILIES[0], firm_id=FIRM)
    on_kafka["payload"] = copy.deepcopy(over_http["payload"])
    on_kafka["payload"]["assignment_id"] = str(uuid.uuid4())
    for person in ("partner", "employee"):
        name, domain = on_kafka["payload"][person]["email"].split("@")
        on_kafka["payload"][person]["email"] = (
            f"{name.split('+')[0]}+{on_kafka['payload']['assignment_id'][:8]}@{domain}"
        )
    http_id, kafka_id = over_http["payload"]["assignment_id"], on_kafka["payload"]["assignment_id"]
    key = str(uuid.uuid4())
    async with TopicReader(local_stack, *READ) as reader:
        answer = await firm.post("/v1/assignments", json=over_http, headers={"Idempotency-Key": key})
        assert answer.status_code == 202, answer.text
        assert answer.json()["assignment_id"] == http_id and answer.json()["event_type"] == "assignment.requested"
        await publish(local_stack, [(record_key(on_kafka), encode(on_kafka))], firm_id=FIRM)

        both = {}
        for assignment_id in (http_id, kafka_id):
            await reader.wait_for(about(topics.ASSIGNMENT_CREATED, assignment_id))
            await reader.wait_for(about(topics.MATCH_PROPOSED, assignment_id))
            await reader.wait_for(about(NOTIFIED, assignment_id), count=3)
            both[assignment_id] = [r for r in reader.records if r.key == assignment_id]
        assert shape(both[http_id]) == shape(both[kafka_id])
        [requested] = [r for r in both[http_id] if r.topic == REQUESTED]
        assert requested.value["firm_id"] == FIRM
        assert Assignment.model_validate(requested.value["payload"]) == Assignment.model_validate(over_http["payload"])
        # The same e-mails, each to the person of its own assignment.
        for role in ("partner", "employee"):
            http_mails = mails_to(local_stack, over_http["payload"][role]["email"])
            kafka_mails = mails_to(local_stack, on_kafka["payload"][role]["email"])
            assert [m["Subject"] for m in http_mails] == [m["Subject"] for m in kafka_mails] != []
            # (The texts differ where the match does: the first took a place at the coach.)
            kinds = [(m["X-Trailblazer-Content-Kind"], m["Content-Language"]) for m in http_mails]
            assert kinds == [(m["X-Trailblazer-Content-Kind"], m["Content-Language"]) for m in kafka_mails]

        # The same request again: the first answer, and no second event.
        again = await firm.post("/v1/assignments", json=over_http, headers={"Idempotency-Key": key})
        assert again.status_code == 202 and again.json() == answer.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = {**over_http, "correlation_id": "another"}
        reused = await firm.post("/v1/assignments", json=other, headers={"Idempotency-Key": key})
        assert reused.status_code == 409 and reused.json()["errors"][0]["code"] == "idempotency_key_reused"
        duplicate = await firm.post("/v1/assignments", json=over_http, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["code"] == "duplicate_assignment"
        await asyncio.sleep(2)
        assert len(reader.matching(about(REQUESTED, http_id))) == 1

    status = await status_when(firm, http_id, lambda s: len(s["deliveries"]) >= 3 and s["match"] is not None)
    assert status["status"] == "accepted" and status["match"] is not None
    assert {d["stakeholder"] for d in status["deliveries"]} >= {"partner", "employee", "hr"}
    report = (await firm.get("/v1/reports/duty-of-information")).json()
    assert report["firm_id"] == FIRM and report["assignments"] >= 2
    figures = {f["stakeholder"]: f for f in report["stakeholders"]}
    assert figures["partner"]["informed"] >= 2 and figures["partner"]["p50_s"] is not None


async def test_refusals_carry_the_kafka_paths_codes(local_stack: StackConfig, firm: httpx.AsyncClient) -> None:
    broken = submission(1)
    broken["payload"]["surprise"] = True
    broken["payload"]["host_location"]["country"] = "XX"
    answer = await firm.post("/v1/assignments", json=broken, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 422
    assert {(e["field"], e["code"]) for e in answer.json()["errors"]} == {
        ("payload.surprise", "unknown_field"),
        ("payload.host_location.country", "invalid_value"),
    }
    missing_key = await firm.post("/v1/assignments", json=submission(1))
    assert missing_key.status_code == 422
    assert missing_key.json()["errors"][0] == {
        "field": "$header.Idempotency-Key",
        "code": "missing_field",
        "message": "every POST needs an Idempotency-Key header",
    }
    # Intake's own rules answer asynchronously, as on Kafka: the status shows its rejection.
    unconsented = submission(1)
    unconsented["payload"]["partner"]["consent"]["given_by_partner"] = False
    posted = await firm.post("/v1/assignments", json=unconsented, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert posted.status_code == 202
    assignment_id = unconsented["payload"]["assignment_id"]
    status = await status_when(firm, assignment_id, lambda s: s["status"] != "submitted")
    assert status["status"] == "rejected"
    assert [e["code"] for e in status["rejection"]] == ["consent_not_from_partner"]


async def test_cancel_withdraw_and_accept_become_the_firms_events(
    local_stack: StackConfig, firm: httpx.AsyncClient, gateway: str
) -> None:
    body = submission(2)
    assignment_id = body["payload"]["assignment_id"]
    async with TopicReader(local_stack, *READ) as reader:
        assert (
            await firm.post("/v1/assignments", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        ).is_success
        await reader.wait_for(about(topics.MATCH_PROPOSED, assignment_id))
        wrong_coach = {"coach_id": "no-such-coach"}
        accepted = await firm.post(
            f"/v1/assignments/{assignment_id}/match-acceptance",
            json=wrong_coach,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert accepted.status_code == 202 and accepted.json()["event_type"] == "match.accepted"
        [refusal] = await reader.wait_for(about(REFUSED, assignment_id))
        status = await status_when(firm, assignment_id, lambda s: (s["acceptance"] or {}).get("status") == "refused")
        refusal_codes = [e["code"] for e in refusal.value["payload"]["errors"]]
        assert [e["code"] for e in status["acceptance"]["errors"]] == refusal_codes
        assert refusal_codes[0] in ("coach_not_proposed", "no_coach_proposed")

        withdrawn = await firm.post(
            f"/v1/assignments/{assignment_id}/consent-withdrawal",
            json={},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert withdrawn.status_code == 202
        cancelled = await firm.post(
            f"/v1/assignments/{assignment_id}/cancellation",
            json={"reason": "assignment postponed"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert cancelled.status_code == 202
        [withdrawal] = await reader.wait_for(about(WITHDRAWN, assignment_id))
        [cancellation] = await reader.wait_for(about(CANCELLED, assignment_id))
        assert withdrawal.value["firm_id"] == cancellation.value["firm_id"] == FIRM
        assert cancellation.value["correlation_id"] == body["correlation_id"]
    status = await status_when(firm, assignment_id, lambda s: s["status"] == "cancelled")
    assert status["status"] == "cancelled" and status["consent_withdrawn_at"] is not None

    # Another firm neither sees nor touches it; a wrong password is refused.
    async with httpx.AsyncClient(base_url=gateway, headers=basic(OTHER_FIRM, OTHER_PASSWORD)) as other:
        assert (await other.get(f"/v1/assignments/{assignment_id}")).status_code == 404
        stolen = await other.post(
            f"/v1/assignments/{assignment_id}/cancellation", json={}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert stolen.status_code == 404 and stolen.json()["errors"][0]["code"] == "unknown_assignment"
    async with httpx.AsyncClient(base_url=gateway, headers=basic(USER, "not-the-password")) as guessing:
        refused = await guessing.get(f"/v1/assignments/{assignment_id}")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    async with httpx.AsyncClient(base_url=gateway) as anonymous:
        assert (await anonymous.get(f"/v1/assignments/{assignment_id}")).status_code == 401


def test_schemathesis_finds_no_server_error_and_every_answer_is_documented(gateway: str) -> None:
    """Every operation of the OpenAPI document the running gateway serves, with bodies, paths,
    queries and headers hypothesis draws from it, signed in as a firm."""
    schema = schemathesis.openapi.from_url(f"{gateway}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == 6
    for operation, mode in itertools.product(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def probe(case: Any) -> None:
            case.call_and_validate(base_url=gateway, headers=basic(USER, PASSWORD), checks=checks)

        probe()
