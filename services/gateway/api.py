"""The HTTP API firms call: each POST becomes the event the firm would publish on Kafka, written
through the outbox in the same transaction as the idempotency record; GETs read what the gateway
projected from the services' answers. OpenAPI at /openapi.json (committed as openapi.json)."""

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared import outbox
from shared.contracts import (
    AssignmentCancelled,
    AssignmentCancelledPayload,
    AssignmentRequested,
    Envelope,
    FieldError,
    MatchAccepted,
    MatchAcceptedPayload,
    PartnerConsentWithdrawn,
    PartnerConsentWithdrawnPayload,
    utc_now,
)
from shared.contracts.decoding import MAX_EVENT_BYTES, InvalidEvent, code_of, decode
from shared.db import Connection
from shared.topics import FirmEvent, firm_topic

from . import domain, repository
from .auth import AuthUnavailable, FirmAuthenticator
from .contracts import (
    Acceptance,
    AssignmentStatus,
    AssignmentSubmission,
    CancellationRequest,
    ConsentWithdrawalRequest,
    Delivery,
    DutyOfInformationReport,
    Match,
    MatchAcceptanceRequest,
    Problem,
    Submitted,
)

# The firm events the API writes for the signed-in firm.
WRITES: tuple[FirmEvent, ...] = (
    FirmEvent.ASSIGNMENT_REQUESTED,
    FirmEvent.ASSIGNMENT_CANCELLED,
    FirmEvent.PARTNER_CONSENT_WITHDRAWN,
    FirmEvent.MATCH_ACCEPTED,
)


def inbound_topic(firm_id: str, event: FirmEvent) -> str:
    """Where a firm event goes: the firm's own inbound topic, the same one the firm writes on
    Kafka (the services cannot tell which way an event came). The firm is the signed-in one."""
    return firm_topic(firm_id, event)


M = TypeVar("M", bound=BaseModel)


class Refusal(Exception):
    """Answer with these errors; nothing of the request is kept (fix it and send it again with
    the same Idempotency-Key)."""

    def __init__(self, status: int, errors: list[FieldError]) -> None:
        self.status = status
        self.errors = errors


def _problem(status: int, *errors: FieldError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(Problem(errors=list(errors)).model_dump(mode="json"), status, headers=headers)


_UNAUTHORIZED = FieldError(
    field="$header.Authorization",
    code="unauthorized",
    message="sign in with your firm's Kafka user (firm-<firm_id>) and password, HTTP Basic",
)


def _unknown(assignment_id: uuid.UUID) -> Refusal:
    message = f"no assignment {assignment_id} of your firm is known here"
    return Refusal(404, [FieldError(field="assignment_id", code="unknown_assignment", message=message)])


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not signed in as a firm (code `unauthorized`)"},
    422: {"model": Problem, "description": "A parameter or the body breaks the contract: the Kafka path's codes"},
    503: {"model": Problem, "description": "The broker cannot check the sign-in now (code `unavailable`)"},
}
_WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **_PROBLEMS,
    404: {"model": Problem, "description": "No such assignment of this firm (code `unknown_assignment`)"},
    409: {"model": Problem, "description": "`duplicate_assignment`, or `idempotency_key_reused` for another request"},
    413: {"model": Problem, "description": "The body is over 1 MB (code `too_large`)"},
}


