"""The fault suite: while a stream of assignments flows through the real local stack, kill each
service in turn, restart Kafka, restart PostgreSQL, scale every service to two replicas and back
(two rebalances) and stop replicas gracefully; then check from the databases and topics that
nothing was lost and nothing was doubled, and write `faults/RESULTS.md`.

    uv run --frozen python -m faults.run [--assignments 5000] [--rate 40]

It runs its own stack (port offset `TRAILBLAZER_FAULTS_PORT_OFFSET`, default 300, state in
`TRAILBLAZER_FAULTS_STACK_DIR`, default /tmp/trailblazer-faults) and stops it afterwards.
Not part of `./dev test`: it takes several minutes.
"""

import argparse
import asyncio
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from deploy.local import kafka_access, stack
from deploy.local import services as svc
from deploy.local.config import SERVICES, StackConfig
from deploy.local.probes import run_async
from shared.topics import Kind

from .checks import Verdict, notified_count, progress, verify
from .load import FIRM, Stream

log = logging.getLogger("faults")

SERVICE_ENV = {"TRAILBLAZER_SAMPLE_CATALOG": "true", "OTEL_TRACES_EXPORTER": "none"}
RESULTS = Path(__file__).parent / "RESULTS.md"
SETTLE_S = 8.0  # steady flow between two faults
RECOVERY_TIMEOUT_S = 300.0


@dataclass
class Fault:
    name: str
    affected: tuple[str, ...]
    injected_at: float
    recovered_s: float | None = None


def config() -> StackConfig:
    os.environ["TRAILBLAZER_TEST_PORT_OFFSET"] = os.environ.get("TRAILBLAZER_FAULTS_PORT_OFFSET", "300")
    state = Path(os.environ.get("TRAILBLAZER_FAULTS_STACK_DIR", "/tmp/trailblazer-faults"))
    shutil.rmtree(state, ignore_errors=True)
    return StackConfig.for_tests(state, with_zipkin=False)


def env() -> dict[str, dict[str, str]]:
    return {service: SERVICE_ENV for service in SERVICES}


async def in_thread(action: Callable[[], object]) -> None:
    await asyncio.get_running_loop().run_in_executor(None, action)


class Suite:
    """Injects one fault every `interval_s` while the stream flows. A fault's recovery time runs
    from its injection until every affected service has committed new work again (its progress
    counter grew past the value it had once the fault was fully applied)."""

    def __init__(self, cfg: StackConfig, interval_s: float) -> None:
        self.cfg = cfg
        self.interval_s = interval_s
        self.faults: list[Fault] = []
        self.started = time.monotonic()

    async def inject(self, name: str, affected: tuple[str, ...], action: Callable[[], Awaitable[None]]) -> None:
        log.info("FAULT %s", name)
        fault = Fault(name, affected, time.monotonic() - self.started)
        began = time.monotonic()
        await action()
        baseline = {s: await _quietly(progress(self.cfg, s)) for s in affected}
        pending = set(affected)
        while pending and time.monotonic() - began < RECOVERY_TIMEOUT_S:
            await asyncio.sleep(0.25)
            pending = {s for s in pending if await _quietly(progress(self.cfg, s)) <= max(baseline[s], 0)}
        if not pending:
            fault.recovered_s = time.monotonic() - began
        log.info("RECOVERED from %s in %s s", name, f"{fault.recovered_s:.1f}" if fault.recovered_s else "never")
        self.faults.append(fault)
        await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - began)))

    def kill_and_restart(
        self, service: str, sig: int = signal.SIGKILL, replica: int = 0
    ) -> Callable[[], Awaitable[None]]:
        async def action() -> None:
            await in_thread(lambda: svc.kill_service(self.cfg, service, replica, sig))
            await in_thread(lambda: svc.start_service(self.cfg, service, replica, env()[service]))

        return action

    async def restart(self, what: Callable[[StackConfig], None]) -> None:
        await in_thread(lambda: what(self.cfg))

    async def scale(self, replicas: int) -> None:
        if replicas == 2:
            await in_thread(lambda: svc.start_services(self.cfg, {s: 2 for s in SERVICES}, env()))
        else:  # graceful: SIGTERM drains and commits, the partitions move to replica 0
            for service in SERVICES:
                await in_thread(partial(svc.kill_service, self.cfg, service, 1, signal.SIGTERM))

    async def run(self) -> None:
        await asyncio.sleep(self.interval_s / 2)
        for service in SERVICES:
            await self.inject(f"SIGKILL {service}", (service,), self.kill_and_restart(service))
        await self.inject("restart Kafka", SERVICES, lambda: self.restart(stack.restart_kafka))
        await self.inject("restart PostgreSQL", SERVICES, lambda: self.restart(stack.restart_postgres))
        await self.inject("2 replicas of each service (rebalance)", SERVICES, lambda: self.scale(2))
        kill_one = self.kill_and_restart("matching", replica=1)
        await self.inject("SIGKILL matching replica 1 of 2", ("matching",), kill_one)
        await self.inject("SIGTERM replica 1 of each (rebalance back to 1)", SERVICES, lambda: self.scale(1))
        for service in SERVICES:
            await self.inject(
                f"SIGTERM {service} (graceful drain)", (service,), self.kill_and_restart(service, signal.SIGTERM)
            )


FAULTS = 11  # the injections in Suite.run, to spread them over the stream


async def _quietly(check: Awaitable[int]) -> int:
    try:
        return await check
    except Exception:  # the database may be the fault
        return -1


