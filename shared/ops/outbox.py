"""Outbox rows the relay moved aside, for operators: list them, put them back, or drop them.

    python -m shared.ops.outbox list [--limit 50]
    python -m shared.ops.outbox retry <id> [<id> ...] | --all
    python -m shared.ops.outbox discard <id> [<id> ...]

A row the broker refused for good (record too large, invalid topic), or refused
`TRAILBLAZER_OUTBOX_MAX_ATTEMPTS` times while it answered, is parked in `outbox_parked` with the
reason, and the relay goes on; the later rows of the same topic and key are parked behind it
(`held`), so a key's records keep their order. `retry` puts rows back in the outbox under their
own ids, so they go out ahead of their key's later rows; retry the refused row and the rows held
behind it together (`--all`, or every id). `discard` deletes rows for good. Each service has its
own outbox: the database comes from `--database-url` or `TRAILBLAZER_DATABASE_URL`
(`./dev ops outbox` goes through every service of the local stack).
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from shared.ops.cli import add_connection_options, database_error
from shared.settings import ServiceSettings

_LIST = """
SELECT id, parked_at, topic, key, length(payload) AS size, attempts, reason
FROM outbox_parked ORDER BY id
"""


def _text(key: bytes) -> str:
    return key.decode("utf-8", "replace") or "-"


def list_lines(rows: Sequence[asyncpg.Record]) -> list[str]:
    if not rows:
        return ["no parked outbox rows"]
    lines = [f"{'id':>8}  {'parked (UTC)':<19}  {'topic':<44} {'key':<36} {'bytes':>8} {'tries':>5}  reason"]
    for row in rows:
        lines.append(
            f"{row['id']:>8}  {row['parked_at']:%Y-%m-%d %H:%M:%S}  {row['topic']:<44} {_text(bytes(row['key'])):<36}"
            f" {row['size']:>8} {row['attempts']:>5}  {row['reason']}"
        )
    return lines


async def retry(connection: asyncpg.Connection, ids: Sequence[int] | None) -> int:
    """Back to the outbox under their own ids (all of them for None); returns how many."""
    async with connection.transaction():
        moved = await connection.fetch(
            "WITH moved AS (DELETE FROM outbox_parked WHERE $1::bigint[] IS NULL OR id = ANY($1) RETURNING *)"
            " INSERT INTO outbox(id, event_id, topic, key, payload, headers, created_at)"
            " SELECT id, event_id, topic, key, payload, headers, created_at FROM moved"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            None if ids is None else list(ids),
        )
        await connection.execute("SELECT pg_notify('outbox', '')")
    return len(moved)


async def discard(connection: asyncpg.Connection, ids: Sequence[int]) -> int:
    return len(await connection.fetch("DELETE FROM outbox_parked WHERE id = ANY($1) RETURNING id", list(ids)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.outbox", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per parked row, oldest first")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N")
    again = commands.add_parser("retry", help="put parked rows back in the outbox")
    again.add_argument("ids", nargs="*", type=int, metavar="ID")
    again.add_argument("--all", action="store_true", help="every parked row")
    drop = commands.add_parser("discard", help="delete parked rows for good")
    drop.add_argument("ids", nargs="+", type=int, metavar="ID")
    add_connection_options(parser, (listing, again, drop), database="the service's database")
    return parser


async def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "retry" and bool(args.ids) == bool(args.all):
        parser.error("retry: name row ids, or pass --all")
    connection = await asyncpg.connect(args.database_url or ServiceSettings().database_url)
    try:
        if args.command == "list":
            rows = await connection.fetch(_LIST)
            print("\n".join(list_lines(rows[-args.limit :] if args.limit else rows)))
        elif args.command == "retry":
            print(f"{await retry(connection, None if args.all else args.ids)} row(s) back in the outbox")
        else:
            print(f"{await discard(connection, args.ids)} row(s) discarded")
    finally:
        await connection.close()
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(main(argv))
    except (OSError, asyncpg.PostgresError) as error:
        print(database_error("the service's database", error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
