"""Onboard and offboard relocation firms and catalog providers (docs/tenancy.md).

    python -m shared.ops.tenants onboard firm acme-relocation [--password-file F]
    python -m shared.ops.tenants onboard provider coaches-united
    python -m shared.ops.tenants offboard firm acme-relocation [--delete-topics]
    python -m shared.ops.tenants acls [firm acme-relocation]
    python -m shared.ops.tenants topics firm acme-relocation   # topics only (a broker without ACLs)
    python -m shared.ops.tenants manifests firm acme-relocation | kubectl apply -n trailblazer -f -

Onboarding creates the tenant's SCRAM-SHA-512 user (a new random password unless one is given),
its topics with their partitions, and its prefixed ACLs (shared.acls), then prints what the firm
needs to connect: bootstrap, mechanism, user, password, the topics it writes and reads, its
consumer-group prefix. Running it again is safe; it sets a new password unless given one.
Offboarding removes the user's credentials and ACLs at once (its open connections are refused
from their next request); the topics stay for their retention unless `--delete-topics`.

Runs as the Kafka super user: `TRAILBLAZER_KAFKA_*` (docs/operations.md, "Transport security");
`--bootstrap` overrides the bootstrap. On the local stack, `./dev ops tenants ...` sets them.
`manifests` needs no broker: it prints the tenant's Strimzi KafkaUser (the same ACLs) and
KafkaTopics, for a cluster whose users and topics Strimzi's operators manage (deploy/k8s/tenants/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from shared.acls import Acl, Pattern, principal, tenant_acls, tenant_user
from shared.kafka_security import KafkaSecurity
from shared.ops.kafka_admin import AdminError, KafkaAdmin, new_password
from shared.settings import ConfigurationError, ServiceSettings
from shared.topics import (
    FIRM_TOPICS,
    PROVIDER_TOPICS,
    Direction,
    InvalidTenantId,
    Kind,
    TenantTopicSpec,
    firm_topic,
    provider_topic,
    tenant_prefix,
    tenant_topic_specs,
)

STRIMZI_CLUSTER = "trailblazer"
_STRIMZI_PATTERN = {Pattern.LITERAL: "literal", Pattern.PREFIXED: "prefix"}

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Onboarded:
    kind: Kind
    tenant_id: str
    user: str
    password: str
    created_topics: list[str]

    def writes(self) -> list[str]:
        return _topics(self.kind, self.tenant_id, Direction.INBOUND)

    def reads(self) -> list[str]:
        return _topics(self.kind, self.tenant_id, Direction.OUTBOUND)


def _specs(kind: Kind) -> tuple[TenantTopicSpec, ...]:
    return FIRM_TOPICS if kind is Kind.FIRM else PROVIDER_TOPICS


def _topics(kind: Kind, tenant_id: str, direction: Direction) -> list[str]:
    name = firm_topic if kind is Kind.FIRM else provider_topic
    return [name(tenant_id, s.event) for s in _specs(kind) if s.direction is direction]


async def onboard(admin: KafkaAdmin, kind: Kind | str, tenant_id: str, password: str | None = None) -> Onboarded:
    """Topics, then ACLs, then the credentials: a tenant who can log in finds everything there.
    Returns once the broker has taken all of it into effect: the sheet it prints then works."""
    kind = Kind(kind)
    user = tenant_user(kind, tenant_id)
    created = await admin.create_topics(tenant_topic_specs(kind, tenant_id))
    acls = tenant_acls(kind, tenant_id)
    await admin.sync_acls(principal(user), acls)
    password = password or new_password()
    await admin.upsert_scram_user(user, password, (MECHANISM,))
    await admin.wait_for_acls(principal(user), acls)
    await admin.wait_for_sign_in(user, password, MECHANISM)
    return Onboarded(kind, tenant_id, user, password, created)


async def offboard(admin: KafkaAdmin, kind: Kind | str, tenant_id: str, *, delete_topics: bool) -> list[str]:
    """Credentials first (no new logins), then the ACLs (no more access on open connections);
    returns the topics deleted."""
    kind = Kind(kind)
    user = tenant_user(kind, tenant_id)
    await admin.delete_scram_user(user)
    await admin.delete_acls(principal(user))
    await admin.wait_for_acls(principal(user), [])
    if not delete_topics:
        return []
    return await admin.delete_topics([s.name for s in tenant_topic_specs(kind, tenant_id)])


def connection_sheet(onboarded: Onboarded, bootstrap: str, protocol: str) -> str:
    """What the tenant's integrator needs, and nothing of anyone else's."""
    prefix = tenant_prefix(onboarded.kind, onboarded.tenant_id)
    lines = [
        f"{onboarded.kind} {onboarded.tenant_id} is onboarded.",
        "",
        f"  bootstrap          {bootstrap}",
        f"  security protocol  {protocol}",
        f"  SASL mechanism     {MECHANISM}",
        f"  user               {onboarded.user}",
        f"  password           {onboarded.password}   (shown once: hand it over securely)",
        f"  consumer groups    any name starting with {prefix}",
        "",
        "  you write (key every record by its assignment id; catalogs by coach / job lead id):",
        *(f"    {t}" for t in onboarded.writes()),
        "  you read:",
        *(f"    {t}" for t in onboarded.reads()),
        "",
        "  Contracts: docs/events.md and docs/schemas/. Every other topic is closed to you.",
    ]
    if onboarded.created_topics:
        lines.append(f"  ({len(onboarded.created_topics)} topics created)")
    return "\n".join(lines)


def offboarding_sheet(kind: Kind, tenant_id: str, deleted: list[str]) -> str:
    user = tenant_user(kind, tenant_id)
    topics = [s.name for s in tenant_topic_specs(kind, tenant_id)]
    lines = [
        f"{kind} {tenant_id} is offboarded: user {user} can no longer log in, its ACLs are removed.",
    ]
    if deleted:
        lines.append(f"  deleted {len(deleted)} topics with every record on them.")
    else:
        lines += [
            "  its topics stay until their retention removes the records (assignment requests: 7 days;",
            "  others: the broker's retention; compacted catalogs: until deleted). Delete them now with",
            "  --delete-topics once nothing is left to read:",
            *(f"    {t}" for t in topics),
        ]
    if kind is Kind.FIRM:
        lines += [
            "  Trailblazer's databases keep the firm's assignments and the duty-of-information record",
            "  (the proof of what each stakeholder was told); remove its webhook from",
            "  TRAILBLAZER_FIRM_WEBHOOKS.",
        ]
    else:
        lines.append("  The provider's coaches and job leads stay in matching's catalog until tombstoned.")
    return "\n".join(lines)


def strimzi_acls(acls: Sequence[Acl]) -> list[dict[str, Any]]:
    """A KafkaUser's `spec.authorization.acls`: one rule per resource, its operations in order."""
    rules: dict[tuple[str, str, str], list[str]] = {}
    for acl in sorted(acls):
        key = (str(acl.resource), acl.name, _STRIMZI_PATTERN[acl.pattern])
        rules.setdefault(key, []).append(str(acl.operation))
    return [
        {"resource": {"type": kind, "name": name, "patternType": pattern}, "operations": operations}
        for (kind, name, pattern), operations in rules.items()
    ]