async def wait_until_notified(cfg: StackConfig, ids: list[uuid.UUID], timeout_s: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        done = await _quietly(notified_count(cfg, ids))
        log.info("%d of %d assignments fully notified", done, len(ids))
        if done == len(ids):
            break
        await asyncio.sleep(5)
    return time.monotonic() - began


async def main(assignments: int, rate: float) -> int:
    cfg = config()
    try:
        stack.start_infra(cfg)
        stack.create_topics(cfg)
        as_firm = kafka_access.onboard_tenant(cfg, Kind.FIRM, FIRM)  # the load's firm, onboarded
        stack.start_services(cfg, extra_env=env())
        stream = Stream(cfg.kafka_bootstrap, as_firm, assignments, rate)
        # Spread the faults over the stream, so that every one of them meets flowing traffic.
        suite = Suite(cfg, interval_s=assignments / rate / (FAULTS + 0.5))
        began = time.monotonic()
        flowing = asyncio.create_task(stream.run())
        await suite.run()
        stream.faults_done.set()
        await flowing
        stream_s = time.monotonic() - began
        (cfg.state_dir / "published.txt").write_text("\n".join(str(i) for i in stream.published))
        drained_s = await wait_until_notified(cfg, stream.published, timeout_s=900)
        verdict = await verify(cfg, FIRM, stream.published)
    finally:
        stack.stop(cfg)
    RESULTS.write_text(report(assignments, rate, stream, suite.faults, verdict, stream_s, drained_s))
    print(RESULTS.read_text())
    ok = verdict.lost == 0 and verdict.duplicated == 0 and all(f.recovered_s is not None for f in suite.faults)
    return 0 if ok else 1


def report(
    assignments: int, rate: float, stream: Stream, faults: list[Fault], v: Verdict, stream_s: float, drained_s: float
) -> str:
    lines = [
        "# Fault suite results",
        "",
        f"Command: `uv run --frozen python -m faults.run --assignments {assignments} --rate {rate:g}`, "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this 2-core machine: real Kafka 4 "
        "(KRaft, one broker) and PostgreSQL, services as OS processes.",
        "",
        f"**Verdict: {'PASS' if v.lost == 0 and v.duplicated == 0 else 'FAIL'} — {v.lost} lost, "
        f"{v.duplicated} duplicated notifications, across {len(faults)} faults.**",
        "",
        "## Stream",
        "",
        f"- assignment requests published: {len(stream.published)} ({assignments} in the stream + "
        f"{len(stream.published) - assignments} extra), "
        f"over {stream_s:.0f} s; the publisher retried {stream.retries} sends while the broker was away",
        f"- after the stream ended, everything was notified within {drained_s:.0f} s",
        "",
        "## Faults",
        "",
        "Recovery = from injecting the fault (before the restart) until every affected service has committed "
        "new work again in its database; the restart itself is included. One fault every "
        f"{assignments / rate / (FAULTS + 0.5):.0f} s while the stream flows.",
        "",
        "| # | at (s) | fault | affected | recovery (s) |",
        "|---|---|---|---|---|",
    ]
    for index, fault in enumerate(faults, 1):
        recovered = f"{fault.recovered_s:.1f}" if fault.recovered_s is not None else "NOT RECOVERED"
        affected = ", ".join(fault.affected)
        lines.append(f"| {index} | {fault.injected_at:.0f} | {fault.name} | {affected} | {recovered} |")
    lines += [
        "",
        "## Checks from the databases and topics",
        "",
        "| check | value |",
        "|---|---|",
        f"| assignments requested (distinct) | {v.requested} |",
        f"| created in intake's database | {v.created_db} |",
        f"| distinct assignments on assignment.created | {v.created_topic} |",
        f"| proposals in matching's database | {v.matched_db} |",
        f"| distinct assignments on match.proposed | {v.matched_topic} |",
        f"| assignments with all 3 stakeholders in `notifications` | {v.fully_notified_db} |",
        f"| notification rows | {v.notification_rows} |",
        f"| duplicate notifications in the database | {v.duplicate_notifications_db} |",
        f"| distinct notifications on stakeholder.notified | {v.notified_topic_distinct} |",
        "| duplicate notifications on the topic (a second id for the same stakeholder and content) | "
        f"{v.duplicate_notifications_topic} |",
        f"| assignments followed by care (in its database) | {v.care.followed_db} |",
        f"| check-ins and deadlines set in care's database | {v.care.deadlines_db} |",
        f"| assignments whose schedule is on the firm's duty-of-care topic | {v.care.scheduled_topic} |",
        "| duplicate duty-of-care entries (a second entry id for the same scheduled check-in or deadline) | "
        f"{v.care.duplicate_entries} |",
        f"| **lost** (requested but not created, matched, fully notified and followed by care) | **{v.lost}** |",
        f"| **duplicated notifications** | **{v.duplicated}** |",
        f"| rejections of the stream's requests | {v.rejections} |",
        f"| dead letters | {v.dead_letters} |",
        f"| outbox rows left ({', '.join(v.outbox_left)}) | {', '.join(str(n) for n in v.outbox_left.values())} |",
        "",
        "Records published more than once by a relay (at-least-once; each consumer's inbox skips them): "
        + ", ".join(f"{topic.split('.', 1)[1]} {count}" for topic, count in v.redelivered_records.items())
        + f", duty-of-care scheduling entries {v.care.redelivered_entries}.",
        "",
    ]
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m faults.run", description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=8.0, help="assignment requests per second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    raise SystemExit(run_async(main(args.assignments, args.rate)))


if __name__ == "__main__":
    cli()
