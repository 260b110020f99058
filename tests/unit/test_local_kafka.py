"""The local broker's configuration enforces tenancy (deploy/local/kafka.py, kafka_access.py),
checked without starting it; tests/integration/test_tenancy.py tries it on the running broker."""

import stat
from pathlib import Path

from deploy.local import kafka_access
from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, SERVICES, StackConfig
from deploy.local.kafka import _server_properties
from shared.acls import SUPER_USER, service_user, tenant_user
from shared.topics import Kind


def test_no_listener_lets_an_anonymous_client_in_and_the_authorizer_is_on(tmp_path: Path) -> None:
    cfg = StackConfig.for_tests(tmp_path)
    properties = _server_properties(cfg)
    protocols = dict(pair.split(":") for pair in str(properties["listener.security.protocol.map"]).split(","))
    # PLAINTEXT would make every client User:ANONYMOUS; the controller's listener authenticates too.
    assert "PLAINTEXT" not in protocols.values()
    assert protocols["CONTROLLER"] == "SASL_PLAINTEXT" and protocols["CLIENT"] == "SASL_PLAINTEXT"
    assert properties["inter.broker.listener.name"] == "CLIENT"
    assert properties["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert properties["super.users"] == f"User:{SUPER_USER}"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    # The controller accepts the admin alone, with PLAIN from this configuration.
    assert properties["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    jaas = str(properties["listener.name.controller.plain.sasl.jaas.config"])
    assert jaas.count("user_") == 1 and f'user_{SUPER_USER}="' in jaas
    assert f"127.0.0.1:{cfg.kafka_port}" in str(properties["listeners"])


def test_each_stack_has_its_own_passwords_kept_private(tmp_path: Path) -> None:
    first, second = StackConfig.for_tests(tmp_path / "a"), StackConfig.for_tests(tmp_path / "b")
    passwords = kafka_access.passwords(first)
    expected = {SUPER_USER, *(service_user(s) for s in SERVICES)}
    expected |= {tenant_user(Kind.FIRM, f) for f in LOCAL_FIRMS} | {
        tenant_user(Kind.PROVIDER, p) for p in LOCAL_PROVIDERS
    }
    assert set(passwords) == expected
    assert len(set(passwords.values())) == len(passwords)  # every user its own
    assert kafka_access.passwords(first) == passwords  # kept across starts
    assert set(kafka_access.passwords(second).values()).isdisjoint(passwords.values())
    mode = stat.S_IMODE(kafka_access.users_file(first).stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_a_service_process_signs_in_as_its_own_user(tmp_path: Path) -> None:
    cfg = StackConfig.for_tests(tmp_path)
    env = kafka_access.kafka_env(cfg, service_user("intake"))
    assert env["TRAILBLAZER_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["TRAILBLAZER_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["TRAILBLAZER_KAFKA_SASL_USERNAME"] == "trailblazer-intake"
    assert env["TRAILBLAZER_KAFKA_SASL_PASSWORD"] == kafka_access.password(cfg, "trailblazer-intake")
    assert env["TRAILBLAZER_KAFKA_BOOTSTRAP"] == cfg.kafka_bootstrap
