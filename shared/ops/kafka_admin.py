"""The Kafka admin calls onboarding needs and aiokafka's admin client lacks: ACLs (CreateAcls,
DeleteAcls v1) and SCRAM credentials (AlterUserScramCredentials v0, KIP-554), on aiokafka's own
protocol classes; topics through its admin client. Used as the super user (shared.acls.SUPER_USER).

The SCRAM salted password is computed here (PBKDF2-HMAC, RFC 5802's Hi), so the password itself
never travels to the broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from shared.acls import Acl, Operation, Pattern, Resource
from shared.topics import TopicSpec

# Kafka's wire codes (org.apache.kafka.common.acl / resource).
_RESOURCE = {Resource.TOPIC: 2, Resource.GROUP: 3}
_RESOURCE_NAMES = {code: resource for resource, code in _RESOURCE.items()}
_PATTERN = {Pattern.LITERAL: 3, Pattern.PREFIXED: 4}
_PATTERN_NAMES = {code: pattern for pattern, code in _PATTERN.items()}
_OPERATION = {Operation.READ: 3, Operation.WRITE: 4, Operation.DESCRIBE: 8}
_OPERATION_NAMES = {code: operation for operation, code in _OPERATION.items()}
_ANY = 1
_ALLOW = 3
_SCRAM_MECHANISM = {"SCRAM-SHA-256": (1, "sha256", 32), "SCRAM-SHA-512": (2, "sha512", 64)}
SCRAM_ITERATIONS = 8192
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_RESOURCE_NOT_FOUND = 91  # deleting SCRAM credentials a user does not have
# Users and ACLs reach a broker through the metadata log, a moment after the controller
# answered: how long to wait for them to take effect there, and how often to look.
EFFECT_TIMEOUT_S = 30.0
_EFFECT_POLL_S = 0.2


class AdminError(RuntimeError):
    """The broker refused an admin request; the message names the error, never a password."""


# ---- AlterUserScramCredentials (api key 51), flexible from v0 ---------------------------------


class _AlterScramResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramRequest_v0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, deletions: list[tuple[Any, ...]], upsertions: list[tuple[Any, ...]]) -> None:
        self._deletions = deletions
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterScramRequest_v0]) -> _AlterScramRequest_v0:
        return request_struct_class(self._deletions, self._upsertions, {})


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, filters: list[tuple[Any, ...]]) -> None:
        self._filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self._filters)


class _DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 29

    def __init__(self, principal: str | None) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(_ANY, None, _ANY, self._principal, None, _ANY, _ANY)


def salted_password(password: str, salt: bytes, mechanism: str, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """RFC 5802 Hi(): what the broker stores (with salt and iterations), never the password."""
    _, digest, length = _SCRAM_MECHANISM[mechanism]
    return hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, iterations, length)


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class PrincipalAcl:
    principal: str
    acl: Acl


class KafkaAdmin:
    """An admin connection: `async with KafkaAdmin(bootstrap, **client_options) as admin:`."""

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 15000, **client_options: Any) -> None:
        self._client = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, **client_options
        )
        self._options = client_options

    async def __aenter__(self) -> KafkaAdmin:
        await self._client.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.close()

    async def _send(self, request: Request[Any]) -> Any:
        client: Any = self._client._client  # aiokafka's own client: negotiated versions, SASL, TLS
        return await client.send(client.get_random_node(), request)

    # ---- users -------------------------------------------------------------------------------

    async def upsert_scram_user(self, user: str, password: str, mechanisms: Sequence[str] = ("SCRAM-SHA-512",)) -> None:
        for mechanism in mechanisms:  # one request each: a request may alter a user only once
            salt = secrets.token_bytes(32)
            code = _SCRAM_MECHANISM[mechanism][0]
            upsertion: tuple[Any, ...] = (
                user,
                code,
                SCRAM_ITERATIONS,
                salt,
                salted_password(password, salt, mechanism),
                {},
            )
            response = await self._send(_AlterScram([], [upsertion]))
            _raise_errors("setting the SCRAM credentials", [(r[0], r[1], r[2]) for r in response.results])

    async def delete_scram_user(self, user: str, mechanisms: Sequence[str] = tuple(_SCRAM_MECHANISM)) -> None:
        """Remove the user's credentials (every mechanism); a user without them is fine."""
        for mechanism in mechanisms:
            response = await self._send(_AlterScram([(user, _SCRAM_MECHANISM[mechanism][0], {})], []))
            results = [(r[0], r[1], r[2]) for r in response.results if r[1] != _RESOURCE_NOT_FOUND]
            _raise_errors("deleting the SCRAM credentials", results)

    async def wait_for_sign_in(self, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
        """Until the broker accepts the user's new credentials (AdminError after EFFECT_TIMEOUT_S)."""
        client: Any = self._client._client
        host, port, _ = client.hosts[0]
        options = self._options | {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
        deadline = time.monotonic() + EFFECT_TIMEOUT_S
        while True:
            try:
                connection = await create_conn(host, port, client_id="trailblazer-onboarding", **options)
            except (SaslAuthenticationFailed, KafkaError, OSError):
                if time.monotonic() > deadline:
                    waited = f"{EFFECT_TIMEOUT_S:.0f} s"
                    raise AdminError(f"the broker still refuses {user}'s new credentials after {waited}") from None
                await asyncio.sleep(_EFFECT_POLL_S)
                continue
            connection.close()
            return

    async def wait_for_acls(self, principal: str, acls: Sequence[Acl]) -> None:
        """Until the broker's authorizer holds exactly these ACLs of the principal."""
        deadline = time.monotonic() + EFFECT_TIMEOUT_S
        while {found.acl for found in await self.describe_acls(principal)} != set(acls):
            if time.monotonic() > deadline:
                raise AdminError(f"the ACLs of {principal} did not take effect within {EFFECT_TIMEOUT_S:.0f} s")
            await asyncio.sleep(_EFFECT_POLL_S)

    # ---- ACLs -------------------------------------------------------------------------------

    async def create_acls(self, principal: str, acls: Sequence[Acl]) -> None:
        """ALLOW each ACL for the principal from any host; an ACL already there is no error."""
        if not acls:
            return
        creations = [
            (_RESOURCE[a.resource], a.name, _PATTERN[a.pattern], principal, "*", _OPERATION[a.operation], _ALLOW)
            for a in acls
        ]
        response = await self._send(_CreateAcls(creations))
        _raise_errors("creating ACLs", [(principal, code, message) for code, message in response.creation_responses])

    async def sync_acls(self, principal: str, acls: Sequence[Acl]) -> None:
        """Make the principal's ACLs exactly `acls`: create the missing ones, delete the others
        (one at a time, so access it keeps is never absent in between)."""
        wanted = set(acls)
        present = {found.acl for found in await self.describe_acls(principal)}
        await self.create_acls(principal, sorted(wanted - present))
        stale = sorted(present - wanted)
        if stale:
            filters = [
                (_RESOURCE[a.resource], a.name, _PATTERN[a.pattern], principal, "*", _OPERATION[a.operation], _ALLOW)
                for a in stale
            ]
            response = await self._send(_DeleteAcls(filters))
            for code, message, _matching in response.filter_responses:
                _raise_errors("deleting ACLs", [(principal, code, message)])

    async def delete_acls(self, principal: str) -> int:
        """Remove every ACL of the principal; returns how many there were."""
        response = await self._send(_DeleteAcls([(_ANY, None, _ANY, principal, None, _ANY, _ANY)]))
        removed = 0
        for code, message, matching in response.filter_responses:
            _raise_errors("deleting ACLs", [(principal, code, message)])
            removed += len(matching)
        return removed

    async def describe_acls(self, principal: str | None = None) -> list[PrincipalAcl]:
        """ALLOW ACLs of the kinds shared.acls knows (of one principal, or all)."""
        response = await self._send(_DescribeAcls(principal))
        _raise_errors("describing ACLs", [(principal or "*", response.error_code, response.error_message)])
        found = []
        for resource_type, name, pattern, rules in response.resources:
            for who, _host, operation, permission in rules:
                known = resource_type in _RESOURCE_NAMES and pattern in _PATTERN_NAMES and operation in _OPERATION_NAMES
                if known and permission == _ALLOW:
                    acl = Acl(
                        _RESOURCE_NAMES[resource_type], name, _PATTERN_NAMES[pattern], _OPERATION_NAMES[operation]
                    )
                    found.append(PrincipalAcl(who, acl))
        return found

    # ---- topics -----------------------------------------------------------------------------

    async def list_topics(self) -> list[str]:
        return list(await self._client.list_topics())

    async def create_topics(self, specs: Sequence[TopicSpec], replication: int = 1) -> list[str]:
        """Create the missing topics; returns the names created (existing ones are left alone)."""
        existing = set(await self._client.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await self._client.create_topics(
                [NewTopic(s.name, s.partitions, replication, topic_configs=dict(s.config)) for s in missing]
            )
            errors = [(e[0], e[1], e[2] if len(e) > 2 else None) for e in response.topic_errors]
            _raise_errors("creating topics", [e for e in errors if e[1] != _TOPIC_ALREADY_EXISTS])
        return [s.name for s in missing]

    async def delete_topics(self, names: Sequence[str]) -> list[str]:
        existing = set(await self._client.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            response = await self._client.delete_topics(doomed)
            errors = [(e[0], e[1], None) for e in response.topic_error_codes]
            _raise_errors("deleting topics", [e for e in errors if e[1] != _UNKNOWN_TOPIC])
        return doomed


def _raise_errors(what: str, results: Sequence[tuple[str | None, int, str | None]]) -> None:
    failures = [
        f"{name}: {for_code(code).__name__}{f' ({message})' if message else ''}"
        for name, code, message in results
        if code != 0
    ]
    if failures:
        raise AdminError(f"{what} failed: " + "; ".join(failures))
