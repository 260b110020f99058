"""The whole local stack: start, stop, status, and single-component restarts for fault tests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from deploy.local import kafka, mailbox, postgres, prometheus, zipkin
from deploy.local import services as svc
from deploy.local.artifacts import ensure_kafka, ensure_zipkin
from deploy.local.config import SERVICES, StackConfig, process_name
from deploy.local.kafka import create_topics
from deploy.local.processes import StackError, read_pid
from deploy.local.services import kill_service, start_service, start_services, stop_services

log = logging.getLogger(__name__)

__all__ = [
    "ComponentStatus",
    "create_topics",
    "kill_service",
    "restart_kafka",
    "restart_postgres",
    "running_stack",
    "start_infra",
    "start_service",
    "start_services",
    "status",
    "stop",
    "stop_services",
]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    port: int | None
    ready: bool

    def line(self) -> str:
        state = "ready" if self.ready else ("running, NOT ready" if self.running else "stopped")
        pid = f"pid {self.pid}" if self.pid is not None else "-"
        return f"{self.name:<16} {state:<20} {pid:<12} port {self.port}"


def start_infra(cfg: StackConfig) -> None:
    """PostgreSQL (with the service databases), Kafka and, if configured, Zipkin; each waits
    until ready. They start side by side, so the slowest JVM sets the pace."""
    started = time.monotonic()
    # Downloads first and one at a time: parallel Maven runs would share ~/.m2 unsafely.
    ensure_kafka(cfg.cache_dir)
    starters: list[Callable[[StackConfig], None]] = [postgres.start_postgres, kafka.start_kafka, mailbox.start_mailbox]
    if cfg.with_zipkin:
        ensure_zipkin(cfg.cache_dir)
        starters.append(zipkin.start_zipkin)
    if cfg.with_prometheus:
        starters.append(prometheus.start_prometheus)
    with ThreadPoolExecutor(max_workers=len(starters)) as pool:
        futures = [pool.submit(start, cfg) for start in starters]
    _raise_all([error for future in futures if (error := future.exception()) is not None])
    log.info("infrastructure ready (%.1f s)", time.monotonic() - started)


def stop(cfg: StackConfig) -> None:
    """Stop everything that runs, services first; data directories stay for the next start.
    Every component gets its stop even if an earlier one failed."""
    errors: list[BaseException] = []
    steps = (
        stop_services,
        kafka.stop_kafka,
        zipkin.stop_zipkin,
        prometheus.stop_prometheus,
        mailbox.stop_mailbox,
        postgres.stop_postgres,
    )
    for step in steps:
        try:
            step(cfg)
        except Exception as error:  # collected, raised once all steps ran
            errors.append(error)
    _raise_all(errors)


def status(cfg: StackConfig) -> list[ComponentStatus]:
    """One entry per infrastructure component and per service replica (replica 0 always)."""
    entries = [
        _status(cfg, postgres.NAME, cfg.postgres_port, lambda: postgres.postgres_ready(cfg)),
        _status(cfg, kafka.NAME, cfg.kafka_port, lambda: kafka.kafka_ready(cfg)),
        _status(cfg, zipkin.NAME, cfg.zipkin_port, lambda: zipkin.zipkin_ready(cfg)),
        _status(cfg, mailbox.NAME, mailbox.port(cfg), lambda: mailbox.mailbox_ready(cfg)),
    ]
    if read_pid(cfg, prometheus.NAME) is not None:
        entries.append(_status(cfg, prometheus.NAME, cfg.prometheus_port, lambda: prometheus.prometheus_ready(cfg)))
    replicas = sorted({(s, 0) for s in SERVICES} | set(svc.running_replicas(cfg)))
    for service, replica in replicas:
        port = cfg.health_port(service, replica)
        check = _service_check(cfg, service, replica)
        entries.append(_status(cfg, process_name(service, replica), port, check))
    return entries


@contextmanager
def running_stack(cfg: StackConfig, services: bool = True) -> Iterator[StackConfig]:
    """Start the stack (infrastructure, topics and, unless told not to, the services) and
    stop all of it on the way out, whatever happened in between."""
    try:
        start_infra(cfg)
        create_topics(cfg)
        if services:
            start_services(cfg)
        yield cfg
    finally:
        stop(cfg)


def restart_kafka(cfg: StackConfig) -> None:
    kafka.stop_kafka(cfg)
    kafka.start_kafka(cfg)


def restart_postgres(cfg: StackConfig) -> None:
    postgres.stop_postgres(cfg)
    postgres.start_postgres(cfg)


def _status(cfg: StackConfig, name: str, port: int, ready: Callable[[], bool]) -> ComponentStatus:
    pid = read_pid(cfg, name)
    # Probe only what we started: the port might belong to somebody else's server.
    return ComponentStatus(name, pid is not None, pid, port, pid is not None and ready())


def _service_check(cfg: StackConfig, service: str, replica: int) -> Callable[[], bool]:
    return lambda: svc.service_ready(cfg, service, replica)


def _raise_all(errors: list[BaseException]) -> None:
    if errors:
        raise StackError("\n\n".join(str(error) for error in errors)) from errors[0]
