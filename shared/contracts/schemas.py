"""JSON Schemas of the published events, for firms that integrate without our Python code.

`python -m shared.contracts.schemas docs/schemas` rewrites the files; a unit test fails when the
committed files no longer match the contracts, so the documentation cannot drift.
"""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from .assignment import AssignmentCreated, AssignmentRejected, AssignmentRequested
from .care import (
    CareEscalation,
    CareRefused,
    CheckInDue,
    DutyOfCareEntry,
    EscalationClosed,
    OutcomeReported,
    PermitClarified,
    ProviderScorecard,
    PulseGiven,
    SessionHeld,
)
from .catalog import Coach, JobLead
from .catalog_events import CatalogRejected
from .duty_of_information import AssignmentCancelled, DeliveryRecorded, PartnerConsentWithdrawn
from .matching import MatchAcceptanceRefused, MatchAccepted, MatchProposed, MatchUpdated
from .notification import StakeholderNotified

EVENTS: tuple[type[BaseModel], ...] = (
    AssignmentRequested,
    AssignmentCreated,
    AssignmentRejected,
    AssignmentCancelled,
    MatchProposed,
    MatchUpdated,
    MatchAccepted,
    MatchAcceptanceRefused,
    CatalogRejected,
    StakeholderNotified,
    DeliveryRecorded,
    PartnerConsentWithdrawn,
    PulseGiven,
    SessionHeld,
    OutcomeReported,
    EscalationClosed,
    PermitClarified,
    CareEscalation,
    DutyOfCareEntry,
    ProviderScorecard,
    CareRefused,
    CheckInDue,
)
# Catalog topics carry bare records keyed by their id (a null value removes the record).
RECORDS: dict[str, type[BaseModel]] = {"catalog.coach": Coach, "catalog.job-lead": JobLead}


def schema_files() -> dict[str, str]:
    """File name → schema text, for every published event."""
    files = {}
    for event in EVENTS:
        event_type = event.model_fields["event_type"].default
        files[f"{event_type}.v1.schema.json"] = json.dumps(event.model_json_schema(), indent=2) + "\n"
    for name, record in RECORDS.items():
        files[f"{name}.v1.schema.json"] = json.dumps(record.model_json_schema(), indent=2) + "\n"
    return files


def main(directory: str) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in schema_files().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
