"""End-to-end throughput, latency, CPU and memory of the whole pipeline on the real local stack,
read against bare relays measured on the same broker and database in the same run.

    ./dev run python -m benchmarks.pipeline                     # baselines, burst of 5,000, 50/s for 60 s
    ./dev run python -m benchmarks.pipeline --replicas 2        # two replicas of every service
    ./dev run python -m benchmarks.pipeline --assignments 1000 --steady-rate 0 --no-baselines

Starts a private stack (its own ports and directory; `TRAILBLAZER_TEST_PORT_OFFSET` shifts them),
then, in order:

1. the bare relays of `benchmarks.bare_relay` (no service code: what Kafka and PostgreSQL allow);
2. a burst: N assignments published as fast as a firm's producer can, measured until every one
   has its third `stakeholder.notified` record; assignments/s, latency from publish to
   `assignment.created`, `match.proposed` and the third notification, and the CPU seconds each
   process spent per assignment (services, PostgreSQL, Kafka, the test mailbox, apart);
3. a steady rate (default 50/s for 60 s), the same latencies, plus created → third notification.

CPU is read from /proc for each process tree (see `benchmarks.proc_stats`) between the first
publish and the moment the stack is idle again (so the records written after the third
notification count too). The machine's load average and the CPU that other work on the machine
used during each phase are written with the results: on a shared machine every figure is skewed
by it. Results are appended to benchmarks/RESULTS-pipeline.md. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks import bare_relay, proc_stats
from deploy.local import kafka, kafka_access, mailbox, postgres, stack
from deploy.local.config import SERVICES, StackConfig, process_name
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, record_key, request_topic
from deploy.local.processes import read_pid
from deploy.local.services import running_replicas
from shared.topics import Kind

RESULTS = Path(__file__).parent / "RESULTS-pipeline.md"

# Today's topic names, and the per-firm names of the tenant convention (docs/tenancy.md).
_CREATED = re.compile(r"^trailblazer\.assignment\.created\.v1$")
_PROPOSED = re.compile(r"^trailblazer\.match\.proposed\.v1$")
_NOTIFIED = re.compile(r"^trailblazer\.(firm\.[a-z0-9-]+\.)?stakeholder\.notified\.v1$")
_INFRA = {postgres.NAME: "PostgreSQL", kafka.NAME: "Kafka", mailbox.NAME: "mailbox (test SMTP sink)"}
_IDLE_CPU_S_PER_S = 0.10  # below this, summed over the stack, the stack counts as idle again


class Tracker:
    """Reads `assignment.created`, `match.proposed` and `stakeholder.notified` from their end
    (no consumer group: every partition assigned) and notes when each assignment reached each."""

    def __init__(self, bootstrap: str, options: dict[str, Any], notifications: int) -> None:
        self._bootstrap = bootstrap
        self._options = options  # the stack's super user: internal topics and every firm's
        self._notifications = notifications
        self.created: dict[str, float] = {}
        self.proposed: dict[str, float] = {}
        self.notified_count: dict[str, int] = {}
        self.done: dict[str, float] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        lister = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, **self._options)
        await lister.start()
        try:
            wanted = (_CREATED, _PROPOSED, _NOTIFIED)
            topics = sorted(t for t in await lister.topics() if any(p.match(t) for p in wanted))
        finally:
            await lister.stop()
        # No group: the consumer takes every partition of these topics.
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=self._bootstrap, enable_auto_commit=False, **self._options
        )
        await consumer.start()
        while len({tp.topic for tp in consumer.assignment()}) < len(topics):  # noqa: ASYNC110 (no event to await)
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # resolve now, before anything is published
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            fetched = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for partition, records in fetched.items():
                for record in records:
                    self._note(partition.topic, record.key.decode() if record.key else "", now)

    def _note(self, topic: str, key: str, now: float) -> None:
        if _CREATED.match(topic):
            self.created.setdefault(key, now)
        elif _PROPOSED.match(topic):
            self.proposed.setdefault(key, now)
        elif _NOTIFIED.match(topic):
            count = self.notified_count[key] = self.notified_count.get(key, 0) + 1
            if count == self._notifications:
                self.done[key] = now

    async def wait_done(self, keys: Sequence[str], stall_s: float) -> None:
        """Until every key is done, or nothing new completed for `stall_s`."""
        last_progress, last_count = time.perf_counter(), -1
        while time.perf_counter() - last_progress < stall_s:
            count = sum(1 for k in keys if k in self.done)
            if count == len(keys):
                return
            if count != last_count:
                last_progress, last_count = time.perf_counter(), count
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class Phase:
    """One measured phase: what was published when, what completed, and the CPU it cost."""

    name: str
    published: int
    sent_at: dict[str, float]
    created: dict[str, float]
    proposed: dict[str, float]
    done: dict[str, float]
    elapsed_s: float
    publish_s: float
    cpu: proc_stats.Sample
    window_s: float
    components: dict[str, str] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return len(self.done)


def _latencies(start: Mapping[str, float], end: Mapping[str, float]) -> list[float]:
    return [end[k] - start[k] for k in end if k in start]


def _quantiles_ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"p50 {values[0] * 1000:.0f} ms (one value)"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49] * 1000:.0f} / p95 {q[94] * 1000:.0f} / p99 {q[98] * 1000:.0f} / max {max(values) * 1000:.0f} ms"


def component_pids(cfg: StackConfig) -> dict[str, int]:
    pids = {process_name(s, r): pid for s, r in running_replicas(cfg) if (pid := read_pid(cfg, process_name(s, r)))}
    for name in _INFRA:
        if (pid := read_pid(cfg, name)) is not None:
            pids[name] = pid
    return pids


async def _wait_idle(pids: Mapping[str, int], cap_s: float) -> proc_stats.Sample:
    """The sample taken once the stack's processes have gone (nearly) idle, or after `cap_s`."""
    deadline = time.perf_counter() + cap_s
    previous = proc_stats.sample(pids)
    while time.perf_counter() < deadline:
        await asyncio.sleep(1.0)
        current = proc_stats.sample(pids)
        busy = sum(v for k, v in current.minus(previous).cpu_s.items() if k in pids and k != mailbox.NAME)
        if busy < _IDLE_CPU_S_PER_S:
            return current
        previous = current
    return previous


