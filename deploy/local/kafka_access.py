"""Who connects to the local Kafka, and with what: the stack's users, their passwords and ACLs.

The broker runs KRaft's StandardAuthorizer (deploy/local/kafka.py) and every client listener
authenticates, so each client of the stack signs in as someone:

- `admin` (shared.acls.SUPER_USER), the super user of the stack's own tooling: topic creation,
  users and ACLs, `./dev ops`, the demo's and the tests' readers of internal topics. The broker's
  own configuration knows it (PLAIN), so it exists from the broker's first second on: the
  readiness probe and the first step of every start sign in with PLAIN and give it SCRAM
  credentials, with which every other admin client signs in.
- one SCRAM-SHA-512 user per service (`trailblazer-<service>`), with exactly the ACLs
  `shared.acls.service_acls` computes;
- one SCRAM-SHA-512 user per local firm and provider (`firm-<id>`, `provider-<id>`), onboarded by
  the same code an operator runs in production (`shared.ops.tenants.onboard`).

Passwords are generated for each stack and kept in `<state>/conf/kafka/users.json` (mode 0600),
never in the repository; the broker's configuration next to it holds the admin's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, SERVICES, StackConfig
from deploy.local.probes import quiet_aiokafka, run_async
from shared.acls import SUPER_USER, principal, service_acls, service_user, tenant_user
from shared.kafka_security import KafkaSecurity
from shared.ops.kafka_admin import KafkaAdmin, new_password
from shared.ops.tenants import onboard
from shared.settings import KafkaSaslMechanism, KafkaSecurityProtocol
from shared.topics import Kind, tenant_of

log = logging.getLogger(__name__)

MECHANISM: KafkaSaslMechanism = "SCRAM-SHA-512"
# The transport-security tests exercise every mechanism the listeners offer with the admin.
ADMIN_SCRAM_MECHANISMS: tuple[KafkaSaslMechanism, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")
PROTOCOL: KafkaSecurityProtocol = "SASL_PLAINTEXT"  # the client listener on the stack's Kafka port (loopback only)


def users_file(cfg: StackConfig) -> Path:
    return cfg.conf_dir / "kafka" / "users.json"


def stack_users() -> list[str]:
    """Every user the stack creates: the admin, the services, the local firms and providers."""
    return [
        SUPER_USER,
        *(service_user(service) for service in SERVICES),
        *(tenant_user(Kind.FIRM, firm_id) for firm_id in LOCAL_FIRMS),
        *(tenant_user(Kind.PROVIDER, provider_id) for provider_id in LOCAL_PROVIDERS),
    ]


def passwords(cfg: StackConfig, also: Sequence[str] = ()) -> dict[str, str]:
    """The stack's users (and `also`) with their passwords; a user without one gets a new random
    password, kept."""
    path = users_file(cfg)
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user for user in (*stack_users(), *also) if user not in known]
    if missing:
        known |= {user: new_password() for user in missing}
        _store(cfg, known)
    return known


def _store(cfg: StackConfig, known: dict[str, str]) -> None:
    path = users_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    # Created 0600 before anything is written: the passwords are never readable by others.
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(known, out, indent=2, sort_keys=True)
    partial.replace(path)


def password(cfg: StackConfig, user: str = SUPER_USER) -> str:
    try:
        return passwords(cfg)[user]
    except KeyError:
        raise KeyError(f"{user!r} is not a user of the local stack ({users_file(cfg)})") from None


def security(cfg: StackConfig, user: str = SUPER_USER) -> KafkaSecurity:
    """How `user` signs in to the stack's client listener."""
    return KafkaSecurity(PROTOCOL, MECHANISM, user, SecretStr(password(cfg, user)))


def bootstrap_options(cfg: StackConfig) -> dict[str, Any]:
    """The admin with PLAIN, which needs nothing in the metadata log: for the readiness probe and
    for giving the admin its SCRAM credentials. (aiokafka warns about PLAIN without TLS: run it
    quietly; this listener is on loopback.)"""
    return KafkaSecurity(PROTOCOL, "PLAIN", SUPER_USER, SecretStr(password(cfg))).client_options()


def client_options(cfg: StackConfig, user: str = SUPER_USER) -> dict[str, Any]:
    """aiokafka keyword arguments (producer, consumer, admin client) to connect as `user`."""
    return security(cfg, user).client_options()


def tenant_options(cfg: StackConfig, kind: Kind | str, tenant_id: str) -> dict[str, Any]:
    """A local firm's or provider's client, as its own integration would connect."""
    return client_options(cfg, tenant_user(kind, tenant_id))


