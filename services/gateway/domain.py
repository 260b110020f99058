"""The gateway's rules. Pure: no I/O."""

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from shared.contracts import FieldError
from shared.reporting import STAKEHOLDERS, percentile, summarise

from .contracts import DutyOfInformationReport, Lifecycle, StakeholderFigures

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Visible ASCII, as the IETF Idempotency-Key draft's examples; a UUID is the usual choice.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_EVENT_IDS = uuid.UUID("4c0b7d6e-1f0a-4e53-9a57-5f3b8f0f2a11")


def idempotency_key_errors(key: str | None) -> list[FieldError]:
    field = f"$header.{IDEMPOTENCY_HEADER}"
    if key is None:
        return [FieldError(field=field, code="missing_field", message="every POST needs an Idempotency-Key header")]
    if not _KEY.match(key):
        message = "1 to 255 visible ASCII characters, e.g. a UUID"
        return [FieldError(field=field, code="invalid_value", message=message)]
    return []


def event_id(firm_id: str, key: str) -> uuid.UUID:
    """The event a request becomes has an id fixed by the firm's key: a repeat can never make a
    second event, even one the services would see."""
    return uuid.uuid5(_EVENT_IDS, f"{firm_id}\n{key}")


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def lifecycle(row: Mapping[str, Any]) -> Lifecycle:
    """Cancelled wins, then accepted (a later duplicate's rejection does not undo an acceptance)."""
    if row["cancelled_at"] is not None:
        return Lifecycle.CANCELLED
    if row["accepted_at"] is not None:
        return Lifecycle.ACCEPTED
    if row["rejection"] is not None:
        return Lifecycle.REJECTED
    return Lifecycle.SUBMITTED


def report(firm_id: str, since: date, rows: Sequence[Mapping[str, Any]]) -> DutyOfInformationReport:
    summary = summarise(firm_id, rows)
    figures = []
    for stakeholder in STAKEHOLDERS:
        values = sorted(summary.seconds.get(stakeholder, []))
        figures.append(
            StakeholderFigures(
                stakeholder=stakeholder,
                informed=len(values),
                p50_s=percentile(values, 50),
                p95_s=percentile(values, 95),
            )
        )
    return DutyOfInformationReport(
        firm_id=firm_id,
        since=since,
        assignments=summary.assignments,
        all_informed=summary.all_informed,
        share_all_informed=summary.all_informed / summary.assignments if summary.assignments else 0.0,
        stakeholders=figures,
    )
