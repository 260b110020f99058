"""What the notifications tests share: a relocation firm's webhook endpoint, played by a real
HTTP server, with notification replicas configured to call it; the mailbox; the duty-of-information
topic. Each path of the endpoint answers with a status a test may change while it runs, and may
hold requests until the test lets them through (to catch a delivery in flight)."""

import asyncio
import contextlib
import email
import email.policy
import http.server
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from signal import SIGTERM
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from deploy.local import kafka_access, mailbox, stack
from deploy.local.config import StackConfig
from deploy.local.topic_reader import Received, TopicReader
from shared.topics import FirmEvent, firm_topic

from .tenants import on, onboard

# A Standard Webhooks secret (whsec_ + base64 of 32 bytes), fixed so a failing run can be replayed.
SECRET = "whsec_" + "dHJhaWxibGF6ZXItdGVzdC13ZWJob29rLXNlY3JldCE="
BASE_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "300", "TRAILBLAZER_SAMPLE_CATALOG": "true"}
# How long a held request waits at most: below the service's webhook timeout (10 s).
HOLD_TIMEOUT_S = 8.0


@dataclass
class FirmEndpoint:
    port: int
    # path → HTTP status; a path not listed answers 204.
    answers: dict[str, int] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    # path → gate: a request to that path is recorded, then waits until the gate is set.
    gates: dict[str, threading.Event] = field(default_factory=dict)

    def bodies(self, assignment_id: str) -> list[dict[str, Any]]:
        """What the firm received about one assignment, oldest first."""
        found = [json.loads(body) for _, _, body in list(self.received)]
        return [b for b in found if b["assignment_id"] == assignment_id]


def _serve(endpoint: FirmEndpoint) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            endpoint.received.append((self.path, dict(self.headers.items()), body))
            if (gate := endpoint.gates.get(self.path)) is not None:
                gate.wait(HOLD_TIMEOUT_S)
            self.send_response(endpoint.answers.get(self.path, 204))
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def notifications_calling(
    cfg: StackConfig, paths: Mapping[str, str], answers: Mapping[str, int], extra_env: Mapping[str, str] | None = None
) -> Iterator[FirmEndpoint]:
    """The endpoint, and two notification replicas with `paths` (firm id → path) as the firms'
    webhooks, a 5 s backoff (unless `extra_env` says otherwise); replica 0 is restarted as it
    was afterwards."""
    endpoint = FirmEndpoint(port=0, answers=dict(answers))
    server = _serve(endpoint)
    base = f"http://127.0.0.1:{endpoint.port}"
    hooks = {firm_id: {"url": f"{base}{path}", "secret": SECRET} for firm_id, path in paths.items()}
    env = {
        **BASE_ENV,
        "TRAILBLAZER_FIRM_WEBHOOKS": json.dumps(hooks),
        "TRAILBLAZER_DELIVERY_BACKOFF_S": "5",
        **(extra_env or {}),
    }
    onboard(cfg, *paths)  # the firms' own topics
    stack.kill_service(cfg, "notifications", 0, SIGTERM)
    stack.start_service(cfg, "notifications", 0, env)
    stack.start_service(cfg, "notifications", 1, env)
    try:
        yield endpoint
    finally:
        for gate in endpoint.gates.values():
            gate.set()
        stack.kill_service(cfg, "notifications", 1, SIGTERM)
        stack.kill_service(cfg, "notifications", 0, SIGTERM)
        stack.start_service(cfg, "notifications", 0, BASE_ENV)
        server.shutdown()


# --- the mailbox, the topics, the database ------------------------------------------------------


def mails_to(cfg: StackConfig, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(mailbox.mail_dir(cfg).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == address:
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def about(topic: str, assignment_id: str) -> Callable[[Received], bool]:
    """A record about the assignment on `topic`; for a firm event (`FirmEvent`), on the topic of
    that event of whichever firm the reader reads."""
    if isinstance(topic, FirmEvent):
        return on(topic, assignment_id)
    return lambda r: r.topic == topic and r.key == assignment_id


def status_of(records: list[Received], stakeholder: str, channel: str) -> set[str]:
    return {
        r.value["payload"]["status"]
        for r in records
        if (r.value["payload"]["stakeholder"], r.value["payload"]["channel"]) == (stakeholder, channel)
    }


async def wait_status(reader: TopicReader, assignment_id: str, wanted: dict[tuple[str, str], str]) -> list[Received]:
    def reached(_: Received) -> bool:
        records = reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id))
        return all(status in status_of(records, *key) for key, status in wanted.items())

    await reader.wait_for(reached, timeout_s=90)
    return reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id))


async def wait_until(check: Callable[[], bool], what: str, *, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def wait_for_row(database_url: str, query: str, *args: Any, timeout_s: float = 60.0) -> None:
    """Until `query` returns a row: that a handler committed what it does."""
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while await connection.fetchrow(query, *args) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no row for {query!r} within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


# --- what a firm publishes ---------------------------------------------------------------------


def consent_withdrawn(request: dict[str, Any]) -> dict[str, Any]:
    """`partner.consent_withdrawn` for a request's assignment, from the firm that owns it."""
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "partner.consent_withdrawn",
        "schema_version": 1,
        "occurred_at": now,
        "firm_id": request["firm_id"],
        "correlation_id": request["correlation_id"],
        "payload": {"assignment_id": request["payload"]["assignment_id"], "withdrawn_at": now},
    }


def withdrawals_of(request: dict[str, Any]) -> str:
    """The topic the request's firm withdraws consent on: its own."""
    return firm_topic(request["firm_id"], FirmEvent.PARTNER_CONSENT_WITHDRAWN)


def own_addresses(request: dict[str, Any]) -> tuple[str, str]:
    """Give partner and employee addresses of their own (the mailbox is shared by the session's
    tests); returns (partner, employee)."""
    tag = request["payload"]["assignment_id"][:8]
    for person in ("partner", "employee"):
        name, domain = request["payload"][person]["email"].split("@")
        request["payload"][person]["email"] = f"{name}+{tag}@{domain}"
    return request["payload"]["partner"]["email"], request["payload"]["employee"]["email"]


async def send(cfg: StackConfig, topic: str, key: str, *events: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap, **kafka_access.owner_options(cfg, topic))
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, json.dumps(event).encode(), key=key.encode())
    finally:
        await producer.stop()


async def deliveries_cli(cfg: StackConfig, *argv: str) -> tuple[int, str]:
    """`python -m services.notifications deliveries ...` as an operator runs it, with the
    service's own setting for the database; (exit code, stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "services.notifications", "deliveries", *argv),
        env={**os.environ, "TRAILBLAZER_DATABASE_URL": cfg.database_url("notifications")},
        cwd=cfg.repo_root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