async def run_phase(
    cfg: StackConfig,
    name: str,
    count: int,
    schedule: Callable[[int], float] | None,
    notifications: int,
) -> Phase:
    """Publish `count` assignments (at `schedule(i)` seconds after the start, or all at once) and
    measure until each has its notifications and the stack is idle."""
    pids = component_pids(cfg)
    tracker = Tracker(cfg.kafka_bootstrap, kafka_access.client_options(cfg), notifications)
    await tracker.start()
    requests = [assignment_request(SAMPLE_FAMILIES[i % len(SAMPLE_FAMILIES)]) for i in range(count)]
    keys = [record_key(r).decode() for r in requests]
    # The firm publishes its own requests, signed in as itself (every request is the first local firm's).
    as_firm = kafka_access.tenant_options(cfg, Kind.FIRM, requests[0]["firm_id"]) if requests else {}
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5, **as_firm
    )
    await producer.start()
    sent_at: dict[str, float] = {}
    before = proc_stats.sample(pids)
    started = time.perf_counter()
    try:
        acks = []
        for i, (key, request) in enumerate(zip(keys, requests, strict=True)):
            if schedule is not None and (wait := started + schedule(i) - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            sent_at[key] = time.perf_counter()
            acks.append(await producer.send(request_topic(request["firm_id"]), encode(request), key=key.encode()))
        await asyncio.gather(*acks)
        publish_s = time.perf_counter() - started
    finally:
        await producer.stop()
    await tracker.wait_done(keys, stall_s=120.0)
    after = await _wait_idle(pids, cap_s=60.0)
    await tracker.stop()
    done = {k: tracker.done[k] for k in keys if k in tracker.done}
    elapsed = (max(done.values()) - started) if done else 0.0
    return Phase(
        name=name,
        published=count,
        sent_at=sent_at,
        created={k: v for k, v in tracker.created.items() if k in sent_at},
        proposed={k: v for k, v in tracker.proposed.items() if k in sent_at},
        done=done,
        elapsed_s=elapsed,
        publish_s=publish_s,
        cpu=after.minus(before),
        window_s=time.perf_counter() - started,
    )


def _group(name: str) -> str:
    base = name.split("-")[0]
    return base if base in SERVICES else _INFRA.get(name, name)


def _cpu_table(phase: Phase) -> list[str]:
    per = max(phase.completed, 1)
    lines = ["| process | CPU s | CPU ms per assignment |", "|---|---:|---:|"]
    grouped: dict[str, float] = {}
    for name, seconds in phase.cpu.cpu_s.items():
        grouped[_group(name)] = grouped.get(_group(name), 0.0) + seconds
    order = [*SERVICES, *_INFRA.values(), "benchmark client"]
    for name in order:
        if name in grouped:
            lines.append(f"| {name} | {grouped[name]:.1f} | {grouped[name] * 1000 / per:.1f} |")
    services = sum(grouped.get(s, 0.0) for s in SERVICES)
    end_to_end = services + grouped.get("PostgreSQL", 0.0) + grouped.get("Kafka", 0.0)
    lines.append(f"| **services** | {services:.1f} | **{services * 1000 / per:.1f}** |")
    lines.append(
        f"| **end to end** (services + PostgreSQL + Kafka) | {end_to_end:.1f} | **{end_to_end * 1000 / per:.1f}** |"
    )
    ours = sum(phase.cpu.cpu_s.values())
    others = max(0.0, phase.cpu.machine_busy_s - ours)
    cores = os.cpu_count() or 1
    lines.append(
        f"\nOther work on the machine during the phase: {others:.1f} CPU s"
        f" ({others / max(phase.window_s, 1e-9) / cores:.0%} of the {cores} cores over {phase.window_s:.0f} s);"
        f" load average at the end {phase.cpu.load_average[0]:.1f}."
    )
    return lines


def _phase_text(phase: Phase, title: str) -> list[str]:
    lines = [f"### {title}", ""]
    lines.append(f"- completed: {phase.completed} of {phase.published} with all stakeholders notified")
    if phase.completed:
        lines.append(
            f"- throughput: **{phase.completed / phase.elapsed_s:.1f} assignments/s** ({phase.elapsed_s:.1f} s from"
            f" the first publish to the last third notification; publishing took {phase.publish_s:.1f} s)"
        )
    lines.append(f"- publish → created: {_quantiles_ms(_latencies(phase.sent_at, phase.created))}")
    lines.append(f"- publish → proposed: {_quantiles_ms(_latencies(phase.sent_at, phase.proposed))}")
    lines.append(f"- publish → third notification: {_quantiles_ms(_latencies(phase.sent_at, phase.done))}")
    lines.append(f"- created → third notification: {_quantiles_ms(_latencies(phase.created, phase.done))}")
    lines += ["", *_cpu_table(phase), ""]
    return lines


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "shared", "services"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    load = results["load_before"]
    lines = [
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — commit {_commit()}, {args.replicas} replica(s) per service",
        "",
        f"- machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores; load average"
        f" before the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min). The machine is shared with"
        " other work: every figure below is skewed by it; the CPU that other work used is written per phase.",
        f"- stack start (infra + topics + migrations + services ready): {results['start_s']:.1f} s",
        f"- command: `python -m benchmarks.pipeline {' '.join(results['argv'])}`",
        "",
    ]
    baselines: list[bare_relay.Result] = results.get("baselines", [])
    if baselines:
        lines += [
            f"### Bare relays on the same Kafka and PostgreSQL ({baselines[0].requests} requests each, 1 in,"
            f" {bare_relay.ANSWERS_PER_REQUEST} out)",
            "",
            "| relay | requests/s |",
            "|---|---:|",
            *[f"| {b.style} | {b.per_second:.0f} |" for b in baselines],
            "",
        ]
    for key, title in (("burst", "Burst"), ("steady", "Steady rate")):
        phase: Phase | None = results.get(key)
        if phase is None:
            continue
        heading = (
            f"{title}: {phase.published} assignments at once"
            if key == "burst"
            else f"{title}: {args.steady_rate}/s for {args.steady_seconds} s"
        )
        lines += _phase_text(phase, heading)
        if key == "burst" and phase.completed and baselines:
            rate = phase.completed / phase.elapsed_s
            ratios = ", ".join(f"{rate / b.per_second:.1%} of '{b.style}'" for b in baselines if b.per_second)
            lines += [f"Pipeline throughput against the bare relays: {ratios}.", ""]
    rss: dict[str, float | None] = results.get("rss", {})
    if rss:
        lines += ["### Peak RSS per service process (VmHWM)", "", "| process | MB |", "|---|---:|"]
        lines += [f"| {name} | {mb:.0f} |" if mb is not None else f"| {name} | gone |" for name, mb in rss.items()]
        lines.append("")
    return "\n".join(lines)


async def _baselines(cfg: StackConfig, requests: int) -> list[bare_relay.Result]:
    return await bare_relay.run_all(
        cfg.kafka_bootstrap,
        kafka_access.client_options(cfg),
        cfg.database_url("postgres"),
        cfg.database_url("bench_relay"),
        requests,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    parser.add_argument("--assignments", type=int, default=5000, help="burst size (0: no burst)")
    parser.add_argument("--steady-rate", type=int, default=50, help="assignments per second (0: no steady phase)")
    parser.add_argument("--steady-seconds", type=int, default=60)
    parser.add_argument("--replicas", type=int, default=1, help="replicas of every service")
    parser.add_argument("--baseline-requests", type=int, default=3000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--notifications", type=int, default=3, help="stakeholder.notified records per assignment")
    parser.add_argument("--state-dir", help="keep the stack's data and logs here (default: a temporary directory)")
    parser.add_argument("--no-write", action="store_true", help="print, do not append to RESULTS-pipeline.md")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"argv": list(argv) if argv is not None else sys.argv[1:]}
    with tempfile.TemporaryDirectory(prefix="trailblazer-bench-") as scratch:
        cfg = StackConfig.for_tests(Path(args.state_dir or scratch), with_zipkin=False)
        results["load_before"] = os.getloadavg()
        began = time.perf_counter()
        try:
            stack.start_infra(cfg)
            stack.create_topics(cfg)
            infra_s = time.perf_counter() - began
            if not args.no_baselines:
                results["baselines"] = asyncio.run(_baselines(cfg, args.baseline_requests))
            env = {"TRAILBLAZER_SAMPLE_CATALOG": "true", "OTEL_TRACES_EXPORTER": "none"}
            started = time.perf_counter()
            stack.start_services(
                cfg, replicas={s: args.replicas for s in SERVICES}, extra_env={service: env for service in SERVICES}
            )
            results["start_s"] = infra_s + time.perf_counter() - started
            if args.assignments:
                results["burst"] = asyncio.run(run_phase(cfg, "burst", args.assignments, None, args.notifications))
            if args.steady_rate and args.steady_seconds:
                count = args.steady_rate * args.steady_seconds
                rate = float(args.steady_rate)
                results["steady"] = asyncio.run(run_phase(cfg, "steady", count, lambda i: i / rate, args.notifications))
            results["rss"] = {
                name: proc_stats.peak_rss_mb(pid)
                for name, pid in component_pids(cfg).items()
                if _group(name) in SERVICES
            }
        finally:
            stack.stop(cfg)
    text = report(args, results)
    print(text)
    if not args.no_write:
        with RESULTS.open("a") as out:
            out.write(text)


if __name__ == "__main__":
    main()
