"""JSON Schemas of the published events, for firms that integrate without our Python code, and
the compatibility gate that keeps them from breaking.

    python -m shared.contracts.schemas [write] [DIR]   rewrite docs/schemas from the contracts
    python -m shared.contracts.schemas check           compare with the released copies
    python -m shared.contracts.schemas release         make the current schemas the released ones

Every schema names its dialect (`$schema`, JSON Schema 2020-12) and a versioned `$id`. What firms
and providers write is strict (`additionalProperties: false`); everything the services write is
open, because readers ignore fields they do not know. A unit test fails when the committed files no
longer match the contracts, and another when a schema changed incompatibly with its released copy
(in `released/` beside this file): the firms' input must still accept every record the released
schema accepted, and every event we write must still be valid against the released schema. A change
that cannot meet that gets a new topic version (docs/events.md, "Evolving the contract").
"""

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://trailblazer.example/schemas/"
PUBLISHED = Path(__file__).parents[2] / "docs" / "schemas"
RELEASED = Path(__file__).parent / "released"

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

# jsoncompat's roles: a schema we read from firms must accept what the released one accepted
# ("deserializer"); a schema of what we write must produce only what the released one allowed
# ("serializer").
Role = Literal["serializer", "deserializer"]


def event_type(model: type[BaseModel]) -> str:
    default = model.model_fields["event_type"].default
    assert isinstance(default, str)
    return default


def contracts() -> dict[str, type[BaseModel]]:
    """Schema file name → contract, for every published event and record."""
    named = {f"{event_type(event)}.v1.schema.json": event for event in EVENTS}
    named.update({f"{name}.v1.schema.json": record for name, record in RECORDS.items()})
    return named


def is_strict(model: type[BaseModel]) -> bool:
    return bool(getattr(model, "strict_input", False))


def _open(schema: Any) -> Any:
    """Drop `additionalProperties: false` everywhere: a tolerant reader's schema."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    return schema


def json_schema(name: str, model: type[BaseModel]) -> dict[str, Any]:
    body = model.model_json_schema()
    if not is_strict(model):
        body = _open(body)
    return {"$schema": DIALECT, "$id": ID_BASE + name, **body}


def schema_files() -> dict[str, str]:
    """File name → schema text, for every published event."""
    return {name: json.dumps(json_schema(name, model), indent=2) + "\n" for name, model in contracts().items()}


@dataclass(frozen=True)
class Incompatibility:
    name: str
    role: Role

    def __str__(self) -> str:
        reader = "a firm's record the released schema accepted" if self.role == "deserializer" else "an event"
        return f"{self.name}: {reader} would no longer be valid ({self.role} check against the released copy)"


def role_of(model: type[BaseModel]) -> Role:
    return "deserializer" if is_strict(model) else "serializer"


def compatible(released: str, current: str, role: Role) -> bool:
    import jsoncompat  # a development tool: imported only where the gate runs

    # jsoncompat resolves `#/$defs/...` against `$id` and then refuses the absolute reference;
    # the identity is not what is compared, so it goes.
    if _uncompared_changes(json.loads(released), json.loads(current), role):
        return False
    return bool(jsoncompat.check_compat(_anonymous(released), _anonymous(current), role))


# Keywords jsoncompat does not compare (it takes any `pattern` as compatible): a new or changed
# one narrows what a reader of firms' input accepts; a removed or changed one widens what we write.
_UNCOMPARED = ("pattern", "format")


def _uncompared_changes(released: Any, current: Any, role: Role, path: str = "#") -> list[str]:
    """Paths where a keyword jsoncompat ignores changed in the breaking direction for `role`."""
    if isinstance(released, list) and isinstance(current, list):
        pairs = zip(released, current, strict=False)
        return [p for i, (r, c) in enumerate(pairs) for p in _uncompared_changes(r, c, role, f"{path}/{i}")]
    if not (isinstance(released, dict) and isinstance(current, dict)):
        return []
    found = []
    for keyword in _UNCOMPARED:
        before, after = released.get(keyword), current.get(keyword)
        narrowed = after is not None and after != before if role == "deserializer" else before != after and before
        if narrowed:
            found.append(f"{path}/{keyword}")
    for key in released.keys() & current.keys():
        if key not in _UNCOMPARED:
            found += _uncompared_changes(released[key], current[key], role, f"{path}/{key}")
    return found


def _anonymous(text: str) -> str:
    schema = json.loads(text)
    schema.pop("$id", None)
    return json.dumps(schema)


def incompatibilities(current: dict[str, str], released_dir: Path = RELEASED) -> list[Incompatibility]:
    """Every released schema whose current version (same file name, so same topic version) breaks
    its readers. A schema removed altogether counts too: retire a topic version deliberately, by
    removing its released copy with it."""
    models = contracts()
    found = []
    for released in sorted(released_dir.glob("*.schema.json")):
        name = released.name
        model = models.get(name)
        role: Role = role_of(model) if model else "serializer"
        if name not in current or not compatible(released.read_text(), current[name], role):
            found.append(Incompatibility(name, role))
    return found


def _write(target: Path, files: dict[str, str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "write"
    if command == "check":
        problems = incompatibilities(schema_files())
        for problem in problems:
            print(problem)
        print(f"{len(problems)} incompatible change(s)" if problems else "compatible with the released schemas")
        return 1 if problems else 0
    if command == "release":
        shutil.rmtree(RELEASED, ignore_errors=True)
        _write(RELEASED, schema_files())
        return 0
    if command == "write":
        _write(Path(argv[1]) if len(argv) > 1 else PUBLISHED, schema_files())
        return 0
    _write(Path(command), schema_files())  # the former `python -m shared.contracts.schemas DIR`
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
