"""Microbenchmarks of the per-record costs issue 12 went after, each against the way it was done
before (reproduced here, so that both run in the same process on the same machine):

- composing the partner's e-mail (domain + i18n + Jinja2), with the templates fetched per message
  and the languages and locales looked up per call, as before, and cached, as now;
- building the MIME e-mail and flattening it as aiosmtplib does: `EmailMessage` with the default
  policy (before) and the compat32 classes (now);
- sending e-mails to the stack's mailbox (aiosmtpd, in this process): a session per e-mail
  (before) and pooled sessions (now);
- a span where the code makes one: outside any trace (a no-op), inside a trace with the SDK
  tracer provider and no exporter, and with one that exports;
- storing an accepted assignment in a jsonb column: the model's JSON parsed and encoded again by
  the standard library (before) and passed on as it is (`shared.db.JsonText`, now); and the
  codec's encoding and decoding of such a document, standard library (before) and orjson (now);
- with `--database-url`, the outbox: a transaction of N records written two statements per
  record (insert, notify: before), one per record, and gathered in one statement (now); the
  commit, the same for all, is left out;
- with `--database-url`, a database round trip (asyncpg, one parameter): the client's CPU on
  asyncio's own event loop (before) and on uvloop (now).

    ./dev run python -m benchmarks.micro [--seconds 1] [--database-url postgresql://...]

CPU time per operation (process time, so other work on the machine inflates it less than wall
time would); the median of five rounds. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from aiosmtplib.email import flatten_message
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from services.notifications import channels, content, domain, i18n
from services.notifications.deliveries import Delivery
from shared.contracts import AssignmentRequested, DeliveryChannel, Stakeholder
from tests.unit.test_notifications_golden import the_match

ROUNDS = 5


def per_call_us(work: Callable[[], object], seconds: float) -> float:
    """Median over ROUNDS of the CPU microseconds one call takes."""
    results = []
    for _ in range(ROUNDS):
        calls, started = 0, time.process_time()
        while (spent := time.process_time() - started) < seconds / ROUNDS:
            work()
            calls += 1
        results.append(spent / calls * 1e6)
    return statistics.median(results)


def _partner_message(language: str) -> domain.Message:
    request = AssignmentRequested.model_validate(assignment_request(SAMPLE_FAMILIES[0], today=date(2026, 11, 22)))
    payload = request.payload
    assignment = payload.model_copy(
        update={"partner": payload.partner.model_copy(update={"preferred_language": language})}
    )
    return domain.for_partner(assignment, the_match())


def compose(seconds: float) -> list[tuple[str, float]]:
    request = AssignmentRequested.model_validate(assignment_request(SAMPLE_FAMILIES[0], today=date(2026, 11, 22)))
    payload = request.payload
    assignment = payload.model_copy(update={"partner": payload.partner.model_copy(update={"preferred_language": "de"})})
    match = the_match()

    def one() -> None:
        domain.for_partner(assignment, match)

    now = per_call_us(one, seconds)
    # Before: the languages globbed and the locale parsed at every call, and each template fetched
    # from the environment per message (which checks the file for changes).
    environment = Environment(
        loader=PackageLoader("services.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def templates_per_message() -> tuple[Template, Template]:
        return environment.get_template("message.txt"), environment.get_template("message.html")

    cached = (content._templates, i18n._supported, i18n._locale)
    content._templates = templates_per_message  # type: ignore[assignment]
    i18n._supported = i18n._supported.__wrapped__  # type: ignore[assignment]
    i18n._locale = i18n._locale.__wrapped__  # type: ignore[assignment]
    try:
        before = per_call_us(one, seconds)
    finally:
        content._templates, i18n._supported, i18n._locale = cached
    return [("compose the partner's e-mail (de), before", before), ("compose the partner's e-mail (de), now", now)]


def json_storage(seconds: float) -> list[tuple[str, float]]:
    import json

    from shared.db import JsonText, decode_json, encode_json

    request = AssignmentRequested.model_validate(assignment_request(SAMPLE_FAMILIES[0], today=date(2026, 11, 22)))
    model = request.payload
    document = json.loads(model.model_dump_json())
    text = json.dumps(document)
    return [
        (
            "assignment to jsonb parameter, parsed and encoded again (before)",
            per_call_us(lambda: json.dumps(json.loads(model.model_dump_json())), seconds),
        ),
        (
            "assignment to jsonb parameter, as serialized (now)",
            per_call_us(lambda: encode_json(JsonText(model.model_dump_json())), seconds),
        ),
        (
            "jsonb codec, encode + decode an assignment, standard library (before)",
            per_call_us(lambda: json.loads(json.dumps(document)), seconds),
        ),
        (
            "jsonb codec, encode + decode an assignment, orjson (now)",
            per_call_us(lambda: decode_json(encode_json(document)), seconds),
        ),
        ("(the document's size in bytes)", float(len(text))),
    ]


def round_trips(dsn: str, count: int) -> list[tuple[str, float]]:
    """Client CPU per round trip, asyncio's loop and uvloop in turns (interleaved rounds)."""
    import asyncpg
    import uvloop

    async def run() -> float:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.fetchval("SELECT $1::int", 1)  # prepared once, as the services' cache does
            started = time.process_time()
            for n in range(count):
                await connection.fetchval("SELECT $1::int", n)
            return (time.process_time() - started) / count * 1e6
        finally:
            await connection.close()

    rounds: dict[str, list[float]] = {"asyncio (before)": [], "uvloop (now)": []}
    for _ in range(ROUNDS):
        rounds["asyncio (before)"].append(asyncio.run(run()))
        rounds["uvloop (now)"].append(uvloop.run(run()))
    return [(f"database round trip, client CPU, {loop}", statistics.median(v)) for loop, v in rounds.items()]


