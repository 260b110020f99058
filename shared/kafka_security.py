"""Transport security for every Kafka client the services make: the FastStream broker
(`shared.messaging.create_broker`; its producer is also what the outbox relay publishes with) and
the plain aiokafka clients of the operator tool `shared.ops.dead_letters`.

One value, `KafkaSecurity`, is read from the settings, checked for combinations that cannot work,
and handed to each client in the form it takes: a FastStream security object, or aiokafka keyword
arguments (the same mapping, FastStream's own `parse_security`). The password stays a SecretStr
until a client is built, and no message, log line or exception here contains it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr

from .db import DependencyRefused
from .settings import ConfigurationError, KafkaSaslMechanism, KafkaSecurityProtocol, ServiceSettings

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
_PREFIX = "TRAILBLAZER_KAFKA_"


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: KafkaSecurityProtocol = "PLAINTEXT"
    mechanism: KafkaSaslMechanism | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaSecurity:
        """The settings' transport security; ConfigurationError if the combination cannot work."""
        security = cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ca_file=settings.kafka_ssl_ca_file,
            cert_file=settings.kafka_ssl_cert_file,
            key_file=settings.kafka_ssl_key_file,
            key_password=settings.kafka_ssl_key_password,
        )
        security.check()
        return security

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def check(self) -> None:
        """Raise ConfigurationError naming every variable that is missing or has no effect. A
        setting without effect is refused too: a SASL password with PLAINTEXT would otherwise let
        the service run unauthenticated while its operator believes it authenticates."""
        protocol = f"{_PREFIX}SECURITY_PROTOCOL={self.protocol}"
        problems: list[str] = []
        sasl = {
            "SASL_MECHANISM": self.mechanism,
            "SASL_USERNAME": self.username,
            "SASL_PASSWORD": _given(self.password),
        }
        tls = {
            "SSL_CA_FILE": self.ca_file,
            "SSL_CERT_FILE": self.cert_file,
            "SSL_KEY_FILE": self.key_file,
            "SSL_KEY_PASSWORD": _given(self.key_password),
        }
        if self.uses_sasl:
            missing = [name for name, value in sasl.items() if not value]
            if missing:
                problems.append(f"{protocol} needs {_names(missing)}")
        elif stray := [name for name, value in sasl.items() if value]:
            problems.append(
                f"{_names(stray)} set, but {protocol} does not authenticate (use SASL_PLAINTEXT or SASL_SSL)"
            )
        if not self.uses_tls:
            if stray := [name for name, value in tls.items() if value]:
                problems.append(f"{_names(stray)} set, but {protocol} does not use TLS (use SSL or SASL_SSL)")
        elif not self.cert_file and (self.key_file or _given(self.key_password)):
            problems.append(
                f"{_PREFIX}SSL_KEY_FILE / _SSL_KEY_PASSWORD need {_PREFIX}SSL_CERT_FILE (the client certificate)"
            )
        if problems:
            raise ConfigurationError("; ".join(problems))

    def describe(self) -> str:
        """For the start-up log line: what is used, never the password."""
        parts: list[str] = [self.protocol]
        if self.uses_sasl:
            parts.append(f"{self.mechanism} as {self.username!r}")
        if self.uses_tls:
            parts.append(f"CA {self.ca_file}" if self.ca_file else "system CAs")
        if self.cert_file:
            parts.append(f"client certificate {self.cert_file}")
        return ", ".join(parts)

    def ssl_context(self) -> ssl.SSLContext | None:
        """For SSL and SASL_SSL: verifies the broker's certificate and host name against the CA
        file (or the system's CAs) and presents the client certificate if one is configured."""
        if not self.uses_tls:
            return None
        for name, path in (
            ("SSL_CA_FILE", self.ca_file),
            ("SSL_CERT_FILE", self.cert_file),
            ("SSL_KEY_FILE", self.key_file),
        ):
            if path is not None and not path.is_file():
                raise ConfigurationError(f"{_PREFIX}{name}={path}: no such file")
        key_password = self.key_password.get_secret_value() if self.key_password else ""
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.ca_file,
                certfile=self.cert_file,
                keyfile=self.key_file,
                # A callable, so that OpenSSL never prompts on a terminal for an encrypted key.
                password=lambda: key_password,
            )
        except ssl.SSLError as error:
            raise ConfigurationError(
                f"the TLS files for Kafka could not be loaded ({error.reason or type(error).__name__}): check "
                f"{_PREFIX}SSL_CA_FILE, _SSL_CERT_FILE, _SSL_KEY_FILE and _SSL_KEY_PASSWORD"
            ) from None
        return context

    def faststream(self) -> BaseSecurity | None:
        """The `security` argument of FastStream's KafkaBroker; None for PLAINTEXT."""
        if self.protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if not self.uses_sasl:
            return BaseSecurity(ssl_context=context)
        assert self.mechanism is not None and self.username and self.password is not None  # check() ran
        return _SASL[self.mechanism](
            self.username, self.password.get_secret_value(), ssl_context=context, use_ssl=self.uses_tls
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client; {} for PLAINTEXT."""
        security = self.faststream()
        return parse_security(security) if security is not None else {}


async def check_access(bootstrap: str, security: KafkaSecurity, *, client_id: str, timeout_s: float = 10.0) -> None:
    """Open one connection to a bootstrap server exactly as the clients will (TLS handshake and
    certificate check, SASL authentication), then close it.

    A broker that refuses the credentials or a certificate that does not verify raises
    DependencyRefused with a message that says what to check; a broker not reachable (yet)
    raises what the connection raised, for the caller's retry."""
    options = security.client_options()
    failure: BaseException | None = None
    for host, port in _servers(bootstrap):
        where = f"Kafka at {host}:{port}"
        try:
            connection = await create_conn(
                host, port, client_id=client_id, request_timeout_ms=int(timeout_s * 1000), **options
            )
        except SaslAuthenticationFailed:
            raise DependencyRefused(
                f"{where} refused the credentials of user {security.username!r} ({security.mechanism} over "
                f"{security.protocol}): check {_PREFIX}SASL_USERNAME and {_PREFIX}SASL_PASSWORD"
            ) from None
        except IllegalSaslStateError:
            raise DependencyRefused(
                f"{where} does not take SASL authentication: check that {_PREFIX}BOOTSTRAP names the listener for "
                f"{security.protocol}"
            ) from None
        except UnsupportedSaslMechanismError:
            raise DependencyRefused(
                f"{where} does not offer SASL mechanism {security.mechanism} on this listener: check "
                f"{_PREFIX}SASL_MECHANISM and that {_PREFIX}BOOTSTRAP names the listener for {security.protocol}"
            ) from None
        except ssl.SSLCertVerificationError as error:
            raise DependencyRefused(
                f"the TLS certificate of {where} does not verify ({error.verify_message}): check "
                f"{_PREFIX}SSL_CA_FILE and that the host name in {_PREFIX}BOOTSTRAP is in the certificate"
            ) from None
        except ssl.SSLError as error:
            raise DependencyRefused(
                f"the TLS handshake with {where} failed ({error.reason or type(error).__name__}): check that it is "
                f"a TLS listener and, if it requires one, the client certificate ({_PREFIX}SSL_CERT_FILE)"
            ) from None
        except (OSError, KafkaError, TimeoutError) as error:
            failure = error
            continue
        connection.close()
        return
    if failure is None:
        raise ConfigurationError(f"{_PREFIX}BOOTSTRAP={bootstrap!r} names no server")
    raise failure


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    servers = []
    for server in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        servers.append((host.strip("[]") or server, int(port) if port.isdigit() else 9092))
    return servers


def _given(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


def _names(names: list[str]) -> str:
    return ", ".join(f"{_PREFIX}{name}" for name in names)