def create_api(pool: asyncpg.Pool, authenticator: FirmAuthenticator) -> FastAPI:
    api = FastAPI(
        title="Trailblazer gateway",
        version="1.0.0",
        summary="The HTTP way in for relocation firms without Kafka",
        description=(
            "Each POST becomes the event a firm would publish on its Kafka topic (docs/events.md) and "
            "is answered 202 once written; the services answer on the same topics as for Kafka, and "
            "`GET /v1/assignments/{assignment_id}` shows their answers. Sign in with your firm's Kafka "
            "user (`firm-<firm_id>`) and password (HTTP Basic). Every POST needs an `Idempotency-Key` "
            "header: a repeat with the same key and body gets the first answer again (with "
            "`Idempotent-Replayed: true`) and never a second event."
        ),
    )

    async def firm(request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            raise Refusal(401, [_UNAUTHORIZED])
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Refusal(401, [_UNAUTHORIZED]) from None
        firm_id = await authenticator.firm(user, password)
        if firm_id is None:
            raise Refusal(401, [_UNAUTHORIZED])
        return firm_id

    Firm = Annotated[str, Depends(firm)]

    @api.exception_handler(Refusal)
    async def refused(request: Request, refusal: Refusal) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="trailblazer"'} if refusal.status == 401 else None
        return _problem(refusal.status, *refusal.errors, headers=headers)

    @api.exception_handler(AuthUnavailable)
    async def unavailable(request: Request, error: AuthUnavailable) -> JSONResponse:
        message = "the sign-in cannot be checked now; try again shortly"
        problem = FieldError(field="$header.Authorization", code="unavailable", message=message)
        return _problem(503, problem, headers={"Retry-After": "5"})

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # Path and query parameters (the bodies are decoded as on Kafka, below).
        errors = [
            FieldError(field=".".join(str(p) for p in e["loc"]), code=code_of(e["type"]), message=str(e["msg"]))
            for e in error.errors()
        ]
        return _problem(422, *errors)

    async def write(
        request: Request,
        firm_id: str,
        contract: type[M],
        effect: Callable[[Connection, str, M, uuid.UUID], Awaitable[BaseModel]],
    ) -> JSONResponse:
        """Decode the body like a Kafka record, then run `effect` and keep its answer under the
        Idempotency-Key, in one transaction with the event it wrote to the outbox."""
        key = request.headers.get(domain.IDEMPOTENCY_HEADER)
        if errors := domain.idempotency_key_errors(key):
            raise Refusal(422, errors)
        assert key is not None
        if int(request.headers.get("Content-Length") or 0) > MAX_EVENT_BYTES:
            message = f"over the limit of {MAX_EVENT_BYTES} bytes"
            raise Refusal(413, [FieldError(field="$", code="too_large", message=message)])
        body = await request.body()
        request_print = domain.fingerprint(request.method, request.url.path, body)
        try:
            async with pool.acquire() as connection, connection.transaction():
                seen = await repository.claim(connection, firm_id, key, request_print)
                if seen is not None:
                    return _replay(seen, request_print)
                try:
                    parsed = decode(body, contract)
                except InvalidEvent as invalid:
                    raise Refusal(422, invalid.errors) from None
                answer = (await effect(connection, firm_id, parsed, domain.event_id(firm_id, key))).model_dump(
                    mode="json"
                )
                await repository.answer(connection, firm_id, key, 202, answer)
        except Refusal:
            raise  # rolled back: the key is free for a corrected request
        return JSONResponse(answer, 202)

    @api.post(
        "/v1/assignments",
        status_code=202,
        response_model=Submitted,
        responses=_WRITE_PROBLEMS,
        openapi_extra=_body(AssignmentSubmission),
        summary="Submit an assignment (assignment.requested)",
        operation_id="submitAssignment",
    )
    async def submit(request: Request, firm_id: Firm) -> JSONResponse:
        return await write(request, firm_id, AssignmentSubmission, _submit)

    @api.post(
        "/v1/assignments/{assignment_id}/cancellation",
        status_code=202,
        response_model=Submitted,
        responses=_WRITE_PROBLEMS,
        openapi_extra=_body(CancellationRequest),
        summary="Cancel an assignment (assignment.cancelled)",
        operation_id="cancelAssignment",
    )
    async def cancel(request: Request, assignment_id: uuid.UUID, firm_id: Firm) -> JSONResponse:
        async def effect(c: Connection, f: str, body: CancellationRequest, event_id: uuid.UUID) -> BaseModel:
            payload = AssignmentCancelledPayload(
                assignment_id=assignment_id, reason=body.reason, cancelled_at=utc_now()
            )
            return await _publish(
                c, f, assignment_id, FirmEvent.ASSIGNMENT_CANCELLED, AssignmentCancelled, payload, event_id
            )

        return await write(request, firm_id, CancellationRequest, effect)

    @api.post(
        "/v1/assignments/{assignment_id}/consent-withdrawal",
        status_code=202,
        response_model=Submitted,
        responses=_WRITE_PROBLEMS,
        openapi_extra=_body(ConsentWithdrawalRequest),
        summary="The partner withdrew consent (partner.consent_withdrawn)",
        operation_id="withdrawConsent",
    )
    async def withdraw(request: Request, assignment_id: uuid.UUID, firm_id: Firm) -> JSONResponse:
        async def effect(c: Connection, f: str, body: ConsentWithdrawalRequest, event_id: uuid.UUID) -> BaseModel:
            payload = PartnerConsentWithdrawnPayload(assignment_id=assignment_id, withdrawn_at=utc_now())
            event = PartnerConsentWithdrawn
            return await _publish(c, f, assignment_id, FirmEvent.PARTNER_CONSENT_WITHDRAWN, event, payload, event_id)

        return await write(request, firm_id, ConsentWithdrawalRequest, effect)

    @api.post(
        "/v1/assignments/{assignment_id}/match-acceptance",
        status_code=202,
        response_model=Submitted,
        responses=_WRITE_PROBLEMS,
        openapi_extra=_body(MatchAcceptanceRequest),
        summary="The partner accepted the proposed coach (match.accepted)",
        operation_id="acceptMatch",
    )
    async def accept(request: Request, assignment_id: uuid.UUID, firm_id: Firm) -> JSONResponse:
        async def effect(c: Connection, f: str, body: MatchAcceptanceRequest, event_id: uuid.UUID) -> BaseModel:
            payload = MatchAcceptedPayload(assignment_id=assignment_id, coach_id=body.coach_id, accepted_at=utc_now())
            answer = await _publish(c, f, assignment_id, FirmEvent.MATCH_ACCEPTED, MatchAccepted, payload, event_id)
            await repository.acceptance_requested(c, assignment_id, f, body.coach_id)
            return answer

        return await write(request, firm_id, MatchAcceptanceRequest, effect)

    @api.get(
        "/v1/assignments/{assignment_id}",
        response_model=AssignmentStatus,
        responses={**_PROBLEMS, 404: _WRITE_PROBLEMS[404]},
        summary="An assignment's status: intake's answer, the match, the acceptance, each delivery",
        operation_id="getAssignment",
    )
    async def status(assignment_id: uuid.UUID, firm_id: Firm) -> AssignmentStatus:
        async with pool.acquire() as connection:
            row = await repository.assignment(connection, firm_id, assignment_id)
            if row is None:
                raise _unknown(assignment_id)
            deliveries = await repository.deliveries(connection, assignment_id)
        return _status(row, deliveries)

    @api.get(
        "/v1/reports/duty-of-information",
        response_model=DutyOfInformationReport,
        responses=_PROBLEMS,
        summary="The firm's HR report: share of assignments with everyone informed, p50/p95 times",
        operation_id="getDutyOfInformationReport",
    )
    async def report(
        firm_id: Firm,
        since: Annotated[date, Query(description="only assignments accepted from this day (UTC) on")] = date(
            2000, 1, 1
        ),
    ) -> DutyOfInformationReport:
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        async with pool.acquire() as connection:
            rows = await repository.informed(connection, firm_id, start)
        return domain.report(firm_id, since, [dict(row) for row in rows])

    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


async def _submit(connection: Connection, firm_id: str, body: AssignmentSubmission, event_id: uuid.UUID) -> Submitted:
    assignment_id = body.payload.assignment_id
    if await repository.owner(connection, assignment_id) is not None:
        message = f"assignment {assignment_id} already exists; updates are not part of v1"
        raise Refusal(409, [FieldError(field="payload.assignment_id", code="duplicate_assignment", message=message)])
    event = AssignmentRequested(
        event_id=event_id,
        occurred_at=utc_now(),
        firm_id=firm_id,
        correlation_id=body.correlation_id,
        payload=body.payload,
    )
    topic = inbound_topic(firm_id, FirmEvent.ASSIGNMENT_REQUESTED)
    await outbox.add_event(connection, topic=topic, key=str(assignment_id), event=event)
    await repository.submitted(connection, assignment_id, firm_id, body.correlation_id)
    return _submitted(assignment_id, event)


async def _publish(
    connection: Connection,
    firm_id: str,
    assignment_id: uuid.UUID,
    kind: FirmEvent,
    contract: type[Envelope],
    payload: BaseModel,
    event_id: uuid.UUID,
) -> Submitted:
    if await repository.owner(connection, assignment_id) != firm_id:
        raise _unknown(assignment_id)
    correlation_id = await repository.correlation_of(connection, assignment_id) or str(assignment_id)
    event = contract.model_validate(
        {
            "event_id": event_id,
            "occurred_at": utc_now(),
            "firm_id": firm_id,
            "correlation_id": correlation_id,
            "payload": payload,
        }
    )
    await outbox.add_event(connection, topic=inbound_topic(firm_id, kind), key=str(assignment_id), event=event)
    return _submitted(assignment_id, event)


def _submitted(assignment_id: uuid.UUID, event: Envelope) -> Submitted:
    return Submitted(
        assignment_id=assignment_id,
        event_id=event.event_id,
        event_type=event.event_type,
        status_url=f"/v1/assignments/{assignment_id}",
    )


def _replay(seen: repository.Answer, fingerprint: str) -> JSONResponse:
    if seen.fingerprint != fingerprint:
        message = "this Idempotency-Key was used for another request; use a new key for a new request"
        raise Refusal(
            409, [FieldError(field="$header.Idempotency-Key", code="idempotency_key_reused", message=message)]
        )
    return JSONResponse(seen.response, seen.status_code, headers={"Idempotent-Replayed": "true"})


def _status(row: Any, deliveries: list[Any]) -> AssignmentStatus:
    match = None
    if row["matched_at"] is not None:
        match = Match(
            coach_id=row["coach_id"],
            job_leads=row["job_leads"] or 0,
            unmatched=row["unmatched"] or [],
            matched_at=row["matched_at"],
        )
    acceptance = None
    if (asked := row["acceptance"]) is not None and asked.get("coach_id"):
        errors = [FieldError.model_validate(e) for e in asked.get("errors") or []]
        acceptance = Acceptance(coach_id=asked["coach_id"], status="refused" if errors else "requested", errors=errors)
    rejection = [FieldError.model_validate(e) for e in row["rejection"]] if row["rejection"] is not None else None
    return AssignmentStatus(
        assignment_id=row["assignment_id"],
        status=domain.lifecycle(row),
        submitted_at=row["submitted_at"],
        accepted_at=row["accepted_at"],
        rejection=rejection,
        match=match,
        acceptance=acceptance,
        consent_withdrawn_at=row["consent_withdrawn_at"],
        cancelled_at=row["cancelled_at"],
        deliveries=[Delivery.model_validate(dict(d)) for d in deliveries],
    )


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body in the OpenAPI document: the body is read as raw bytes and decoded like a
    Kafka record, so FastAPI does not see the model itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        },
        "parameters": [
            {
                "name": domain.IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "description": "One key per request, e.g. a UUID; a repeat gets the first answer",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
            }
        ],
    }


_BODIES = (AssignmentSubmission, CancellationRequest, ConsentWithdrawalRequest, MatchAcceptanceRequest)


def _openapi(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema is not None:
        return api.openapi_schema
    document = get_openapi(
        title=api.title, version=api.version, summary=api.summary, description=api.description, routes=api.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in _BODIES:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    document["components"]["securitySchemes"] = {
        "firm": {
            "type": "http",
            "scheme": "basic",
            "description": "the firm's Kafka user (firm-<firm_id>) and password",
        }
    }
    document["security"] = [{"firm": []}]
    api.openapi_schema = document
    return document
