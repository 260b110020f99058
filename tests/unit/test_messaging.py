"""Pure parts of the consume path: reasons, lenient header parsing, decoding hostile text."""

import json
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka.message import KafkaMessage
from faststream.kafka.parser import AioKafkaParser

from shared.contracts import AssignmentRequested, FieldError
from shared.contracts.decoding import InvalidEvent, decode
from shared.messaging import failure_reason, keep_raw_body, parse_leniently


def _record(headers: list[tuple[str, bytes | None]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("t", 0, 5, 0, 0, b"k", b"{}", None, 1, 2, headers)


async def test_headers_that_are_not_utf8_or_null_do_not_stop_parsing() -> None:
    record = _record([("firm_id", b"\xff\xfeacme"), ("empty", None), ("ok", b"yes")])
    parser = AioKafkaParser(msg_class=KafkaMessage, regex=None)
    with pytest.raises(UnicodeDecodeError):
        await parser.parse_message(record)  # FastStream's own parser on its own
    message = await parse_leniently(record, parser.parse_message)
    assert message.headers["ok"] == "yes"
    assert message.headers["empty"] == ""
    assert message.headers["firm_id"].endswith("acme")
    assert message.raw_message is record, "the dead letter gets the original bytes"


async def test_bodies_reach_the_handler_undecoded_however_hostile() -> None:
    parser = AioKafkaParser(msg_class=KafkaMessage, regex=None)
    deep = b"[" * 100_000 + b"]" * 100_000
    record = ConsumerRecord("t", 0, 5, 0, 0, b"k", deep, None, 1, 2, [("content-type", b"application/json")])
    message = await parser.parse_message(record)
    # FastStream's own decoder on its own: the standard library recurses too deep, orjson (which
    # FastStream uses once it is installed) refuses the depth.
    with pytest.raises((RecursionError, ValueError)):
        await parser.decode_message(message)
    assert await keep_raw_body(message) == deep


def test_a_contract_violation_is_reported_by_field_and_code() -> None:
    error = InvalidEvent([FieldError(field="payload.partner", code="missing_field", message="Field required")])
    assert failure_reason(error) == "invalid_event: payload.partner=missing_field"
    assert failure_reason(KeyError("x")) == "KeyError: 'x'"


def _codes(raw: bytes) -> dict[str, str]:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw, AssignmentRequested)
    return {e.field: e.code for e in caught.value.errors}


def test_nul_characters_are_refused_where_they_are(request_json: dict[str, Any]) -> None:
    request_json["payload"]["partner"]["full_name"] = "Anna\x00Weber"
    request_json["payload"]["partner"]["profile"]["skills"][1] = "\x00"
    assert _codes(json.dumps(request_json).encode()) == {
        "payload.partner.full_name": "nul_character",
        "payload.partner.profile.skills.1": "nul_character",
    }


def test_an_unknown_field_named_with_a_nul_is_reported_storably(request_json: dict[str, Any]) -> None:
    request_json["payload"]["x\x00y"] = 1
    assert _codes(json.dumps(request_json).encode()) == {"payload.x\ufffdy": "unknown_field"}


def test_a_moment_past_year_9999_in_utc_is_a_field_error(request_json: dict[str, Any]) -> None:
    request_json["occurred_at"] = "9999-12-31T23:59:59-14:00"
    assert _codes(json.dumps(request_json).encode()) == {"occurred_at": "invalid_value"}


def test_line_breaks_and_control_characters_in_single_line_fields_are_refused_by_field(
    request_json: dict[str, Any],
) -> None:
    """Names, cities, titles end up in e-mail headers, subjects and file names."""
    payload = request_json["payload"]
    payload["employee"]["full_name"] = "Jonas\r\nBcc: everyone@example.com"
    payload["partner"]["full_name"] = "Anna\nWeber"
    payload["partner"]["profile"]["occupation"] = "Reservoir\tengineer"
    payload["partner"]["profile"]["skills"][0] = "manage\u2028project"
    payload["hr_contact"]["full_name"] = "Mobility\x1bTeam"
    payload["home_location"]["city"] = "Munich\r"
    payload["host_location"]["city"] = "Stav\ranger"
    assert _codes(json.dumps(request_json).encode()) == {
        "payload.employee.full_name": "control_character",
        "payload.partner.full_name": "control_character",
        "payload.partner.profile.occupation": "control_character",
        "payload.partner.profile.skills.0": "control_character",
        "payload.hr_contact.full_name": "control_character",
        "payload.host_location.city": "control_character",
    }, "a trailing line break is trimmed like other surrounding white space; one inside is refused"
