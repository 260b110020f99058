"""End-to-end throughput and latency of the whole pipeline on the real local stack.

    uv run --frozen python -m benchmarks.pipeline [--assignments 1000]

Starts a private stack (its own ports and directory), publishes N assignments as a firm would,
and measures, per assignment, the time from publish to the third `stakeholder.notified` record.
Results are appended to benchmarks/RESULTS-pipeline.md. Nothing here asserts a timing.
"""

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.local import stack
from deploy.local.config import SERVICES, StackConfig
from deploy.local.firm import REQUEST_TOPIC, SAMPLE_FAMILIES, assignment_request, encode, record_key
from shared.topics import STAKEHOLDER_NOTIFIED

RESULTS = Path(__file__).parent / "RESULTS-pipeline.md"


async def measure(cfg: StackConfig, count: int) -> tuple[float, list[float]]:
    requests = [assignment_request(SAMPLE_FAMILIES[i % len(SAMPLE_FAMILIES)]) for i in range(count)]
    sent_at: dict[str, float] = {}
    done_at: dict[str, float] = {}
    notified: dict[str, int] = {}
    consumer = AIOKafkaConsumer(
        STAKEHOLDER_NOTIFIED, bootstrap_servers=cfg.kafka_bootstrap, group_id="benchmark", auto_offset_reset="latest"
    )
    await consumer.start()
    await asyncio.sleep(2)  # let the consumer take its partitions before the clock starts
    producer = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    for request in requests:
        sent_at[record_key(request).decode()] = time.perf_counter()
        await producer.send(REQUEST_TOPIC, encode(request), key=record_key(request))
    await producer.flush()
    await producer.stop()
    deadline = time.perf_counter() + max(120.0, count * 0.5)
    while len(done_at) < count and time.perf_counter() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                assignment = record.key.decode() if record.key else ""
                notified[assignment] = notified.get(assignment, 0) + 1
                if notified[assignment] == 3 and assignment in sent_at:
                    done_at[assignment] = time.perf_counter()
    await consumer.stop()
    if not done_at:
        raise SystemExit(f"no assignment completed; see the service logs in {cfg.logs_dir}")
    elapsed = max(done_at.values()) - started
    return elapsed, [done_at[k] - sent_at[k] for k in done_at]


def report(count: int, elapsed: float, latencies: list[float], start_s: float, load_before: float) -> str:
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return (
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {count} assignments\n\n"
        f"- machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores;"
        f" load average before the run {load_before:.1f} (other work on the machine skews every figure)\n"
        f"- stack start (infra + topics + migrations + services ready): {start_s:.1f} s\n"
        f"- completed: {len(latencies)} of {count} with all three stakeholders notified\n"
        f"- throughput: {len(latencies) / elapsed:.1f} assignments/s ({elapsed:.1f} s)\n"
        f"- latency publish → third notification: p50 {quantiles[49] * 1000:.0f} ms,"
        f" p95 {quantiles[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--state-dir", help="keep the stack's data and logs here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trailblazer-bench-") as scratch:
        cfg = StackConfig.for_tests(Path(args.state_dir or scratch), with_zipkin=False)
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        try:
            stack.start_infra(cfg)
            stack.create_topics(cfg)
            env = {"TRAILBLAZER_SAMPLE_CATALOG": "true", "OTEL_TRACES_EXPORTER": "none"}
            stack.start_services(cfg, extra_env={service: env for service in SERVICES})
            start_s = time.perf_counter() - began
            elapsed, latencies = asyncio.run(measure(cfg, args.assignments))
        finally:
            stack.stop(cfg)
    text = report(args.assignments, elapsed, latencies, start_s, load_before)
    print(text)
    with RESULTS.open("a") as results:
        results.write(text)


if __name__ == "__main__":
    main()
