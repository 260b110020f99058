import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shared.contracts import AssignmentRequested, MatchProposed, MatchProposedPayload, Unmatched, utc_now
from shared.contracts.decoding import InvalidEvent, decode
from shared.contracts.schemas import DIALECT, RELEASED, incompatibilities, schema_files

SCHEMAS = Path(__file__).parents[2] / "docs" / "schemas"

Schema = dict[str, Any]


def test_the_published_json_schemas_match_the_contracts() -> None:
    for name, text in schema_files().items():
        committed = SCHEMAS / name
        assert committed.exists(), f"{committed} is missing: run python -m shared.contracts.schemas"
        assert committed.read_text() == text, f"{committed} is stale: run python -m shared.contracts.schemas"


def test_every_schema_names_its_dialect_and_a_versioned_id() -> None:
    for name, text in schema_files().items():
        schema = json.loads(text)
        assert schema["$schema"] == DIALECT
        assert schema["$id"].endswith("/" + name) and ".v1." in schema["$id"]
        jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schemas_are_compatible_with_the_released_ones() -> None:
    assert sorted(p.name for p in RELEASED.glob("*.schema.json")) == sorted(schema_files())
    problems = incompatibilities(schema_files())
    assert not problems, "\n".join(map(str, problems)) + "\nbump the topic version instead (docs/events.md)"


def _changed(name: str, change: Callable[[Schema], None]) -> dict[str, str]:
    files = schema_files()
    schema = json.loads(files[name])
    change(schema)
    return {**files, name: json.dumps(schema)}


def _breaking(name: str, change: Callable[[Schema], None]) -> list[str]:
    return [problem.name for problem in incompatibilities(_changed(name, change))]


REQUESTED = "assignment.requested.v1.schema.json"
PROPOSED = "match.proposed.v1.schema.json"


def _new_required(schema: Schema) -> None:
    schema["$defs"]["PartnerProfile"]["properties"]["salary"] = {"type": "integer"}
    schema["$defs"]["PartnerProfile"]["required"].append("salary")


def _narrowed_enum(schema: Schema) -> None:
    schema["$defs"]["Sector"]["enum"].remove("energy")


def _retyped(schema: Schema) -> None:
    schema["$defs"]["Assignment"]["properties"]["start_date"] = {"type": "integer"}


def _removed(schema: Schema) -> None:
    schema["$defs"]["PartnerProfile"]["properties"].pop("skills")


def _tighter(schema: Schema) -> None:
    schema["$defs"]["PartnerProfile"]["properties"]["skills"]["maxItems"] = 10


def _new_pattern(schema: Schema) -> None:
    schema["$defs"]["PartnerProfile"]["properties"]["occupation"]["pattern"] = "^[A-Za-z ]+$"


@pytest.mark.parametrize("change", [_new_required, _narrowed_enum, _retyped, _removed, _tighter, _new_pattern])
def test_a_breaking_change_to_the_firms_input_fails_the_gate(change: Callable[[Schema], None]) -> None:
    """Each change would refuse a request the released v1 accepted."""
    assert _breaking(REQUESTED, change) == [REQUESTED]


def test_a_new_optional_field_in_the_firms_input_passes_the_gate() -> None:
    def optional(schema: Schema) -> None:
        schema["$defs"]["PartnerProfile"]["properties"]["linkedin_url"] = {"type": "string"}

    assert _breaking(REQUESTED, optional) == []


def _removed_required(schema: Schema) -> None:
    schema["properties"]["payload"] = {"$ref": "#/$defs/MatchProposedPayload"}
    schema["$defs"]["MatchProposedPayload"]["required"].remove("proposed_at")
    schema["$defs"]["MatchProposedPayload"]["properties"].pop("proposed_at")


def _retyped_score(schema: Schema) -> None:
    schema["$defs"]["CriterionScore"]["properties"]["score"] = {"type": "string"}


def _widened_enum(schema: Schema) -> None:
    schema["$defs"]["Unmatched"]["properties"]["subject"]["enum"].append("housing")


def _pattern_dropped(schema: Schema) -> None:
    del schema["properties"]["firm_id"]["pattern"]


@pytest.mark.parametrize("change", [_removed_required, _retyped_score, _widened_enum, _pattern_dropped])
def test_a_breaking_change_to_an_event_we_write_fails_the_gate(change: Callable[[Schema], None]) -> None:
    """Each change lets us write an event a reader built on the released v1 would refuse."""
    assert _breaking(PROPOSED, change) == [PROPOSED]


def test_a_new_optional_field_in_an_event_we_write_passes_the_gate() -> None:
    def optional(schema: Schema) -> None:
        schema["$defs"]["MatchProposedPayload"]["properties"]["valid_until"] = {"type": "string"}

    assert _breaking(PROPOSED, optional) == []


def test_a_released_schema_that_disappears_fails_the_gate() -> None:
    files = schema_files()
    del files[PROPOSED]
    assert [problem.name for problem in incompatibilities(files)] == [PROPOSED]


@pytest.fixture
def proposed_json(request_event: AssignmentRequested) -> dict[str, Any]:
    proposed = MatchProposed.create(
        firm_id=request_event.firm_id,
        correlation_id=request_event.correlation_id,
        payload=MatchProposedPayload(
            assignment_id=request_event.payload.assignment_id,
            coach=None,
            job_leads=[],
            unmatched=[Unmatched(subject="coach", reason_code="no_coach", message="none free")],
            proposed_at=utc_now(),
        ),
    )
    return dict(json.loads(proposed.model_dump_json()))


def _proposal_with_extras(proposed: dict[str, Any]) -> dict[str, Any]:
    newer = copy.deepcopy(proposed)
    newer["schema_version"] = 2
    newer["trace_hint"] = "from a newer matching"
    newer["payload"]["valid_until"] = "2027-01-01T00:00:00+00:00"
    return newer


def test_a_v1_reader_takes_an_internal_event_with_fields_it_does_not_know(proposed_json: dict[str, Any]) -> None:
    newer = _proposal_with_extras(proposed_json)
    event = decode(json.dumps(newer).encode(), MatchProposed)
    assert event.payload.assignment_id == MatchProposed.model_validate(proposed_json).payload.assignment_id
    assert "valid_until" not in event.payload.model_dump()
    # The published schema of an event we write says the same to a firm's validator.
    jsonschema.validate(newer, json.loads(schema_files()[PROPOSED]))


def test_a_firms_request_with_an_unknown_field_is_still_refused(request_json: dict[str, Any]) -> None:
    request_json["payload"]["partner"]["nickname"] = "Anna"
    with pytest.raises(InvalidEvent) as refused:
        decode(json.dumps(request_json).encode(), AssignmentRequested)
    assert [(e.field, e.code) for e in refused.value.errors] == [("payload.partner.nickname", "unknown_field")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(request_json, json.loads(schema_files()[REQUESTED]))
