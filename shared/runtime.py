"""The life cycle every service shares: `python -m services.<name> [migrate|run]`.

`migrate` applies the shared and the service's migrations and exits. `run` opens the health
endpoints (ready = no), waits for PostgreSQL and Kafka with a bounded backoff and one log line per
attempt, registers the service's handlers, starts the outbox relay and reports ready. On SIGTERM
or SIGINT it reports not ready, stops fetching, lets the handler in flight finish and commit its
offset, publishes what the outbox still holds, and exits.
"""

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import uvloop
from faststream import FastStream
from faststream.kafka import KafkaBroker

from .db import SHARED_MIGRATIONS, Connection, apply_migrations, create_pool, wait_for
from .health import HealthServer
from .kafka_security import KafkaSecurity, check_access
from .logs import configure_logging
from .messaging import create_broker, publish_record, sample_consumer_lag
from .outbox import OutboxRelay, sample_outbox
from .settings import ConfigurationError, ServiceSettings
from .telemetry import configure_tracing
from .topics import FirmEvent, ProviderEvent

log = logging.getLogger(__name__)

Register = Callable[[KafkaBroker, asyncpg.Pool, ServiceSettings], None]
AfterMigrate = Callable[[str], Awaitable[None]]
# Work a service runs beside its consumers for as long as it runs (notifications' delivery worker).
Worker = Callable[[asyncpg.Pool, ServiceSettings], Awaitable[None]]
# Sets a service's own gauges from its database (or memory), every `metrics_sample_s`.
Sampler = Callable[[Connection], Awaitable[None]]
# A topic a service writes through its outbox: a literal topic name, or a tenant event (the topic
# of each firm or provider: `trailblazer.firm.<firm_id>.<event>.v1`).
Publication = str | FirmEvent | ProviderEvent


@dataclass(frozen=True)
class Service:
    """What makes one service different from another; everything else is shared."""

    name: str
    migrations: Path
    register: Register
    settings: ServiceSettings
    after_migrate: AfterMigrate | None = None
    workers: tuple[Worker, ...] = ()
    samplers: tuple[Sampler, ...] = ()
    # What it writes through the outbox, declared for the AsyncAPI document (services/asyncapi.py;
    # what it reads, the document takes from the subscribers `register` creates).
    publishes: tuple[Publication, ...] = ()

    @property
    def service_name(self) -> str:
        return f"trailblazer-{self.name}"

    async def migrate(self) -> None:
        dsn = self.settings.database_url
        await wait_for("PostgreSQL", lambda: _ping_database(dsn), budget_s=self.settings.dependency_wait_s)
        applied = await apply_migrations(dsn, [SHARED_MIGRATIONS, self.migrations])
        log.info("migrations applied: %s", ", ".join(applied) or "none pending")
        if self.after_migrate is not None:
            await self.after_migrate(dsn)

    async def run(self) -> None:
        settings = self.settings
        settings.check_combinations()  # before anything starts: a clear error, not a late one
        kafka_security = KafkaSecurity.from_settings(settings)
        health = HealthServer(settings.health_host, settings.health_port, {})
        await health.start()  # live at once; ready only when everything below is up
        tracer_provider = configure_tracing(self.service_name, trace_sql=settings.trace_sql)
        broker = create_broker(settings, self.service_name, tracer_provider)
        pool = await wait_for(
            "PostgreSQL",
            lambda: create_pool(settings.database_url, size=settings.db_pool_size),
            budget_s=settings.dependency_wait_s,
        )
        log.info("kafka transport: %s", kafka_security.describe())
        await wait_for(
            "Kafka",
            lambda: _connect_broker(broker, kafka_security, settings.kafka_bootstrap, self.service_name),
            budget_s=settings.dependency_wait_s,
        )
        self.register(broker, pool, settings)
        relay = OutboxRelay(
            pool,
            settings.database_url,
            lambda record: publish_record(broker, record),
            poll_interval_s=settings.outbox_poll_interval_s,
            broker_up=lambda: broker.ping(timeout=2.0),
            max_attempts=settings.outbox_max_attempts,
        )
        health.add_checks(
            {
                "kafka": lambda: _ping_broker(broker),
                "database": lambda: pool.fetchval("SELECT 1"),
                "consumers": lambda: _consumers_running(broker),
            }
        )
        relay_task: asyncio.Task[None] | None = None
        worker_tasks: list[asyncio.Task[None]] = []

        async def start_relay() -> None:
            nonlocal relay_task
            relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
            for worker in self.workers:
                worker_tasks.append(asyncio.create_task(_run_worker(worker, pool, settings), name=worker.__name__))
            samplers = (sample_outbox, *self.samplers)
            worker_tasks.append(asyncio.create_task(_sample(broker, pool, samplers, settings), name="metrics"))
            health.mark_ready()
            log.info("%s ready", self.service_name)

        async def drain() -> None:
            """SIGTERM: leave the load balancer, let in-flight handlers finish and commit their
            offsets, then publish what they wrote to the outbox, then let the broker close."""
            health.mark_draining()
            log.info("%s draining: stopping consumers", self.service_name)
            for subscriber in broker.subscribers:
                await subscriber.stop()  # waits up to graceful_timeout for the handler in flight
            await _stop_relay(relay, relay_task)
            await relay.drain(settings.shutdown_drain_s)
            log.info("%s drained", self.service_name)

        app = FastStream(broker, after_startup=[start_relay], on_shutdown=[drain])
        try:
            await app.run()
        finally:
            await _stop_relay(relay, relay_task)
            await relay.close()
            await _cancel(worker_tasks)
            await health.stop()
            await _close_pool(pool)
            tracer_provider.shutdown()


