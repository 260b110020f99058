"""The dead-letter record format: the original record (key, value, headers) plus why and where it
failed. Written by every consumer, read and replayed by `python -m shared.ops.dead_letters`.

Original headers travel verbatim when they are clean text. A value that is not valid UTF-8 or
holds a NUL (which PostgreSQL cannot store in the outbox's jsonb) travels base64-encoded, and its
name is listed in `dead_letter.base64_headers`, so a replay restores the exact bytes.
"""

import base64
import hashlib
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

# Set when the copy had to be cut to fit the producer's limit: what was cut, and the original
# value's size and SHA-256, so an operator can find the original on the source topic.
TRIMMED = "dead_letter.trimmed"

_MAX_REASON = 1000
# The producer refuses a record over its max_request_size (1 MiB); a dead-letter copy stays well
# below it, with room for the trace headers the outbox adds and the record's framing.
MAX_RECORD_BYTES = 1_000_000
_KEPT_HEADER_CHARS = 1024

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


def _size(key: bytes, value: bytes, headers: Mapping[str, str]) -> int:
    # Kafka's record framing adds a few bytes per field: counted generously.
    return len(key) + len(value) + sum(len(n.encode()) + len(v.encode()) + 10 for n, v in headers.items()) + 100


def fit(
    key: bytes, value: bytes, headers: dict[str, str], limit: int = MAX_RECORD_BYTES
) -> tuple[bytes, bytes, dict[str, str]]:
    """The dead-letter copy, cut to fit `limit` if it must be: first the failed record's own long
    header values, then its value, then its key, each cut noted in `dead_letter.trimmed`. A record
    that fits is returned as it is."""
    if _size(key, value, headers) <= limit:
        return key, value, headers
    headers = dict(headers)
    notes: list[str] = []
    ours = {REASON, CONSUMER, TOPIC, PARTITION, OFFSET, BASE64_HEADERS, ORIGINAL_HEADERS}
    for name in sorted(headers, key=lambda n: -len(headers[n])):
        if _size(key, value, headers) + 200 <= limit or len(headers[name]) <= _KEPT_HEADER_CHARS:
            break
        if name not in ours:
            notes.append(f"header {name} {len(headers[name])} -> {_KEPT_HEADER_CHARS} chars")
            headers[name] = headers[name][:_KEPT_HEADER_CHARS]
    room = limit - _size(b"", b"", headers) - 400  # 400: the note itself
    if len(key) + len(value) > room:
        digest = hashlib.sha256(value).hexdigest()
        kept_key = key[: max(0, min(len(key), room // 2))]
        kept_value = value[: max(0, room - len(kept_key))]
        notes.append(f"value {len(value)} -> {len(kept_value)} bytes (sha256 {digest})")
        if len(kept_key) < len(key):
            notes.append(f"key {len(key)} -> {len(kept_key)} bytes")
        key, value = kept_key, kept_value
    headers[TRIMMED] = "; ".join(notes)
    return key, value, headers
