"""`./dev ops <command> ...`: the operator commands, pointed at the running local stack.

Each command is the product's own (`python -m shared.ops.dead_letters`, `python -m
shared.ops.tenants`, `python -m services.notifications deliveries`, ...), run against this stack's
broker, signed in as its super user (`TRAILBLAZER_KAFKA_*`, deploy/local/kafka_access.py), and
the command's database (`TRAILBLAZER_DATABASE_URL`), unless the environment already names a
broker or a database; `--bootstrap` / `--database-url` still override both.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deploy.local import kafka_access
from deploy.local.config import SERVICES, StackConfig


@dataclass(frozen=True)
class Command:
    what: str
    database: str | None  # whose database the command reads, if any
    run: Callable[[list[str]], int]


def _dead_letters(argv: list[str]) -> int:
    from shared.ops import dead_letters

    return asyncio.run(dead_letters.main(argv))


def _deliveries(argv: list[str]) -> int:
    from services.notifications import parked

    try:
        parked.run(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _report(argv: list[str]) -> int:
    from services.notifications import report

    report.main(argv)
    return 0


def _outbox(argv: list[str]) -> int:
    """Each service has its own outbox: all of them, or the one `--service` names."""
    from shared.ops import outbox

    services: Sequence[str] = SERVICES
    if "--service" in argv:
        at = argv.index("--service")
        services, argv = argv[at + 1 : at + 2], argv[:at] + argv[at + 2 :]
    if "--database-url" in argv or "TRAILBLAZER_DATABASE_URL" in os.environ:
        return outbox.run(argv)
    worst = 0
    for service in services:
        print(f"--- {service}", flush=True)
        worst = max(worst, outbox.run([*argv, "--database-url", StackConfig().database_url(service)]))
    return worst


def _journey(argv: list[str]) -> int:
    from services import journey

    cfg = StackConfig()
    for service in SERVICES:
        os.environ.setdefault(f"TRAILBLAZER_{service.upper()}_DATABASE_URL", cfg.database_url(service))
    os.environ.setdefault("TRAILBLAZER_TRACE_URL", f"{cfg.zipkin_url}/zipkin/traces/{{trace_id}}")
    return journey.main(argv)


def _tenants(argv: list[str]) -> int:
    from shared.ops import tenants

    return asyncio.run(tenants.main(argv))


def _care(argv: list[str]) -> int:
    from services.care import report

    report.main(argv)
    return 0


COMMANDS: dict[str, Command] = {
    "dead-letters": Command("list, show and replay dead letters (Kafka)", None, _dead_letters),
    "deliveries": Command("list and requeue parked deliveries", "notifications", _deliveries),
    "report": Command("duty-of-information report for a firm (--firm F)", "notifications", _report),
    "journey": Command("one assignment end to end: topics, each service's records, deliveries, trace", None, _journey),
    "outbox": Command("outbox rows the broker refused, per service [--service S]: list, retry, discard", None, _outbox),
    "care": Command("duty of care: report, scorecard, clock (docs/care.md)", "care", _care),
    "tenants": Command("onboard / offboard a firm or provider: user, topics, ACLs (docs/tenancy.md)", None, _tenants),
}


def usage() -> str:
    lines = ["usage: ./dev ops <command> [options]   (each command's --help says more)", ""]
    lines += [f"  {name:<14} {command.what}" for name, command in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command = COMMANDS[argv[0]]
    cfg = StackConfig()
    if "TRAILBLAZER_KAFKA_BOOTSTRAP" not in os.environ:  # another broker brings its own credentials
        os.environ.update(kafka_access.kafka_env(cfg))
    if command.database is not None:
        os.environ.setdefault("TRAILBLAZER_DATABASE_URL", cfg.database_url(command.database))
    return command.run(list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
