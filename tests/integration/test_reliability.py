"""Life cycle and operator tooling on the real stack: SIGTERM drains in-flight work, and dead
letters can be listed, inspected and replayed."""

import asyncio
import signal
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from deploy.local import kafka_access
from deploy.local import services as svc
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import TopicReader
from shared import dead_letter, topics
from shared.ops import dead_letters

from .conftest import SERVICE_ENV

pytestmark = pytest.mark.integration


async def test_sigterm_drains_in_flight_work_and_nothing_is_handled_twice(local_stack: StackConfig) -> None:
    requests = [assignment_request(SAMPLE_FAMILIES[i % 3]) for i in range(40)]
    ids = {str(r["payload"]["assignment_id"]) for r in requests}
    async with TopicReader(local_stack, topics.ASSIGNMENT_CREATED) as reader:
        await publish(local_stack, [(record_key(r), encode(r)) for r in requests])
        # Stop intake while it works through the batch; kill_service fails if it is not gone in 20 s.
        await asyncio.to_thread(svc.kill_service, local_stack, "intake", 0, signal.SIGTERM)
        log = local_stack.log_path("intake").read_text()
        assert "trailblazer-intake draining" in log and "trailblazer-intake drained" in log
        await asyncio.to_thread(svc.start_service, local_stack, "intake", 0, SERVICE_ENV)
        await reader.wait_for(lambda r: r.key in ids, count=len(ids))
        await asyncio.sleep(2)  # room for a duplicate to show up
        created = [r.key for r in reader.records if r.key in ids]
    # Graceful stop: offsets committed after the effects, the outbox drained, nothing published twice.
    assert sorted(created) == sorted(ids)


async def test_dead_letters_are_listed_shown_and_replayed(
    local_stack: StackConfig, capsys: pytest.CaptureFixture[str], admin_env: dict[str, str]
) -> None:
    marker = f"not-json-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=local_stack.kafka_bootstrap, **kafka_access.client_options(local_stack)
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.MATCH_PROPOSED, value=marker, key=b"k-\xff", headers=[("firm_id", b"acme\x00\xfe")]
        )
    finally:
        await producer.stop()
    bootstrap = ["--bootstrap", local_stack.kafka_bootstrap]
    letter = await _dead_letter_with(local_stack, marker, replayed=False)
    assert letter.header(dead_letter.CONSUMER) == "notifications"
    assert letter.header(dead_letter.REASON) == "invalid_event: $=malformed_json"
    assert letter.key == b"k-\xff", "the original key, byte for byte"
    assert dead_letter.original_headers(letter.headers) == [("firm_id", b"acme\x00\xfe")]

    assert await dead_letters.main([*bootstrap, "list", "--consumer", "notifications"]) == 0
    assert letter.position in capsys.readouterr().out
    assert await dead_letters.main([*bootstrap, "show", letter.position]) == 0
    assert marker.decode() in capsys.readouterr().out
    assert await dead_letters.main([*bootstrap, "replay", letter.position]) == 0

    # Still garbage, so dead-lettered again, now saying where it was replayed from.
    again = await _dead_letter_with(local_stack, marker, replayed=True)
    restored = dict(dead_letter.original_headers(again.headers))
    assert restored == {"firm_id": b"acme\x00\xfe", dead_letter.REPLAYED_FROM: letter.position.encode()}
    assert again.key == letter.key


async def _dead_letter_with(cfg: StackConfig, marker: bytes, *, replayed: bool) -> dead_letters.DeadLetter:
    for _ in range(60):
        found = [
            d
            for d in await dead_letters.read_all(cfg.kafka_bootstrap, kafka_access.security(cfg))
            # The gateway projects match.proposed too and dead-letters the same garbage on its own.
            if d.value == marker
            and d.header(dead_letter.CONSUMER) == "notifications"
            and any(name == dead_letter.REPLAYED_FROM for name, _ in dead_letter.original_headers(d.headers))
            == replayed
        ]
        if found:
            return found[0]
        await asyncio.sleep(1)
    raise AssertionError(f"no dead letter for {marker!r}; replayed={replayed}")
