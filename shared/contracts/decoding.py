"""Turning bytes from Kafka into a contract, or into specific, machine-readable reasons why not."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .assignment import FieldError

MAX_EVENT_BYTES = 1_000_000
_NUL = "text must not contain the NUL character (U+0000)"
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


# The tenancy refusals (docs/tenancy.md): the body names another firm than the topic it was
# written to; the firm names an assignment that is not its own (or that does not exist: another
# firm's assignment is reported as unknown, its existence is not the sender's to learn).
FIRM_MISMATCH = "firm_mismatch"
UNKNOWN_ASSIGNMENT = "unknown_assignment"


def firm_mismatch(topic_firm: str) -> FieldError:
    return FieldError(
        field="firm_id",
        code=FIRM_MISMATCH,
        message=f"the event must name the firm whose topic it was written to, '{topic_firm}'",
    )


def unknown_assignment() -> FieldError:
    return FieldError(
        field="payload.assignment_id", code=UNKNOWN_ASSIGNMENT, message="your firm has no assignment with this id"
    )


def ensure_sender(named_firm: str, topic_firm: str) -> None:
    """A firm writes as itself: the body's `firm_id` must be the firm whose topic it is on."""
    if named_firm != topic_firm:
        raise InvalidEvent([firm_mismatch(topic_firm)])


def ensure_owner(owner: str | None, firm_id: str) -> None:
    """A firm may only act on its own assignments (None: not known here yet)."""
    if owner is not None and owner != firm_id:
        raise InvalidEvent([unknown_assignment()])


def code_of(pydantic_type: str) -> str:
    """The code a firm sees for one of pydantic's error types."""
    return _CODES.get(pydantic_type, pydantic_type)


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _field_errors(error: ValidationError) -> list[FieldError]:
    return [
        FieldError(
            # Paths and messages may quote what was sent (an unknown key, say): keep them storable.
            field=_storable(".".join(str(part) for part in item["loc"]) or "$"),
            code=code_of(item["type"]),
            message=_storable(item["msg"]),
        )
        for item in error.errors(include_url=False)
    ]


def decode(raw: bytes | None, model: type[M]) -> M:
    """Firms' input strictly (an unknown field is refused), services' events tolerantly (unknown
    fields ignored): a newer producer's optional field never dead-letters at an older reader."""
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
        event = model.model_validate_json(text, extra=None if _strict(model) else "ignore")
    except ValidationError as error:
        raise InvalidEvent(_field_errors(error)) from None
    if ("\x00" in text or "\\u0000" in text) and (errors := _nul_characters(event.model_dump(), "$")):
        raise InvalidEvent(errors)
    return event


def _strict(model: type[BaseModel]) -> bool:
    return bool(getattr(model, "strict_input", True))


def _nul_characters(value: object, path: str) -> list[FieldError]:
    """PostgreSQL cannot store U+0000 in text or jsonb; say where it is instead of failing later."""
    if isinstance(value, str):
        return (
            [FieldError(field=path.removeprefix("$."), code="nul_character", message=_NUL)] if "\x00" in value else []
        )
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _nul_characters(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [e for i, v in enumerate(value) for e in _nul_characters(v, f"{path}.{i}")]
    return []
