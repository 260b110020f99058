"""What every operator command shares: the connection options, taken the same way everywhere.

`--database-url` and `--bootstrap` may stand before or after the sub-command
(`deliveries --database-url U list` and `deliveries list --database-url U` both work); without
them a command reads `TRAILBLAZER_DATABASE_URL` / `TRAILBLAZER_KAFKA_BOOTSTRAP`, as the services
do, and `./dev ops ...` sets those to the running local stack's.
"""

import argparse
from collections.abc import Iterable

import asyncpg


def add_connection_options(
    parser: argparse.ArgumentParser,
    sub_commands: Iterable[argparse.ArgumentParser] = (),
    *,
    database: str | None = None,
    bootstrap: bool = False,
) -> None:
    """`database`: whose database the command reads (for the help text), or None for no database."""
    for target, default in ((parser, None), *((sub, argparse.SUPPRESS) for sub in sub_commands)):
        # SUPPRESS on the sub-commands: an option given before the sub-command is not reset by it.
        if database is not None:
            target.add_argument(
                "--database-url",
                default=default,
                help=f"{database} (default: TRAILBLAZER_DATABASE_URL, else the local stack's)",
            )
        if bootstrap:
            target.add_argument(
                "--bootstrap", default=default, help="Kafka bootstrap servers (default: TRAILBLAZER_KAFKA_BOOTSTRAP)"
            )


def database_error(owner: str, error: BaseException) -> str:
    """One line for an operator, with the error's type only: a connection error's text may quote
    the database URL and its password."""
    hint = ""
    if isinstance(error, asyncpg.UndefinedTableError):
        hint = f" (is this {owner}? pass --database-url, or run through `./dev ops`)"
    elif isinstance(error, OSError):
        hint = " (is the stack running? `./dev stack status`)"
    return f"error: {owner}: {type(error).__name__}{hint}"
