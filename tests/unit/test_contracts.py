import json
from typing import Any

import pytest

from shared.contracts import AssignmentRequested, CefrLevel, LanguageSkill
from shared.contracts.decoding import InvalidEvent, decode


def codes(raw: bytes) -> dict[str, str]:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw, AssignmentRequested)
    return {error.field: error.code for error in caught.value.errors}


def test_a_firms_request_parses_into_the_contract(request_json: dict[str, Any]) -> None:
    event = decode(json.dumps(request_json).encode(), AssignmentRequested)
    assert event.payload.host_location.country == "NO"
    assert event.payload.partner.profile.languages[0] == LanguageSkill(code="de", level=CefrLevel.C2)


def test_levels_compare_and_travel_as_names() -> None:
    skill = LanguageSkill.model_validate({"code": "NO", "level": "b2"})
    assert skill.code == "no" and skill.level > CefrLevel.B1
    assert json.loads(skill.model_dump_json()) == {"code": "no", "level": "B2"}


def test_occurred_at_is_normalised_to_utc(request_json: dict[str, Any]) -> None:
    request_json["occurred_at"] = "2026-11-22T10:00:00+02:00"
    event = AssignmentRequested.model_validate(request_json)
    assert event.occurred_at.utcoffset() is not None and event.occurred_at.hour == 8


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (b"{not json", "$", "malformed_json"),
        (b"\xff\xfe\x00", "$", "invalid_encoding"),
        (b"", "$", "empty_record"),
        (b"[" * 5000 + b"]" * 5000, "$", "malformed_json"),
    ],
)
def test_undecodable_bytes_get_a_specific_code(raw: bytes, field: str, code: str) -> None:
    assert codes(raw) == {field: code}


def test_each_offending_field_is_named(request_json: dict[str, Any]) -> None:
    payload = request_json["payload"]
    payload["start_date"] = 20261122
    del payload["hr_contact"]
    payload["partner"]["profile"]["goals"] = ["retirement"]
    payload["partner"]["profile"]["languages"][0]["level"] = "D1"
    payload["host_location"]["country"] = "XX"
    payload["surprise"] = True
    found = codes(json.dumps(request_json).encode())
    assert found == {
        "payload.start_date": "date_from_datetime_inexact",
        "payload.hr_contact": "missing_field",
        "payload.partner.profile.goals.0": "unknown_value",
        "payload.partner.profile.languages.0.level": "invalid_value",
        "payload.host_location.country": "invalid_value",
        "payload.surprise": "unknown_field",
    }


def test_oversized_records_are_refused_before_parsing() -> None:
    assert codes(b" " * 1_000_001) == {"$": "too_large"}


def test_timestamps_without_zone_are_refused(request_json: dict[str, Any]) -> None:
    request_json["occurred_at"] = "2026-11-22T10:00:00"
    assert codes(json.dumps(request_json).encode()) == {"occurred_at": "timezone_aware"}
