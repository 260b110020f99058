"""Reading topics the way a firm or an operator would: a plain aiokafka consumer, from the start."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

from deploy.local import kafka_access
from deploy.local.config import StackConfig


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: dict[str, Any]
    raw: bytes = b""

    @property
    def trace_id(self) -> str:
        # W3C traceparent: version-traceid-spanid-flags
        return self.headers["traceparent"].split("-")[1]


def _json_object(value: bytes | None) -> dict[str, Any]:
    """The record's JSON object; {} for an empty record or one that is not a JSON object."""
    try:
        parsed = json.loads(value) if value else {}
    except (ValueError, RecursionError):  # a dead letter may hold anything, deep nesting too
        return {}
    return parsed if isinstance(parsed, dict) else {}


class TopicReader:
    """Collects every record on the given topics from the start, in the background."""

    def __init__(self, kafka: str | StackConfig, *topics: str, client_options: Mapping[str, Any] | None = None) -> None:
        """`kafka`: a local stack (read as its super user, unless `client_options` say who) or a
        bootstrap; client_options: aiokafka's TLS/SASL arguments (KafkaSecurity.client_options)."""
        bootstrap, options = kafka_access.endpoint(kafka, dict(client_options) if client_options is not None else None)
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **options,
        )
        self.records: list[Received] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "TopicReader":
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()
        try:
            await self._consumer.stop()
        except asyncio.CancelledError:
            # aiokafka's stop() re-raises the cancellation of a fetch that had just timed out (a
            # slow broker on a loaded machine); only a cancellation of this task is ours to pass on.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    async def _collect(self) -> None:
        async for record in self._consumer:
            # Dead letters carry whatever was sent: never let one record stop the reader.
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()}
            self.records.append(
                Received(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.key.decode("utf-8", "replace") if record.key else None,
                    headers,
                    _json_object(record.value),
                    record.value or b"",
                )
            )

    async def wait_for(
        self, match: Callable[[Received], bool], *, count: int = 1, timeout_s: float = 60.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [r for r in self.records if match(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = sorted({r.topic for r in self.records})
                raise AssertionError(f"expected {count} matching records, got {len(found)}; topics seen: {seen}")
            await asyncio.sleep(0.2)

    def matching(self, match: Callable[[Received], bool]) -> list[Received]:
        return [r for r in self.records if match(r)]
