"""Who is calling: a firm, signed in with its own Kafka user and password (HTTP Basic), checked by
the broker itself with a SASL handshake. A firm's HTTP identity and its Kafka identity are then the
same user, created, rotated and removed in one place (onboarding, docs/tenancy.md)."""

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from shared.db import DependencyRefused
from shared.kafka_security import KafkaSecurity, check_access
from shared.topics import InvalidTenantId, validate_firm_id

from .settings import GatewaySettings

log = logging.getLogger(__name__)

FIRM_USER_PREFIX = "firm-"  # a firm's Kafka user is `firm-<firm_id>`


class AuthUnavailable(Exception):
    """The broker could not be asked: the caller gets 503, not 401."""


def firm_of_user(user: str) -> str | None:
    """The firm id of a firm's Kafka user; None for any other user (services, providers, admins)."""
    if not user.startswith(FIRM_USER_PREFIX):
        return None
    try:
        return validate_firm_id(user.removeprefix(FIRM_USER_PREFIX))
    except InvalidTenantId:
        return None


# Asks the broker; raises DependencyRefused when it refuses the credentials.
Probe = Callable[[str, str], Awaitable[None]]


class FirmAuthenticator:
    def __init__(self, probe: Probe, *, trust_s: float, refusal_s: float) -> None:
        self._probe = probe
        self._trust_s = trust_s
        self._refusal_s = refusal_s
        # sha256(user, password) -> (accepted, until): the password itself is never kept.
        self._seen: dict[str, tuple[bool, float]] = {}

    async def firm(self, user: str, password: str) -> str | None:
        """The firm signed in, or None if the credentials are not a firm's or the broker refused them."""
        firm_id = firm_of_user(user)
        if firm_id is None or not password:
            return None
        digest = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        if (seen := self._seen.get(digest)) is not None and seen[1] > now:
            return firm_id if seen[0] else None
        try:
            await self._probe(user, password)
            accepted = True
        except DependencyRefused:
            accepted = False
            log.warning("sign-in refused for firm %s", firm_id)
        except Exception as error:
            log.warning("cannot check a sign-in: Kafka unavailable (%s)", type(error).__name__)
            raise AuthUnavailable from None
        self._forget_expired(now)
        self._seen[digest] = (accepted, now + (self._trust_s if accepted else self._refusal_s))
        return firm_id if accepted else None

    def _forget_expired(self, now: float) -> None:
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v[1] > now}


def kafka_probe(settings: GatewaySettings) -> Probe:
    bootstrap = settings.gateway_auth_bootstrap or settings.kafka_bootstrap

    async def probe(user: str, password: str) -> None:
        security = KafkaSecurity(
            protocol=settings.gateway_auth_protocol,
            mechanism=settings.gateway_auth_mechanism,
            username=user,
            password=SecretStr(password),
            ca_file=settings.gateway_auth_ca_file or settings.kafka_ssl_ca_file,
        )
        await check_access(bootstrap, security, client_id="trailblazer-gateway-auth", timeout_s=5.0)

    return probe
