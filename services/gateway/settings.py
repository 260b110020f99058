"""gateway's settings (prefix `TRAILBLAZER_`), on top of what every service reads."""

from pathlib import Path

from pydantic import Field

from shared.settings import KafkaSaslMechanism, KafkaSecurityProtocol, ServiceSettings, local_database_url


class GatewaySettings(ServiceSettings):
    database_url: str = Field(default=local_database_url("gateway"), repr=False)
    # The HTTP API firms call (the health endpoints stay on `health_port`).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8180
    # Firms sign in with their Kafka user and password (HTTP Basic); the broker checks them with a
    # SASL handshake on this listener, so there is one identity per firm, managed in one place.
    gateway_auth_bootstrap: str | None = None  # default: kafka_bootstrap
    gateway_auth_protocol: KafkaSecurityProtocol = "SASL_SSL"
    gateway_auth_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    gateway_auth_ca_file: Path | None = None  # default: kafka_ssl_ca_file
    # A password the broker accepted is trusted this long before it is checked again; a refused
    # one is refused this long without asking the broker (bounds guessing against it).
    gateway_auth_cache_s: float = 300.0
    gateway_auth_refusal_cache_s: float = 30.0
