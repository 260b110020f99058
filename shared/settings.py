"""Settings every service reads from its environment (prefix `TRAILBLAZER_`).

Tracing is configured separately by the standard `OTEL_*` variables.
"""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAILBLAZER_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:55432/postgres"
    health_host: str = "127.0.0.1"
    health_port: int = 8100
    log_level: str = "INFO"
    # How long start-up waits for Kafka and PostgreSQL before giving up with a clear error.
    dependency_wait_s: float = 60.0
    # The outbox relay wakes on NOTIFY; polling is the fallback if a notification is missed.
    outbox_poll_interval_s: float = 1.0
    # Longest a handler keeps retrying a transient failure before handing the record back to Kafka.
    transient_retry_budget_s: float = 30.0
    db_pool_size: int = 10
    # On SIGTERM: how long in-flight handlers may finish, then how long the relay may drain.
    graceful_timeout_s: float = 20.0
    shutdown_drain_s: float = 5.0
