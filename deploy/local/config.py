"""Where the local stack keeps its state and which ports it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# The services in start order; the index fixes each one's health port.
SERVICES: tuple[str, ...] = ("intake", "matching", "notifications", "gateway", "care")
# The gateway's HTTP API listens on its health port + this (8164 on the demo stack): clear of the
# health ports, the mailbox (base + 50) and the next stack's ports when stacks are 100 ports apart.
GATEWAY_API_PORT_STEP = 60
# Firms whose own topics the local stack creates (the demo's firm).
LOCAL_FIRMS: tuple[str, ...] = ("nordic-relocation",)
# care's check-in link server listens this far above its health port (8110 for the demo).
CARE_LINK_PORT_OFFSET = 5

# Replica n of a service listens on its base health port + n * this.
REPLICA_PORT_STEP = 10


def _default_state_dir() -> Path:
    return Path(os.environ.get("TRAILBLAZER_STACK_DIR", REPO_ROOT / ".stack"))


def _port(base: int) -> int:
    """`TRAILBLAZER_STACK_PORT_OFFSET` shifts every port of the local stack, so a second stack (a
    test of `./dev demo`, say) can run beside the usual one."""
    return base + int(os.environ.get("TRAILBLAZER_STACK_PORT_OFFSET", "0"))


def _default_cache_dir() -> Path:
    # Kept outside the repo so a fresh clone or `git clean` does not re-download ~100 MB.
    return Path(os.environ.get("TRAILBLAZER_CACHE_DIR", Path.home() / ".cache" / "trailblazer"))


@dataclass(frozen=True)
class StackConfig:
    """Everything the local stack needs to know; every path is derived from `state_dir`."""

    state_dir: Path = field(default_factory=_default_state_dir)
    cache_dir: Path = field(default_factory=_default_cache_dir)
    repo_root: Path = REPO_ROOT
    kafka_port: int = field(default_factory=lambda: _port(9092))
    controller_port: int = field(default_factory=lambda: _port(9093))
    # Every port sits below Linux's ephemeral range (32768-60999): a server port inside it can be
    # taken, at random, by some client connection's local port (seen: PostgreSQL on 55462).
    postgres_port: int = field(default_factory=lambda: _port(15432))
    zipkin_port: int = field(default_factory=lambda: _port(9411))
    health_base_port: int = field(default_factory=lambda: _port(8101))
    prometheus_port: int = field(default_factory=lambda: _port(9090))
    with_zipkin: bool = True
    # Kafka also listens with SASL_PLAINTEXT, SASL_SSL and SSL (client certificate required) on
    # kafka_port + 2, + 3 and + 4, for the transport-security tests; the PLAINTEXT listener stays.
    kafka_secure_listeners: bool = False
    # Debian's prometheus scraping the services (`./dev stack start --prometheus`).
    with_prometheus: bool = False

    @classmethod
    def for_tests(cls, tmp_dir: Path, *, with_zipkin: bool = False) -> StackConfig:
        """A stack in `tmp_dir` on its own port range, so tests never meet a running demo stack.

        `TRAILBLAZER_TEST_PORT_OFFSET` shifts the whole range, so that two test sessions can run
        side by side on one machine.
        """
        offset = int(os.environ.get("TRAILBLAZER_TEST_PORT_OFFSET", "0"))
        return cls(
            state_dir=tmp_dir,
            kafka_port=19092 + offset,
            controller_port=19093 + offset,
            postgres_port=26432 + offset,
            zipkin_port=19411 + offset,
            health_base_port=18101 + offset,
            with_zipkin=with_zipkin,
            kafka_secure_listeners=True,
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_sasl_port(self) -> int:
        """SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512."""
        return self.kafka_port + 2

    @property
    def kafka_sasl_ssl_port(self) -> int:
        """SASL_SSL: the same mechanisms over TLS (only where `openssl` made the certificates)."""
        return self.kafka_port + 3

    @property
    def kafka_ssl_port(self) -> int:
        """SSL with a client certificate required (mTLS)."""
        return self.kafka_port + 4

    def database_url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/{db}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.zipkin_port}"

    def health_port(self, service: str, replica: int = 0) -> int:
        return self.health_base_port + SERVICES.index(service) + replica * REPLICA_PORT_STEP

    def gateway_port(self, replica: int = 0) -> int:
        return self.health_port("gateway", replica) + GATEWAY_API_PORT_STEP

    def care_link_port(self, replica: int = 0) -> int:
        return self.health_port("care", replica) + CARE_LINK_PORT_OFFSET

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    @property
    def tls_dir(self) -> Path:
        return self.conf_dir / "tls"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"


def process_name(service: str, replica: int = 0) -> str:
    """Replica 0 keeps the plain name so the common single-replica logs read `intake.log`."""
    return service if replica == 0 else f"{service}-{replica}"
