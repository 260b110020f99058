"""The json/jsonb codecs every pool uses (shared/db.py): what goes in comes back the same."""

import json

from shared.contracts import Location
from shared.db import JsonText, decode_json, encode_json


def test_a_model_serialized_once_is_stored_as_it_is() -> None:
    text = Location(country="DE", city="Berlin").model_dump_json()
    assert encode_json(JsonText(text)) == text


def test_a_plain_string_is_a_json_string_not_a_document() -> None:
    assert encode_json('{"a": 1}') == json.dumps('{"a": 1}')
    assert decode_json(encode_json('{"a": 1}')) == '{"a": 1}'


def test_values_round_trip_as_the_standard_library_reads_them() -> None:
    value = {"detail": {"score": 3, "ratio": 0.25, "none": None, "ok": True}, "list": ["ß", "€", 1]}
    assert json.loads(encode_json(value)) == value
    assert decode_json(json.dumps(value)) == value


def test_non_string_keys_become_strings_as_with_the_standard_library() -> None:
    assert json.loads(encode_json({1: "a"})) == json.loads(json.dumps({1: "a"}))
