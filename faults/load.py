"""A steady stream of valid assignment requests, published the way a firm would, that keeps
going through broker restarts: a record is retried until the broker acknowledged it."""

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber

from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, request_topic

FIRM = "fault-suite"  # the firm the load writes as, on its own topic

log = logging.getLogger(__name__)


@dataclass
class Stream:
    bootstrap: str
    client_options: dict[str, Any]  # the firm's own sign-in
    total: int
    rate_per_s: float
    published: list[uuid.UUID] = field(default_factory=list)
    retries: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the last fault has recovered. A fault's recovery is measured by new work, so the
    # stream goes on at its rate past `total` until then (the report counts the extra requests).
    faults_done: asyncio.Event = field(default_factory=asyncio.Event)
    _producer: AIOKafkaProducer = field(init=False)

    async def run(self) -> None:
        self._producer = await _producer(self.bootstrap, self.client_options)
        started = time.monotonic()
        try:
            index = 0
            while index < self.total or not self.faults_done.is_set():
                await self._send(index)
                index += 1
                lag = started + index / self.rate_per_s - time.monotonic()
                if lag > 0:
                    await asyncio.sleep(lag)
        finally:
            await self._producer.stop()
            self.done.set()

    async def _send(self, index: int) -> uuid.UUID:
        request = assignment_request(SAMPLE_FAMILIES[index % len(SAMPLE_FAMILIES)], firm_id=FIRM)
        assignment_id = uuid.UUID(request["payload"]["assignment_id"])
        value, key = json.dumps(request).encode(), str(assignment_id).encode()
        while True:
            try:
                await self._producer.send_and_wait(request_topic(FIRM), value=value, key=key)
                break
            except OutOfOrderSequenceNumber:
                # A batch expired while the broker was away longer than the request timeout: this
                # idempotent producer's sequence has a gap it never recovers from. A new producer
                # (a new producer id) sends the same record again, same event id.
                self.retries += 1
                log.warning("publishing request %d lost its sequence; a new producer retries it", index)
                await self._producer.stop()
                self._producer = await _producer(self.bootstrap, self.client_options)
            except Exception as error:  # broker restarting: the same record again, same event id
                self.retries += 1
                log.warning("publishing request %d failed (%s); retrying", index, type(error).__name__)
                await asyncio.sleep(1)
        self.published.append(assignment_id)
        return assignment_id


async def _producer(bootstrap: str, client_options: dict[str, Any]) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=15000, **client_options
    )
    while True:
        try:
            await producer.start()
            return producer
        except Exception as error:
            log.warning("producer cannot reach Kafka (%s); retrying", type(error).__name__)
            await asyncio.sleep(1)
