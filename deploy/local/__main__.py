"""`python -m deploy.local start|stop|status`: the local stack for developers and the demo."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from deploy.local.config import SERVICES, StackConfig
from deploy.local.kafka_access import PROTOCOL, users_file
from deploy.local.processes import StackError
from deploy.local.stack import create_topics, start_infra, start_services, status, stop
from deploy.local.tls import openssl_available
from shared.acls import SUPER_USER


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    cfg = StackConfig(
        with_zipkin=not getattr(args, "no_zipkin", False),
        kafka_secure_listeners=getattr(args, "secure_kafka", False),
        with_prometheus=getattr(args, "prometheus", False),
    )
    try:
        if args.command == "start":
            _start(cfg, services=not args.no_services)
        elif args.command == "stop":
            _stop(cfg)
        else:
            _status(cfg)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _start(cfg: StackConfig, *, services: bool) -> None:
    started = time.monotonic()
    try:
        start_infra(cfg)
        create_topics(cfg)
        if services:
            start_services(cfg)
    except StackError as error:
        # Leave what did start running: its logs and state are what one needs to look at.
        raise StackError(f"{error}\n\nWhat started still runs; `python -m deploy.local stop` ends it.") from error
    print(f"stack ready in {time.monotonic() - started:.1f} s (state and logs in {cfg.state_dir})")
    print(f"  kafka     {cfg.kafka_bootstrap} ({PROTOCOL}, authorizer on: each client signs in as its own user)")
    print(f"            users and passwords: {users_file(cfg)} (super user {SUPER_USER!r}: ./dev ops)")
    if cfg.kafka_secure_listeners and openssl_available():
        print(
            f"            SASL_SSL :{cfg.kafka_sasl_ssl_port}, SSL (client certificate) :{cfg.kafka_ssl_port}, ", end=""
        )
        print(f"CA {cfg.tls_dir}/ca.crt")
    print(f"  postgres  {cfg.database_url('<service>')}")
    if cfg.with_zipkin:
        print(f"  zipkin    {cfg.zipkin_url}/zipkin/")
    if cfg.with_prometheus:
        print(f"  prometheus {cfg.prometheus_url}/  (dashboard queries: deploy/compose/grafana/dashboards)")
    print("  metrics   " + "  ".join(f"http://127.0.0.1:{cfg.health_port(s)}/metrics" for s in SERVICES))


def _stop(cfg: StackConfig) -> None:
    started = time.monotonic()
    stop(cfg)
    print(f"stack stopped in {time.monotonic() - started:.1f} s")


def _status(cfg: StackConfig) -> None:
    for entry in status(cfg):
        print(entry.line())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start the stack (a no-op for what already runs)")
    start.add_argument("--no-zipkin", action="store_true", help="no trace viewer")
    start.add_argument(
        "--prometheus", action="store_true", help="also Debian's prometheus (apt-get install prometheus) on port 9090"
    )
    start.add_argument("--no-services", action="store_true", help="infrastructure and topics only")
    start.add_argument(
        "--secure-kafka",
        action="store_true",
        help="kafka also on SASL_SSL and SSL listeners (kafka port + 3, + 4)",
    )
    commands.add_parser("stop", help="stop everything; data stays for the next start")
    commands.add_parser("status", help="each component: running, pid, port, ready")
    return parser


def _configure_logging(verbose: bool) -> None:
    # Our own progress lines at INFO; the libraries' chatter (aiokafka, asyncio) only if asked.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("deploy.local").setLevel(logging.DEBUG if verbose else logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