def manifests(kind: Kind | str, tenant_id: str, *, replicas: int = 3) -> list[dict[str, Any]]:
    """The tenant on Strimzi: its KafkaUser (SCRAM-SHA-512, the same ACLs as `onboard` grants;
    the User Operator keeps its password in a Secret of the same name) and its KafkaTopics."""
    kind = Kind(kind)
    labels = {"strimzi.io/cluster": STRIMZI_CLUSTER, "app.kubernetes.io/part-of": "trailblazer"}
    tenant = {f"trailblazer.io/{kind}": tenant_id}
    user: dict[str, Any] = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": tenant_user(kind, tenant_id), "labels": labels | tenant},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": strimzi_acls(tenant_acls(kind, tenant_id))},
        },
    }
    topics = [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": spec.name, "labels": labels | tenant},
            "spec": {
                "topicName": spec.name,
                "partitions": spec.partitions,
                "replicas": replicas,
                **({"config": dict(spec.config)} if spec.config else {}),
            },
        }
        for spec in tenant_topic_specs(kind, tenant_id)
    ]
    return [user, *topics]


def render_manifests(kind: Kind | str, tenant_id: str) -> str:
    """The manifests as YAML documents, for `kubectl apply -f -`."""
    header = (
        f"# {Kind(kind)} {tenant_id} on Strimzi, rendered by\n"
        f"#   python -m shared.ops.tenants manifests {Kind(kind)} {tenant_id}\n"
        "# (docs/tenancy.md). Its password: the Secret of the KafkaUser's name, key `password`.\n"
    )
    return header + "".join("---\n" + "\n".join(_yaml(m)) + "\n" for m in manifests(kind, tenant_id))


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")


