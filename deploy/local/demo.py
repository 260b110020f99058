"""The demo: start the stack, publish sample assignments exactly as a relocation firm would, and
print what each stakeholder was told, with the Zipkin link to each assignment's trace.

Run with `./dev demo`; it keeps the stack running until Ctrl-C, then stops all of it.
"""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from shared import topics

from . import kafka_access, mailbox, stack
from .config import LOCAL_FIRMS, SERVICES, StackConfig
from .firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from .topic_reader import Received, TopicReader

log = logging.getLogger("demo")
DEMO_ENV = {"TRAILBLAZER_SAMPLE_CATALOG": "true", "OTEL_BSP_SCHEDULE_DELAY": "500"}


def say(text: str = "") -> None:
    """Print, and keep going if stdout went away: with `./dev demo | tee demo.log`, Ctrl-C ends
    `tee` too, and the clean stop that follows must not die on a broken pipe."""
    try:
        print(text, flush=True)
    except OSError:  # BrokenPipeError and the like: nobody reads any more
        # Point the descriptor at /dev/null, so that what is still buffered flushes quietly at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _print_assignment(cfg: StackConfig, request: dict[str, Any], records: list[Received]) -> None:
    payload = request["payload"]
    say(
        f"\n=== {payload['partner']['full_name']} → {payload['host_location']['city']}"
        f" (assignment {payload['assignment_id']} of {request['firm_id']})"
    )
    for record in records:
        event = record.value["payload"]
        if record.topic == topics.MATCH_PROPOSED:
            coach = event["coach"]
            say(
                f"  matched coach: {coach['display_name']} (score {coach['score']:.2f})"
                if coach
                else f"  no coach: {[u['message'] for u in event['unmatched']]}"
            )
            for lead in event["job_leads"][:3]:
                say(f"  lead: {lead['title']} at {lead['organisation']} (score {lead['score']:.2f})")
        elif record.topic.endswith(".stakeholder.notified.v1"):
            say(f"\n  --- to {event['stakeholder']} <{event['recipient']}> by {event['channel']}: {event['subject']}")
            say(textwrap.indent(event["body"], "  | "))
    say(f"\n  trace: {cfg.zipkin_url}/zipkin/traces/{records[0].trace_id}")


def _print_rejection(record: Received) -> None:
    errors = record.value["payload"]["errors"]
    say(
        f"\n=== rejected record at offset {record.offset}: "
        + "; ".join(f"{e['field']}: {e['code']} ({e['message']})" for e in errors)
    )


def _about(key: str) -> Callable[[Received], bool]:
    return lambda record: record.key == key


def _notified_about(key: str) -> Callable[[Received], bool]:
    return lambda record: record.topic.endswith(".stakeholder.notified.v1") and record.key == key


def _firm_of(record: Received) -> str | None:
    tenant = topics.tenant_of(record.topic)
    return tenant.id if tenant is not None else None


async def run_demo(cfg: StackConfig) -> None:
    # The local firms share the sample families: each publishes on its own topic, as itself.
    requests = [
        assignment_request(family, firm_id=LOCAL_FIRMS[index % len(LOCAL_FIRMS)])
        for index, family in enumerate(SAMPLE_FAMILIES)
    ]
    bad = b'{"event_type": "assignment.requested", "payload": {"partner": "forgot everything"}}'
    # A key of this run's own: on a kept stack, earlier runs' rejections are on the topic too.
    bad_key = f"demo-bad-{uuid.uuid4().hex[:8]}"
    outbound = [
        topics.firm_topic(firm_id, event)
        for firm_id in LOCAL_FIRMS
        for event in (topics.FirmEvent.STAKEHOLDER_NOTIFIED, topics.FirmEvent.ASSIGNMENT_REJECTED)
    ]
    async with TopicReader(cfg, topics.MATCH_PROPOSED, *outbound) as reader:
        for firm_id in LOCAL_FIRMS:
            own = [(record_key(r), encode(r)) for r in requests if r["firm_id"] == firm_id]
            if firm_id == LOCAL_FIRMS[0]:
                own.append((bad_key.encode(), bad))
            await publish(cfg, own, firm_id=firm_id)
            say(f"{firm_id} published {len(own)} records to {topics.firm_topic(firm_id, 'assignment.requested')}")
        say("(one of them malformed)")
        for request in requests:
            key = str(request["payload"]["assignment_id"])
            await reader.wait_for(_notified_about(key), count=3)
            records = sorted(reader.matching(_about(key)), key=lambda r: (r.topic != topics.MATCH_PROPOSED, r.offset))
            _print_assignment(cfg, request, records)
        [rejection] = await reader.wait_for(lambda r: r.topic.endswith(".assignment.rejected.v1") and r.key == bad_key)
        _print_rejection(rejection)
        _show_isolation(requests, reader.records)
        await _show_broker_refusal(cfg)
    _look_further(cfg, list(LOCAL_FIRMS), str(requests[0]["payload"]["assignment_id"]))


