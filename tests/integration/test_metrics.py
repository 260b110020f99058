"""/metrics on the real stack: the figures move with traffic, the outbox depth rises while no
relay publishes and falls once one does, and no label holds personal data."""

import asyncio
import signal
import urllib.request
from collections.abc import Callable

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import services as svc
from deploy.local.config import SERVICES, StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import TopicReader
from shared import topics
from shared.outbox import RELAY_LOCK
from shared.topics import FirmEvent, firm_topic

from .conftest import SERVICE_ENV

pytestmark = pytest.mark.integration

Samples = list[tuple[str, dict[str, str], float]]


def scrape(cfg: StackConfig, service: str) -> Samples:
    url = f"http://127.0.0.1:{cfg.health_port(service)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for n, got, v in samples if n == name and labels.items() <= got.items())


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(condition):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not seen within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(0.3)


async def test_metrics_move_with_a_burst_and_the_outbox_rises_and_falls(local_stack: StackConfig) -> None:
    requests = [assignment_request(SAMPLE_FAMILIES[i % 3]) for i in range(40)]
    ids = {str(r["payload"]["assignment_id"]) for r in requests}
    # intake restarts as a standby: this connection holds its relay lock, as another replica would.
    holder = await asyncpg.connect(local_stack.database_url("intake"))
    try:
        await asyncio.to_thread(svc.kill_service, local_stack, "intake", 0, signal.SIGTERM)
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
        await asyncio.to_thread(svc.start_service, local_stack, "intake", 0, SERVICE_ENV)
        before = scrape(local_stack, "intake")
        assert value(before, "trailblazer_outbox_relay_active") == 0
        async with TopicReader(local_stack, topics.ASSIGNMENT_CREATED) as reader:
            await publish(local_stack, [(record_key(r), encode(r)) for r in requests])
            await until(
                lambda: value(scrape(local_stack, "intake"), "trailblazer_outbox_depth") >= len(requests),
                120,
                "the outbox depth rising with the burst",
            )
            during = scrape(local_stack, "intake")
            assert value(during, "trailblazer_outbox_oldest_age_seconds") > 0
            received = "faststream_received_messages_total"
            requested = firm_topic(requests[0]["firm_id"], FirmEvent.ASSIGNMENT_REQUESTED)
            assert value(during, received, handler=requested) - value(before, received, handler=requested) >= len(
                requests
            )
            handled = "trailblazer_handler_duration_seconds_count"
            assert value(during, handled, consumer="intake", outcome="ok") - value(
                before, handled, consumer="intake", outcome="ok"
            ) >= len(requests)
            assert reader.matching(lambda r: r.key in ids) == [], "nothing published without the relay"

            await holder.close()  # the lock is free: intake's relay takes over within a poll
            await reader.wait_for(lambda r: r.key in ids, count=len(ids), timeout_s=120)
            await until(
                lambda: value(scrape(local_stack, "intake"), "trailblazer_outbox_depth") == 0, 60, "the outbox emptied"
            )
        after = scrape(local_stack, "intake")
        published = "trailblazer_outbox_published_total"
        assert value(after, published, topic=topics.ASSIGNMENT_CREATED) >= len(requests)
        assert value(after, "trailblazer_outbox_relay_active") == 1
        assert value(after, "trailblazer_outbox_oldest_age_seconds") == 0
    finally:
        if not holder.is_closed():
            await holder.close()

    # Downstream figures: matching's catalog cache, notifications' deliveries, every consumer's lag.
    matching = scrape(local_stack, "matching")
    assert any(n == "trailblazer_catalog_cache_age_seconds" for n, _, _ in matching)
    await until(
        lambda: (
            value(scrape(local_stack, "notifications"), "trailblazer_deliveries", channel="email", status="sent")
            >= len(requests)
        ),
        120,
        "the burst's e-mails counted as sent",
    )
    for service in SERVICES:
        samples = scrape(local_stack, service)
        assert any(n == "trailblazer_consumer_lag_records" for n, _, _ in samples), service
        personal = {r["payload"][role]["full_name"] for r in requests for role in ("partner", "employee")}
        labels = {v for _, got, _ in samples for v in got.values()}
        assert not any("@" in v or v in personal or v in ids for v in labels), service