def _delivery(message: domain.Message) -> Delivery:
    return Delivery(
        delivery_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        assignment_id=uuid.uuid4(),
        firm_id="nordic-relocation",
        stakeholder=Stakeholder.PARTNER,
        content_kind=message.content_kind,
        channel=DeliveryChannel.EMAIL,
        attempts=1,
        trace_id=None,
        language=message.language,
        recipient=message.recipient,
        subject=message.subject,
        body=message.body,
        html=message.html,
        notified_at=datetime.now(UTC),
    )


def email_message_before(delivery: Delivery, sender: str) -> EmailMessage:
    """channels.email_message as it was before issue 12."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.recipient
    message["Subject"] = channels.header_text(delivery.subject)
    message["Message-ID"] = channels.message_id(delivery)
    message["Date"] = format_datetime(delivery.notified_at)
    message["X-Trailblazer-Content-Kind"] = delivery.content_kind
    message.set_content(delivery.body)
    if delivery.html:
        message.add_alternative(delivery.html, subtype="html")
    message["Content-Language"] = channels.header_text(delivery.language)
    return message


def mime(seconds: float) -> list[tuple[str, float]]:
    delivery = _delivery(_partner_message("de"))
    sender = "duty-of-information@trailblazer.example"
    results = []
    for name, build in (("before (EmailMessage)", email_message_before), ("now (compat32)", channels.email_message)):
        results.append((f"build the e-mail, {name}", per_call_us(lambda b=build: b(delivery, sender), seconds)))  # type: ignore[misc]
        results.append(
            (
                f"build and flatten it, {name}",
                per_call_us(lambda b=build: flatten_message(b(delivery, sender), cte_type="8bit"), seconds),  # type: ignore[misc]
            )
        )
    # The same text reaches the reader either way.
    for build in (email_message_before, channels.email_message):
        parsed = email.message_from_bytes(flatten_message(build(delivery, sender)), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        plain = parsed.get_body(preferencelist=("plain",))
        assert plain is not None and plain.get_content().replace("\r\n", "\n") == delivery.body
        assert parsed["Subject"] == delivery.subject
    return results


async def smtp(emails: int) -> list[tuple[str, float]]:
    """E-mails sent one after the other to the stack's mailbox (aiosmtpd) run in this process, so
    the CPU figure is ours and the mailbox's together: a session per e-mail (before), pooled (now)."""
    import tempfile
    from pathlib import Path

    from deploy.local import mailbox
    from deploy.local.config import StackConfig
    from services.notifications.settings import NotificationSettings

    with tempfile.TemporaryDirectory() as directory:
        port = mailbox.port(StackConfig.for_tests(Path(directory))) + 5
        controller = mailbox.mailbox_controller(port, Path(directory))
        controller.start()
        try:
            settings = NotificationSettings(smtp_port=port)
            message = _delivery(_partner_message("de"))
            results = []
            for label, sessions in (
                ("a session per e-mail (before)", None),
                ("pooled (now)", channels.SmtpSessions(settings)),
            ):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(emails):
                    await channels.send_email(message, settings, sessions)
                results.append((f"send an e-mail, {label}, CPU", (time.process_time() - cpu) / emails * 1e6))
                results.append((f"send an e-mail, {label}, wall", (time.perf_counter() - wall) / emails * 1e6))
                if sessions is not None:
                    await sessions.close()
            return results
        finally:
            controller.stop()


