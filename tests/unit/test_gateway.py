import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.gateway import domain
from services.gateway.auth import FirmAuthenticator, firm_of_user
from services.gateway.contracts import Lifecycle
from services.gateway.openapi import DOCUMENT, text
from shared.db import DependencyRefused


def test_the_committed_openapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == text(), "stale: run python -m services.gateway openapi"


def test_the_openapi_document_lists_the_operations_with_basic_sign_in() -> None:
    document = json.loads(DOCUMENT.read_text())
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert operations == {
        "submitAssignment",
        "cancelAssignment",
        "withdrawConsent",
        "acceptMatch",
        "getAssignment",
        "getDutyOfInformationReport",
    }
    assert document["components"]["securitySchemes"]["firm"] == {
        "type": "http",
        "scheme": "basic",
        "description": "the firm's Kafka user (firm-<firm_id>) and password",
    }
    submit = document["paths"]["/v1/assignments"]["post"]
    assert [p["name"] for p in submit["parameters"]] == ["Idempotency-Key"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AssignmentSubmission")


def test_a_request_becomes_one_event_id_per_firm_and_key() -> None:
    assert domain.event_id("acme", "k-1") == domain.event_id("acme", "k-1")
    assert domain.event_id("acme", "k-1") != domain.event_id("other", "k-1")
    assert domain.event_id("acme", "k-1") != domain.event_id("acme", "k-2")


@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "missing_field"), ("", "invalid_value"), ("has space", "invalid_value"), ("x" * 256, "invalid_value")],
)
def test_an_idempotency_key_is_required_and_plain(key: str | None, code: str) -> None:
    assert [e.code for e in domain.idempotency_key_errors(key)] == [code]
    assert domain.idempotency_key_errors(str(uuid.uuid4())) == []


def _row(**columns: object) -> dict[str, object]:
    return {"cancelled_at": None, "accepted_at": None, "rejection": None, **columns}


def test_the_lifecycle_cancelled_wins_then_accepted() -> None:
    now = datetime.now(UTC)
    assert domain.lifecycle(_row()) is Lifecycle.SUBMITTED
    assert domain.lifecycle(_row(rejection=[])) is Lifecycle.REJECTED
    assert domain.lifecycle(_row(rejection=[], accepted_at=now)) is Lifecycle.ACCEPTED  # a duplicate's refusal
    assert domain.lifecycle(_row(accepted_at=now, cancelled_at=now)) is Lifecycle.CANCELLED


def test_the_report_counts_as_notifications_does() -> None:
    accepted = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "assignment_id": "a",
            "accepted_at": accepted,
            "stakeholder": s,
            "informed_at": accepted + timedelta(seconds=n),
        }
        for s, n in (("partner", 10), ("employee", 20), ("hr", 30))
    ] + [{"assignment_id": "b", "accepted_at": accepted, "stakeholder": None, "informed_at": None}]
    report = domain.report("acme", date(2026, 11, 1), rows)
    assert (report.assignments, report.all_informed, report.share_all_informed) == (2, 1, 0.5)
    assert [(f.stakeholder, f.informed, f.p50_s) for f in report.stakeholders] == [
        ("partner", 1, 10.0),
        ("employee", 1, 20.0),
        ("hr", 1, 30.0),
    ]


def test_only_a_firms_kafka_user_signs_in_as_that_firm() -> None:
    assert firm_of_user("firm-nordic-relocation") == "nordic-relocation"
    assert firm_of_user("provider-coaches") is None
    assert firm_of_user("trailblazer") is None
    assert firm_of_user("firm-Bad.Id") is None


async def test_the_broker_decides_and_its_answer_is_kept_for_a_while() -> None:
    asked: list[tuple[str, str]] = []

    async def probe(user: str, password: str) -> None:
        asked.append((user, password))
        if password != "right":
            raise DependencyRefused("refused")

    auth = FirmAuthenticator(probe, trust_s=60, refusal_s=60)
    assert await auth.firm("firm-acme", "right") == "acme"
    assert await auth.firm("firm-acme", "right") == "acme"
    assert await auth.firm("firm-acme", "wrong") is None
    assert await auth.firm("firm-acme", "wrong") is None
    assert await auth.firm("provider-x", "right") is None  # never asked: not a firm's user
    assert asked == [("firm-acme", "right"), ("firm-acme", "wrong")]


def test_the_gateway_writes_each_firm_event_where_the_services_read_it() -> None:
    """Each firm event the gateway writes on the firm's own topic is read by a service."""
    import re

    from services.asyncapi import platform
    from services.gateway.api import WRITES, inbound_topic
    from shared.runtime import Service

    def reads(service: Service) -> list[str]:
        from faststream.kafka import KafkaBroker

        broker = KafkaBroker()
        service.register(broker, None, service.settings)  # type: ignore[arg-type]
        found: list[str] = []
        for subscriber in broker.subscribers:
            handler: Any = subscriber
            found += [handler.pattern] if handler.pattern else [re.escape(t) for t in handler.topics]
        return found

    patterns = [p for service in platform() if service.name != "gateway" for p in reads(service)]
    for event in WRITES:
        topic = inbound_topic("acme-relocation", event)
        assert any(re.fullmatch(p.strip("^$"), topic) for p in patterns), (
            f"no service reads {topic}: point services.gateway.api.inbound_topic where the services read"
        )
