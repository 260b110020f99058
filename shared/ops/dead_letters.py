"""List, inspect and replay dead letters.

    python -m shared.ops.dead_letters list [--consumer intake] [--source-topic T] [--limit 50]
    python -m shared.ops.dead_letters show 1:42
    python -m shared.ops.dead_letters replay 1:42 [2:7 ...]
    python -m shared.ops.dead_letters replay --all [--consumer matching] [--source-topic T]

A dead letter is named by its position on the dead-letter topic, `<partition>:<offset>`. Replay
publishes the original key, value and headers to the topic the record came from, adding
`dead_letter.replayed_from`; consumers skip what they already handled (inbox), so replaying a
record twice, or one that another consumer group handled fine, changes nothing twice.
The broker comes from `--bootstrap` or `TRAILBLAZER_KAFKA_BOOTSTRAP`; TLS and SASL from the same
`TRAILBLAZER_KAFKA_*` variables the services read (docs/operations.md, "Transport security").
"""

import argparse
import asyncio
import base64
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import dead_letter
from shared.kafka_security import KafkaSecurity
from shared.ops.cli import add_connection_options
from shared.settings import ConfigurationError, ServiceSettings
from shared.topics import DEAD_LETTER, TOPICS


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        return self.headers.get(name, b"").decode("utf-8", "replace")

    @property
    def source_topic(self) -> str:
        return self.header(dead_letter.TOPIC)

    @property
    def origin(self) -> str:
        return f"{self.source_topic}/{self.header(dead_letter.PARTITION)}/{self.header(dead_letter.OFFSET)}"

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def read_all(bootstrap: str, security: KafkaSecurity | None = None) -> list[DeadLetter]:
    """Every record on the dead-letter topic, oldest first per partition; no consumer group."""
    # A throwaway group id that never commits: aiokafka 0.13's group-less consumer raises
    # CancelledError on stop().
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"dead-letters-ops-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        **(security or KafkaSecurity()).client_options(),
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(DEAD_LETTER, p) for p in range(next(t.partitions for t in TOPICS if t.name == DEAD_LETTER))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[DeadLetter] = []
        while await _behind(consumer, ends):
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                found.extend(_dead_letter(tp.partition, r) for r in records if r.offset < ends[tp])
        return sorted(found, key=lambda d: (d.timestamp_ms, d.partition, d.offset))
    finally:
        await consumer.stop()


async def _behind(consumer: Any, ends: dict[Any, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


def _dead_letter(partition: int, record: Any) -> DeadLetter:
    return DeadLetter(
        partition=partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value or b"",
        headers={name: value or b"" for name, value in record.headers or ()},
    )


def select(letters: Sequence[DeadLetter], consumer: str | None, source_topic: str | None) -> list[DeadLetter]:
    return [
        d
        for d in letters
        if (consumer is None or d.header(dead_letter.CONSUMER) == consumer)
        and (source_topic is None or d.source_topic == source_topic)
    ]


def list_lines(letters: Sequence[DeadLetter]) -> list[str]:
    lines = [f"{'position':<10} {'when (UTC)':<19} {'consumer':<14} {'from':<46} reason"]
    for d in letters:
        reason = d.header(dead_letter.REASON)
        lines.append(f"{d.position:<10} {d.at:<19} {d.header(dead_letter.CONSUMER):<14} {d.origin:<46} {reason[:90]}")
    lines.append(f"{len(letters)} dead letter(s)")
    return lines


def show_lines(d: DeadLetter) -> list[str]:
    lines = [
        f"dead letter {d.position} at {d.at} UTC",
        f"consumer: {d.header(dead_letter.CONSUMER)}",
        f"from:     {d.origin}",
        f"reason:   {d.header(dead_letter.REASON)}",
        f"key:      {_printable(d.key or b'')}",
        "original headers:",
    ]
    lines += [f"  {name}: {_printable(value)}" for name, value in dead_letter.original_headers(d.headers)]
    lines += [f"value ({len(d.value)} bytes):", _printable(d.value)]
    return lines


def _printable(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()
    return text if text.isprintable() or not text else repr(text)


async def replay(bootstrap: str, letters: Sequence[DeadLetter], security: KafkaSecurity | None = None) -> int:
    """Publish each original record to its source topic; returns how many were replayed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        **(security or KafkaSecurity()).client_options(),
    )
    await producer.start()
    replayed = 0
    try:
        for d in letters:
            if dead_letter.TRIMMED in d.headers:
                # Cut to fit the producer's limit: not the original record, so not replayed.
                print(f"not replayed {d.position}: trimmed ({d.headers[dead_letter.TRIMMED].decode()}); the original is"
                      f" on {d.source_topic}", file=sys.stderr)  # fmt: skip
                continue
            replayed += 1
            headers = [*dead_letter.original_headers(d.headers), (dead_letter.REPLAYED_FROM, d.position.encode())]
            await producer.send_and_wait(d.source_topic, value=d.value, key=d.key or None, headers=headers)
            print(f"replayed {d.position} to {d.source_topic}")
    finally:
        await producer.stop()
    return replayed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.dead_letters", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per dead letter, oldest first")
    show = commands.add_parser("show", help="headers, reason and original value of dead letters")
    show.add_argument("positions", nargs="+", metavar="PARTITION:OFFSET")
    again = commands.add_parser("replay", help="publish dead letters to their source topic again")
    again.add_argument("positions", nargs="*", metavar="PARTITION:OFFSET")
    again.add_argument("--all", action="store_true", help="every dead letter that matches the filters")
    for command in (listing, again):
        command.add_argument("--consumer", help="only those this consumer dead-lettered (intake, matching, ...)")
        command.add_argument("--source-topic", help="only those that came from this topic")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N")
    add_connection_options(parser, (listing, show, again), bootstrap=True)
    return parser


async def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ServiceSettings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    try:
        security = KafkaSecurity.from_settings(settings)
        security.ssl_context()  # unreadable TLS files: say so before connecting
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    letters = await read_all(bootstrap, security)
    if args.command == "list":
        chosen = select(letters, args.consumer, args.source_topic)
        print("\n".join(list_lines(chosen[-args.limit :] if args.limit else chosen)))
        return 0
    by_position = {d.position: d for d in letters}
    unknown = [p for p in args.positions if p not in by_position]
    if unknown:
        print(f"no dead letter at {', '.join(unknown)} (see `list`)", file=sys.stderr)
        return 2
    picked = [by_position[p] for p in args.positions]
    if args.command == "show":
        print("\n\n".join("\n".join(show_lines(d)) for d in picked))
        return 0
    if args.all:
        picked += [d for d in select(letters, args.consumer, args.source_topic) if d not in picked]
    if not picked:
        print("nothing to replay: name positions or pass --all", file=sys.stderr)
        return 2
    print(f"{await replay(bootstrap, picked, security)} dead letter(s) replayed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