async def _stop_relay(relay: OutboxRelay, task: "asyncio.Task[None] | None") -> None:
    if task is None or task.done():
        return
    relay.stop()
    try:
        await asyncio.wait_for(task, timeout=5)
    except TimeoutError:
        pass  # wait_for cancelled it; an unfinished batch rolls back and is relayed again later
    except asyncio.CancelledError:
        pass


async def _sample(
    broker: KafkaBroker, pool: asyncpg.Pool, samplers: Sequence[Sampler], settings: ServiceSettings
) -> None:
    """Refresh the gauges that are read from state (outbox depth, deliveries, lag); a failed
    sample leaves the last figures and is logged once per kind of failure."""
    failing: set[str] = set()
    while True:
        try:
            await sample_consumer_lag(broker)
            async with pool.acquire() as connection:
                for sampler in samplers:
                    await sampler(connection)
            failing.clear()
        except Exception as error:
            if type(error).__name__ not in failing:
                log.warning("metrics sample failed (%s)", type(error).__name__)
                failing.add(type(error).__name__)
        await asyncio.sleep(settings.metrics_sample_s)


async def _run_worker(worker: Worker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    # Awaited here so that the task is a coroutine whatever awaitable the worker returns.
    await worker(pool, settings)


async def _cancel(tasks: list["asyncio.Task[None]"]) -> None:
    """Workers end with the process; they must stop before the pool closes, or closing waits for
    their connections. An interrupted piece of work is picked up again after a restart."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=5)
    except TimeoutError:
        pool.terminate()  # a connection still held: the process is exiting anyway


async def _consumers_running(broker: KafkaBroker) -> None:
    stopped = [s for s in broker.subscribers if not s.running]
    if stopped:
        raise RuntimeError(f"{len(stopped)} consumer(s) not running")


async def _ping_database(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.close()


async def _connect_broker(broker: KafkaBroker, security: KafkaSecurity, bootstrap: str, client_id: str) -> None:
    """With TLS or SASL, one probe connection first: a refused password or an untrusted
    certificate then reads as such in the log, not as the broker being away."""
    if security.protocol != "PLAINTEXT":
        await check_access(bootstrap, security, client_id=client_id)
    await broker.connect()


async def _ping_broker(broker: KafkaBroker) -> None:
    if not await broker.ping(timeout=2.0):
        raise ConnectionError("Kafka did not answer")


def main(service: Service) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{service.name}")
    parser.add_argument("command", nargs="?", choices=("run", "migrate"), default="run")
    args = parser.parse_args()
    configure_logging(service.service_name, service.settings.log_level, service.settings.log_format)
    try:
        # uvloop: the services spend much of their time in loopback round trips to PostgreSQL and
        # Kafka, and its event loop costs less CPU per socket event than asyncio's own.
        uvloop.run(service.migrate() if args.command == "migrate" else service.run())
    except ConfigurationError as error:
        log.critical("%s cannot start: %s", service.service_name, error)
        raise SystemExit(2) from None
