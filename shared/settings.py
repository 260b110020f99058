"""Settings every service reads from its environment (prefix `TRAILBLAZER_`).

Tracing is configured separately by the standard `OTEL_*` variables.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class ConfigurationError(ValueError):
    """Settings that cannot work together. The message names the variables to fix and never holds
    a secret's value; a service stops at start with it instead of failing later, obscurely."""


def local_database_url(database: str) -> str:
    """The local stack's database of that name (`./dev stack start`): every service's default, so
    a service or an operator command run by hand on a developer's machine finds its own tables."""
    return f"postgresql://postgres@127.0.0.1:15432/{database}"


class ServiceSettings(BaseSettings):
    # hide_input_in_errors: a validation error must not print the environment (passwords, URLs).
    model_config = SettingsConfigDict(env_prefix="TRAILBLAZER_", extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Transport security to Kafka (docs/operations.md, "Transport security"). PLAINTEXT: neither
    # TLS nor authentication, as on the local stack. SSL / SASL_SSL verify the broker against
    # `kafka_ssl_ca_file` (the system's CAs if unset); SASL_* authenticate with the mechanism,
    # user name and password below. A client certificate (mTLS) needs SSL or SASL_SSL.
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_cert_file: Path | None = None
    kafka_ssl_key_file: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    # May hold the database password: kept out of repr() and so out of any log of the settings.
    # How often the client refreshes topic metadata: how soon a pattern subscription sees a new
    # firm's or provider's topics, so a firm onboarded while the services run is served within
    # seconds (aiokafka's default is 5 minutes). One metadata request per client per refresh.
    kafka_metadata_max_age_s: float = 5.0
    # The producer (the outbox relay's and the handlers'): how long it waits for more records to
    # fill a batch, and a batch's largest size per partition. aiokafka's defaults (0 ms, 16 KB) send
    # a 9 KB `match.proposed` alone in its request; a relay batch goes out in a few requests instead.
    kafka_linger_ms: int = Field(default=5, ge=0)
    kafka_max_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    # Consumers take what has arrived, up to this many records, and handle them in one transaction
    # with one offset commit (1: one record at a time). A consumer with nothing to do looks again
    # after the wait below, twice (FastStream sleeps as long after an empty fetch): the longest a
    # record waits on an idle consumer.
    consume_batch_records: int = Field(default=200, ge=1)
    consume_batch_wait_ms: int = Field(default=20, ge=1)
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:15432/postgres", repr=False)
    health_host: str = "127.0.0.1"
    health_port: int = 8100
    log_level: str = "INFO"
    # text: one readable line per record; json: one JSON object per line (shared/logs.py).
    log_format: Literal["text", "json"] = "text"
    # One span per SQL statement, for debugging; off, traces show the repository operations.
    trace_sql: bool = False
    # How long start-up waits for Kafka and PostgreSQL before giving up with a clear error.
    dependency_wait_s: float = 60.0
    # The outbox relay wakes on NOTIFY; polling is the fallback if a notification is missed.
    outbox_poll_interval_s: float = 1.0
    # Longest a handler keeps retrying a transient failure before handing the record back to Kafka.
    transient_retry_budget_s: float = 30.0
    # Any other exception: tried this many times with backoff (from the delay below), then the
    # record is dead-lettered. After `halt_after_failures` such records of one handler in a row
    # (0: never), the handler holds its records instead: a bad deploy, not bad records.
    unexpected_error_attempts: int = 3
    unexpected_error_backoff_s: float = 0.5
    halt_after_failures: int = 5
    # Outbox: a row the broker refuses for good (too large, invalid topic) is moved aside at once;
    # one it refuses otherwise while answering, after this many attempts (docs/operations.md).
    outbox_max_attempts: int = 5
    # How often the gauges read from state (outbox depth and age, deliveries, lag) are refreshed.
    metrics_sample_s: float = 5.0
    db_pool_size: int = 10
    # On SIGTERM: how long in-flight handlers may finish, then how long the relay may drain.
    graceful_timeout_s: float = 20.0
    shutdown_drain_s: float = 5.0

    def check_combinations(self) -> None:
        """Raise ConfigurationError for settings that cannot work together. Called when a service
        starts (not by `migrate`, which needs neither Kafka nor mail); reads no files."""
        from .kafka_security import KafkaSecurity  # imports this module

        KafkaSecurity.from_settings(self)
