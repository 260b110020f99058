"""The dead-letter record format: the original record (key, value, headers) plus why and where it
failed. Written by every consumer, read and replayed by `python -m shared.ops.dead_letters`.

Original headers travel verbatim when they are clean text. A value that is not valid UTF-8 or
holds a NUL (which PostgreSQL cannot store in the outbox's jsonb) travels base64-encoded, and its
name is listed in `dead_letter.base64_headers`, so a replay restores the exact bytes.
"""

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PREFIX = "dead_letter."
REASON = "dead_letter.reason"
CONSUMER = "dead_letter.consumer"
TOPIC = "dead_letter.topic"
PARTITION = "dead_letter.partition"
OFFSET = "dead_letter.offset"
BASE64_HEADERS = "dead_letter.base64_headers"
# Names of the failed record's own headers: a publisher may add headers of its own on the way.
ORIGINAL_HEADERS = "dead_letter.original_headers"
# Set on a replayed record, so its consumer and an operator can tell it from the first delivery.
REPLAYED_FROM = "dead_letter.replayed_from"
# A failed record's own header whose name looks like one of ours travels under this prefix plus
# its name in base64, so that our annotations never overwrite it.
ESCAPED = "dead_letter.escaped."

_MAX_REASON = 1000

RawHeaders = Iterable[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Origin:
    consumer: str
    topic: str
    partition: int
    offset: int

    @property
    def record_id(self) -> str:
        """Identifies the failed record itself; used to dead-letter it once only."""
        return f"record:{self.topic}:{self.partition}:{self.offset}"

    @property
    def label(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def _clean_name(name: str) -> str:
    return name.replace("\x00", "\ufffd")


def encode_headers(raw: RawHeaders) -> dict[str, str]:
    """Original record headers as text that PostgreSQL and Kafka carry without loss."""
    headers: dict[str, str] = {}
    encoded: list[str] = []
    for raw_name, value in raw:
        name = _clean_name(raw_name)
        data = value or b""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "\x00"  # forces the base64 branch below
        if name.startswith(PREFIX):
            name = ESCAPED + base64.urlsafe_b64encode(name.encode()).decode("ascii")
            text = "\x00"
        if "\x00" in text:
            headers[name] = base64.b64encode(data).decode("ascii")
            encoded.append(name)
        else:
            headers[name] = text
    if encoded:
        headers[BASE64_HEADERS] = _names(encoded)
    headers[ORIGINAL_HEADERS] = _names(list(headers.keys() - {BASE64_HEADERS}))
    return headers


def _names(names: list[str]) -> str:
    return ",".join(base64.b64encode(n.encode()).decode("ascii") for n in sorted(names))


def _listed(headers: Mapping[str, bytes], name: str) -> set[str]:
    return {base64.b64decode(n).decode() for n in headers.get(name, b"").decode().split(",") if n}


def dead_letter_headers(raw: RawHeaders, origin: Origin, reason: str) -> dict[str, str]:
    return {
        **encode_headers(raw),
        REASON: reason.replace("\x00", "\ufffd")[:_MAX_REASON],
        CONSUMER: origin.consumer,
        TOPIC: origin.topic,
        PARTITION: str(origin.partition),
        OFFSET: str(origin.offset),
    }


def original_headers(headers: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """The headers the failed record carried, as bytes, without the dead-letter annotations."""
    encoded, original = _listed(headers, BASE64_HEADERS), _listed(headers, ORIGINAL_HEADERS)
    restored: list[tuple[str, bytes]] = []
    for name, value in headers.items():
        original_name = (
            base64.urlsafe_b64decode(name.removeprefix(ESCAPED)).decode() if name.startswith(ESCAPED) else name
        )
        if name in encoded:
            restored.append((original_name, base64.b64decode(value)))
        elif name in original:
            restored.append((original_name, value))
    return restored
