"""Turning bytes from Kafka into a contract, or into specific, machine-readable reasons why not."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .assignment import FieldError

MAX_EVENT_BYTES = 1_000_000
# pydantic's error types are stable identifiers; a few are renamed to say what a firm must fix.
_CODES = {
    "json_invalid": "malformed_json",
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "enum": "unknown_value",
    "literal_error": "unknown_value",
    "value_error": "invalid_value",
}

M = TypeVar("M", bound=BaseModel)


class InvalidEvent(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


def _field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(
            field=".".join(str(part) for part in item["loc"]) or "$",
            code=_CODES.get(item["type"], item["type"]),
            message=item["msg"],
        )
        for item in error.errors(include_url=False)
    ]


def decode(raw: bytes | None, model: type[M]) -> M:
    if not raw:
        raise InvalidEvent([FieldError(field="$", code="empty_record", message="the record has no value")])
    if len(raw) > MAX_EVENT_BYTES:
        message = f"{len(raw)} bytes is over the limit of {MAX_EVENT_BYTES}"
        raise InvalidEvent([FieldError(field="$", code="too_large", message=message)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"not valid UTF-8 at byte {error.start}"
        raise InvalidEvent([FieldError(field="$", code="invalid_encoding", message=message)]) from None
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        raise InvalidEvent(_field_errors(error)) from None