def spans(seconds: float) -> list[tuple[str, float]]:
    from shared.telemetry import span

    results = [("span outside any trace (no-op)", per_call_us(lambda: _enter(span("x", a=1)), seconds))]
    for label, provider in (
        ("SDK provider, no exporter, recording (before)", TracerProvider()),
        ("SDK provider, no exporter, sampler always_off (now)", TracerProvider(sampler=ALWAYS_OFF)),
        ("SDK provider, exporting (in memory)", _exporting()),
    ):
        tracer = provider.get_tracer("bench")
        with tracer.start_as_current_span("handler"):
            inner = provider.get_tracer("trailblazer")
            results.append(
                (
                    f"span inside a trace, {label}",
                    per_call_us(lambda t=inner: _enter(t.start_as_current_span("x", attributes={"a": 1})), seconds),  # type: ignore[misc]
                )
            )
    return results


def _exporting() -> TracerProvider:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _keep.append(exporter)
    return provider


_keep: list[Any] = []


def _enter(manager: Any) -> None:
    with manager:
        pass
    if len(_keep) and len(_keep[-1].get_finished_spans()) > 10_000:
        _keep[-1].clear()


async def outbox(dsn: str, records: int, transactions: int) -> list[tuple[str, float]]:
    import asyncpg

    from shared import outbox as shared_outbox
    from shared.db import SHARED_MIGRATIONS, apply_migrations

    admin = await asyncpg.connect(dsn)
    name = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE DATABASE {name}")
    database = dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await apply_migrations(database, [SHARED_MIGRATIONS])
        connection = await asyncpg.connect(database)
        try:

            async def before(c: Any) -> None:
                for _ in range(records):
                    await c.execute(
                        "INSERT INTO outbox(event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)"
                        " ON CONFLICT (event_id) DO NOTHING",
                        str(uuid.uuid4()),
                        "bench",
                        b"key",
                        b"x" * 1000,
                        '{"traceparent": "00-0-0-01"}',
                    )
                    await c.execute("SELECT pg_notify($1, '')", "outbox")

            async def one_by_one(c: Any) -> None:
                for _ in range(records):
                    await shared_outbox.add_raw(
                        c, event_id=str(uuid.uuid4()), topic="bench", key="key", payload=b"x" * 1000
                    )

            async def gathered(c: Any) -> None:
                async with shared_outbox.gathered(c):
                    await one_by_one(c)

            styles = (
                ("before (insert + notify per record)", before),
                ("now, outside a gathered block (one statement per record)", one_by_one),
                ("now, gathered (one statement per transaction)", gathered),
            )
            # Interleaved rounds, so that the machine's other work and the table's state weigh
            # on every style alike.
            rounds: dict[str, list[float]] = {label: [] for label, _ in styles}
            for _ in range(ROUNDS):
                for label, work in styles:
                    rounds[label].append(await _per_record(connection, work, records, transactions // ROUNDS))
            return [
                (f"outbox, {records} records per transaction, {label}", statistics.median(rounds[label]))
                for label, _ in styles
            ]
        finally:
            await connection.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def _per_record(
    connection: Any, work: Callable[[Any], Awaitable[None]], records: int, transactions: int
) -> float:
    """Wall microseconds per record (the round trips are the point; the server's time counts),
    from the first statement to the last before the commit: the commit costs every style alike."""
    spent = 0.0
    for _ in range(transactions):
        async with connection.transaction():
            started = time.perf_counter()
            await work(connection)
            spent += time.perf_counter() - started
        await connection.execute("TRUNCATE outbox")
    return spent / (records * transactions) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro")
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per figure (split in 5 rounds)")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server to measure the outbox on (a scratch database is made)"
    )
    parser.add_argument("--records", type=int, default=8)
    parser.add_argument("--emails", type=int, default=300, help="e-mails sent each way to an in-process mailbox")
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--round-trips", type=int, default=3000, help="database round trips per round and loop")
    args = parser.parse_args()
    trace.set_tracer_provider(TracerProvider())  # as the services have it
    rows = [
        *compose(args.seconds),
        *mime(args.seconds),
        *asyncio.run(smtp(args.emails)),
        *spans(args.seconds),
        *json_storage(args.seconds),
    ]
    unit = {name: "µs" if name.endswith("wall") else "µs CPU" for name, _ in rows}
    unit["(the document's size in bytes)"] = "bytes"
    if args.database_url:
        outbox_rows = asyncio.run(outbox(args.database_url, args.records, args.transactions))
        rows += outbox_rows
        unit |= {name: "µs wall per record" for name, _ in outbox_rows}
        trip_rows = round_trips(args.database_url, args.round_trips)
        rows += trip_rows
        unit |= {name: "µs CPU" for name, _ in trip_rows}
    print("| what | per operation |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.1f} {unit[name]} |")


if __name__ == "__main__":
    main()