async def _show_broker_refusal(cfg: StackConfig) -> None:
    """The broker itself keeps them apart: a firm's own client, signed in as that firm, asking for
    another firm's answers is refused (docs/tenancy.md)."""
    owner, other = LOCAL_FIRMS[0], LOCAL_FIRMS[-1]
    topic = topics.firm_topic(owner, topics.FirmEvent.STAKEHOLDER_NOTIFIED)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=cfg.kafka_bootstrap,
        group_id=f"{topics.firm_prefix(other)}demo",
        auto_offset_reset="earliest",
        **kafka_access.tenant_options(cfg, topics.Kind.FIRM, other),
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=1000)
        outcome = "it could read them: the broker does not enforce tenancy!"
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as refused:
        outcome = f"refused by the broker ({type(refused).__name__})"
    finally:
        await consumer.stop()
    say(f"  {other}'s own Kafka client (user firm-{other}) reading {topic}: {outcome}")


def _show_isolation(requests: list[dict[str, Any]], records: list[Received]) -> None:
    """Each firm's own topics carry its own assignments only: what one firm reads never names
    another firm's partner or employee."""
    say("\n=== each firm reads its own topics")
    for firm_id in LOCAL_FIRMS:
        own = {str(r["payload"]["assignment_id"]) for r in requests if r["firm_id"] == firm_id}
        others = {str(r["payload"]["assignment_id"]) for r in requests if r["firm_id"] != firm_id}
        seen = [r for r in records if _firm_of(r) == firm_id and r.key in own | others]
        foreign = [r for r in seen if r.key in others]
        say(
            f"  {firm_id}: {len(seen)} records of this run on its topics, about {len({r.key for r in seen})} of its"
            f" own {len(own)} assignments; about another firm's: {len(foreign)}"
        )


def _look_further(cfg: StackConfig, firm_ids: list[str], assignment_id: str) -> None:
    """What an operator runs next; every line works as printed while the stack runs."""
    say(f"\nfirms: {', '.join(firm_ids)}. To look further (in another terminal, while this runs):")
    lines: list[tuple[str, str]] = []
    for firm_id in firm_ids:
        lines += [
            (f"./dev ops report --firm {firm_id}", "duty-of-information report for HR"),
            (f"./dev ops deliveries list --firm {firm_id} --status all", "every delivery, no personal data"),
        ]
    lines += [
        (f"./dev ops journey {assignment_id}", "one assignment end to end, with its trace"),
        ("./dev ops dead-letters list", "the malformed request, kept with its reason"),
        ("./dev ops outbox list", "rows the broker refused for good (none, one hopes)"),
        (
            f"curl -s http://127.0.0.1:{cfg.health_port('intake')}/metrics",
            "Prometheus metrics; matching, notifications: +1, +2",
        ),
        ("./dev ops tenants acls", "every firm's and provider's ACLs on the broker"),
        ("./dev stack status", "each component, pid, port, ready"),
    ]
    width = max(len(command) for command, _ in lines)
    for command, what in lines:
        say(f"  {command:<{width}}  # {what}")


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # SIGTERM (kill) and SIGHUP (the terminal closed) stop the stack as Ctrl-C does, at any moment.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    cfg = StackConfig()
    try:
        stack.start_infra(cfg)
        stack.create_topics(cfg)
        stack.start_services(cfg, extra_env={service: DEMO_ENV for service in SERVICES})
        asyncio.run(run_demo(cfg))
        say(f"\nEmails as sent (one .eml per message): {mailbox.mail_dir(cfg)}")
        say(f"\nZipkin: {cfg.zipkin_url}/zipkin/  ·  logs: {cfg.logs_dir}  ·  Ctrl-C stops the stack")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_until_stopped())
    except KeyboardInterrupt:
        pass  # stopped before the demo finished: the stack stops all the same
    finally:
        # A second Ctrl-C (terminals send one to every process in the group) must not cut the
        # clean stop short and leave the broker or the database behind. The stop comes before
        # any output, which may go to a pipe that is gone.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        logging.getLogger("demo").info("stopping the stack…")
        stack.stop(cfg)
        say("stack stopped; its data stays in " + str(cfg.state_dir))


if __name__ == "__main__":
    main()