def owner_options(cfg: StackConfig, topic: str) -> dict[str, Any]:
    """A tenant's topic as the tenant itself would write it; any other as the stack's tooling."""
    tenant = tenant_of(topic)
    return client_options(cfg) if tenant is None else tenant_options(cfg, tenant.kind, tenant.id)


def settings_fields(cfg: StackConfig, user: str = SUPER_USER) -> dict[str, str]:
    """`kafka_env` as ServiceSettings' keyword arguments: `ServiceSettings(**settings_fields(cfg))`."""
    return {name.removeprefix("TRAILBLAZER_").lower(): value for name, value in kafka_env(cfg, user).items()}


def kafka_env(cfg: StackConfig, user: str = SUPER_USER) -> dict[str, str]:
    """The TRAILBLAZER_KAFKA_* variables of a process that connects as `user`."""
    chosen = security(cfg, user)
    assert chosen.mechanism is not None and chosen.password is not None
    return {
        "TRAILBLAZER_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "TRAILBLAZER_KAFKA_SECURITY_PROTOCOL": chosen.protocol,
        "TRAILBLAZER_KAFKA_SASL_MECHANISM": chosen.mechanism,
        "TRAILBLAZER_KAFKA_SASL_USERNAME": user,
        "TRAILBLAZER_KAFKA_SASL_PASSWORD": chosen.password.get_secret_value(),
    }


def endpoint(kafka: str | StackConfig, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Bootstrap and client options: a stack's Kafka as its super user (unless `options` say
    otherwise), or a bootstrap with the options given."""
    if isinstance(kafka, StackConfig):
        return kafka.kafka_bootstrap, client_options(kafka) if options is None else options
    return kafka, options or {}


def admin(cfg: StackConfig, **options: Any) -> KafkaAdmin:
    """An admin connection to the stack's Kafka as the super user: `async with admin(cfg) as a:`."""
    return KafkaAdmin(cfg.kafka_bootstrap, **client_options(cfg), **options)


def grant_stack_access(cfg: StackConfig) -> None:
    """Create every user of the stack and give it exactly its ACLs (again on every start: a
    changed ACL table takes effect, and an ACL no longer in it is removed)."""
    run_async(_grant(cfg))


async def _grant(cfg: StackConfig) -> None:
    known = passwords(cfg)
    with quiet_aiokafka():
        async with KafkaAdmin(cfg.kafka_bootstrap, **bootstrap_options(cfg)) as kafka:
            await kafka.upsert_scram_user(SUPER_USER, known[SUPER_USER], ADMIN_SCRAM_MECHANISMS)
    async with admin(cfg) as kafka:
        for service in SERVICES:
            user = service_user(service)
            await kafka.upsert_scram_user(user, known[user], (MECHANISM,))
            await kafka.sync_acls(principal(user), service_acls(service))
        tenants: list[tuple[Kind, str]] = [(Kind.FIRM, f) for f in LOCAL_FIRMS]
        tenants += [(Kind.PROVIDER, p) for p in LOCAL_PROVIDERS]
        for kind, tenant_id in tenants:
            await onboard(kafka, kind, tenant_id, known[tenant_user(kind, tenant_id)])
    log.info(
        "kafka users: %s, %d services, %d firms, %d providers (passwords in %s)",
        SUPER_USER,
        len(SERVICES),
        len(LOCAL_FIRMS),
        len(LOCAL_PROVIDERS),
        users_file(cfg),
    )


def onboard_tenant(cfg: StackConfig, kind: Kind | str, tenant_id: str, secret: str | None = None) -> dict[str, Any]:
    """Onboard a firm or provider beyond the local ones (a test's, a developer's) as an operator
    would, its password (`secret`, or the one it has, or a new one) kept with the stack's; returns
    its client options."""
    user = tenant_user(kind, tenant_id)
    if secret is not None:
        _store(cfg, passwords(cfg) | {user: secret})
    secret = passwords(cfg, also=(user,))[user]

    async def onboarding() -> None:
        async with admin(cfg) as kafka:
            await onboard(kafka, kind, tenant_id, secret)

    run_async(onboarding())
    return client_options(cfg, user)


def jaas_plain_admin(cfg: StackConfig) -> str:
    """The PLAIN login module for the broker's own listeners: the broker signs in as the admin
    (`username`/`password`) and accepts the admin (`user_admin`), nobody else."""
    secret = password(cfg)
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{SUPER_USER}" password="{secret}" user_{SUPER_USER}="{secret}";'
    )