def _yaml(value: Any, indent: str = "") -> list[str]:
    """Block YAML for what `manifests` builds (mappings, lists, strings, integers); a string that
    could read as anything else is quoted, and lists of plain scalars stay on one line."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and not _flow(item):
                lines.append(f"{indent}{key}:")
                lines += _yaml(item, indent + "  ")
            else:
                lines.append(f"{indent}{key}: {_scalar(item)}")
    else:
        for item in value:
            nested = _yaml(item, indent + "  ")
            lines.append(f"{indent}- {nested[0].lstrip()}")
            lines += nested[1:]
    return lines


def _flow(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = _PLAIN.match(text) and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off")
    return text if plain else json.dumps(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.ops.tenants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: TRAILBLAZER_KAFKA_BOOTSTRAP)")
    commands = parser.add_subparsers(dest="command", required=True)
    on = commands.add_parser("onboard", help="create a firm's or provider's user, topics and ACLs")
    on.add_argument("kind", choices=[k.value for k in Kind])
    on.add_argument("tenant_id")
    on.add_argument("--password-file", type=Path, help="read the password from this file instead of generating one")
    off = commands.add_parser("offboard", help="remove a firm's or provider's access")
    off.add_argument("kind", choices=[k.value for k in Kind])
    off.add_argument("tenant_id")
    off.add_argument("--delete-topics", action="store_true", help="also delete its topics and their records")
    only = commands.add_parser("topics", help="only create a tenant's topics (for a broker without an authorizer)")
    only.add_argument("kind", choices=[k.value for k in Kind])
    only.add_argument("tenant_id")
    k8s = commands.add_parser("manifests", help="print a firm's or provider's Strimzi KafkaUser and KafkaTopics")
    k8s.add_argument("kind", choices=[k.value for k in Kind])
    k8s.add_argument("tenant_id")
    show = commands.add_parser("acls", help="the ACLs a tenant gets (all tenants' ACLs on the broker if none named)")
    show.add_argument("kind", nargs="?", choices=[k.value for k in Kind])
    show.add_argument("tenant_id", nargs="?")
    return parser


async def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ServiceSettings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    try:
        if args.tenant_id is not None:
            tenant_user(args.kind, args.tenant_id)
        security = KafkaSecurity.from_settings(settings)
        options = security.client_options()
    except (ConfigurationError, InvalidTenantId) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "manifests":
        print(render_manifests(args.kind, args.tenant_id), end="")
        return 0
    if args.command == "acls" and args.tenant_id is not None:
        for acl in tenant_acls(args.kind, args.tenant_id):
            print(f"{acl.resource:<6} {acl.pattern:<9} {acl.operation:<9} {acl.name}")
        return 0
    try:
        async with KafkaAdmin(bootstrap, **options) as admin:
            if args.command == "onboard":
                password = args.password_file.read_text().strip() if args.password_file else None
                onboarded = await onboard(admin, args.kind, args.tenant_id, password)
                print(connection_sheet(onboarded, bootstrap, security.protocol))
            elif args.command == "topics":
                created = await admin.create_topics(tenant_topic_specs(args.kind, args.tenant_id))
                print(f"{len(created)} topics created: {', '.join(created) or '-'}")
            elif args.command == "offboard":
                deleted = await offboard(admin, args.kind, args.tenant_id, delete_topics=args.delete_topics)
                print(offboarding_sheet(Kind(args.kind), args.tenant_id, deleted))
            else:
                for found in await admin.describe_acls():
                    acl = found.acl
                    print(f"{found.principal:<32} {acl.resource:<6} {acl.pattern:<9} {acl.operation:<9} {acl.name}")
    except AdminError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KafkaError as error:  # not reached, or refused before any request
        print(
            f"error: Kafka at {bootstrap} ({security.describe()}) cannot be used: {type(error).__name__}. Onboarding "
            "needs a super user: TRAILBLAZER_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD "
            "(on the local stack, `./dev ops tenants ...` sets them)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
