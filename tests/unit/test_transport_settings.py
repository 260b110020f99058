"""Transport-security settings, offline: what each combination maps to (FastStream's security
objects, aiokafka's arguments, aiosmtplib's), which combinations are refused at start, and that no
password ever leaves its SecretStr in a message. The real connections are in
tests/integration/test_transport_security.py."""

import logging
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.sdk.trace import TracerProvider

from deploy.local.tls import ensure_certificates, openssl_available
from services.intake.app import create_service
from services.notifications.channels import smtp_options
from services.notifications.settings import NotificationSettings
from shared import runtime
from shared.kafka_security import KafkaSecurity
from shared.messaging import create_broker
from shared.settings import ConfigurationError, ServiceSettings

PASSWORD = "unit-secret-3e9a51"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings come from the environment, as in a pod: set TRAILBLAZER_* variables on this."""
    for name in [n for n in os.environ if n.startswith("TRAILBLAZER_")]:
        monkeypatch.delenv(name)
    yield monkeypatch


def kafka_security() -> KafkaSecurity:
    return KafkaSecurity.from_settings(ServiceSettings())


def sasl(env: pytest.MonkeyPatch, protocol: str = "SASL_PLAINTEXT", mechanism: str = "SCRAM-SHA-512") -> None:
    env.setenv("TRAILBLAZER_KAFKA_SECURITY_PROTOCOL", protocol)
    env.setenv("TRAILBLAZER_KAFKA_SASL_MECHANISM", mechanism)
    env.setenv("TRAILBLAZER_KAFKA_SASL_USERNAME", "trailblazer-intake")
    env.setenv("TRAILBLAZER_KAFKA_SASL_PASSWORD", PASSWORD)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not openssl_available():
        pytest.skip("no openssl: no CA file to load")
    return ensure_certificates(tmp_path_factory.mktemp("tls")).ca_cert


# ---- Kafka ---------------------------------------------------------------------------------


def test_the_default_is_plaintext_and_changes_nothing(env: pytest.MonkeyPatch) -> None:
    security = kafka_security()
    assert security.protocol == "PLAINTEXT"
    assert security.faststream() is None
    assert security.client_options() == {}
    assert security.describe() == "PLAINTEXT"
    broker = create_broker(ServiceSettings(), "unit", TracerProvider())
    # The broker's client arguments hold no security entry at all: aiokafka's own defaults.
    security_arguments = {"security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_password"}
    assert not security_arguments & set(broker._connection_kwargs)


@pytest.mark.parametrize(
    ("mechanism", "kind"), [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)]
)
def test_each_sasl_mechanism_maps_onto_its_faststream_security(
    env: pytest.MonkeyPatch, mechanism: str, kind: type[BaseSecurity]
) -> None:
    sasl(env, mechanism=mechanism)
    security = kafka_security().faststream()
    assert type(security) is kind
    assert parse_security(security) == {
        "security_protocol": "SASL_PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "trailblazer-intake",
        "sasl_plain_password": PASSWORD,
    }
    broker = create_broker(ServiceSettings(), "unit", TracerProvider())
    assert broker._connection_kwargs["sasl_mechanism"] == mechanism


def test_sasl_ssl_verifies_the_broker_against_the_ca_file(env: pytest.MonkeyPatch, ca_file: Path) -> None:
    sasl(env, "SASL_SSL")
    env.setenv("TRAILBLAZER_KAFKA_SSL_CA_FILE", str(ca_file))
    options = kafka_security().client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    [ca] = context.get_ca_certs()  # the CA file's, not the system's
    assert (("commonName", "Trailblazer local test CA"),) in ca["subject"]
    assert kafka_security().describe() == f"SASL_SSL, SCRAM-SHA-512 as 'trailblazer-intake', CA {ca_file}"


def test_ssl_alone_presents_the_client_certificate(env: pytest.MonkeyPatch, ca_file: Path) -> None:
    directory = ca_file.parent
    env.setenv("TRAILBLAZER_KAFKA_SECURITY_PROTOCOL", "SSL")
    env.setenv("TRAILBLAZER_KAFKA_SSL_CA_FILE", str(ca_file))
    env.setenv("TRAILBLAZER_KAFKA_SSL_CERT_FILE", str(directory / "client.crt"))
    env.setenv("TRAILBLAZER_KAFKA_SSL_KEY_FILE", str(directory / "client.key"))
    security = kafka_security().faststream()
    assert type(security) is BaseSecurity
    options = parse_security(security)
    assert options["security_protocol"] == "SSL" and isinstance(options["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in options
    # A key that is not the certificate's is refused when the context is built, at start.
    env.setenv("TRAILBLAZER_KAFKA_SSL_KEY_FILE", str(directory / "server.key"))
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        kafka_security().ssl_context()


REFUSED = {
    "SASL without a password": (
        {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512", "SASL_USERNAME": "u"},
        "SASL_SSL needs TRAILBLAZER_KAFKA_SASL_PASSWORD",
    ),
    "SASL without mechanism and user": (
        {"SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SASL_PASSWORD": PASSWORD},
        "needs TRAILBLAZER_KAFKA_SASL_MECHANISM, TRAILBLAZER_KAFKA_SASL_USERNAME",
    ),
    "a password but PLAINTEXT": (
        {"SASL_USERNAME": "u", "SASL_PASSWORD": PASSWORD},
        "TRAILBLAZER_KAFKA_SASL_USERNAME, TRAILBLAZER_KAFKA_SASL_PASSWORD set, but "
        "TRAILBLAZER_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not authenticate",
    ),
    "a CA file without TLS": (
        {
            "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SASL_MECHANISM": "PLAIN",
            "SASL_USERNAME": "u",
            "SASL_PASSWORD": PASSWORD,
            "SSL_CA_FILE": "/etc/ca.crt",
        },
        "TRAILBLAZER_KAFKA_SSL_CA_FILE set, but TRAILBLAZER_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS",
    ),
    "a key without a certificate": (
        {"SECURITY_PROTOCOL": "SSL", "SSL_KEY_FILE": "/k.pem", "SSL_KEY_PASSWORD": PASSWORD},
        "need TRAILBLAZER_KAFKA_SSL_CERT_FILE",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_combinations_that_cannot_work_are_refused_by_name(env: pytest.MonkeyPatch, case: str) -> None:
    variables, message = REFUSED[case]
    for name, value in variables.items():
        env.setenv(f"TRAILBLAZER_KAFKA_{name}", value)
    settings = ServiceSettings()  # parsing is fine: the combination is checked at start
    with pytest.raises(ConfigurationError) as refused:
        settings.check_combinations()
    assert message in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_a_missing_ca_file_is_named(env: pytest.MonkeyPatch) -> None:
    sasl(env, "SASL_SSL")
    env.setenv("TRAILBLAZER_KAFKA_SSL_CA_FILE", "/nowhere/ca.crt")
    settings = ServiceSettings()
    settings.check_combinations()  # reads no file: a migration Job need not mount the CA
    with pytest.raises(ConfigurationError, match=r"TRAILBLAZER_KAFKA_SSL_CA_FILE=/nowhere/ca.crt: no such file"):
        create_broker(settings, "unit", TracerProvider())


def test_passwords_stay_out_of_reprs_and_validation_errors(env: pytest.MonkeyPatch) -> None:
    sasl(env)
    env.setenv("TRAILBLAZER_KAFKA_SSL_KEY_PASSWORD", PASSWORD)
    settings = ServiceSettings()
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    security = KafkaSecurity.from_settings(settings.model_copy(update={"kafka_ssl_key_password": None}))
    assert PASSWORD not in repr(security) and PASSWORD not in security.describe()
    env.setenv("TRAILBLAZER_KAFKA_SECURITY_PROTOCOL", "SASL_TLS")
    with pytest.raises(ValueError) as invalid:
        ServiceSettings()
    assert "kafka_security_protocol" in str(invalid.value)
    assert "input_value" not in str(invalid.value) and PASSWORD not in str(invalid.value)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_service_with_an_invalid_combination_stops_at_once_with_one_clear_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    env.setenv("TRAILBLAZER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("TRAILBLAZER_KAFKA_SASL_PASSWORD", PASSWORD)
    env.setattr(sys, "argv", ["python -m services.intake"])
    with pytest.raises(SystemExit) as stopped:
        runtime.main(create_service())  # nothing is opened before the check: no broker, no database
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "CRITICAL trailblazer-intake" in err
    assert "trailblazer-intake cannot start: TRAILBLAZER_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs" in err
    assert PASSWORD not in err


# ---- SMTP ----------------------------------------------------------------------------------


def test_smtp_defaults_pass_no_tls_or_login_argument(env: pytest.MonkeyPatch) -> None:
    settings = NotificationSettings()
    settings.check_combinations()
    # aiosmtplib's own default then applies: STARTTLS if the server offers it, as before.
    assert smtp_options(settings) == {"hostname": "127.0.0.1", "port": 8125, "timeout": 10.0}


@pytest.mark.parametrize(("tls", "expected"), [("starttls", {"start_tls": True}), ("implicit", {"use_tls": True})])
def test_smtp_tls_and_credentials_map_onto_aiosmtplib(
    env: pytest.MonkeyPatch, tls: str, expected: dict[str, bool]
) -> None:
    env.setenv("TRAILBLAZER_SMTP_TLS", tls)
    env.setenv("TRAILBLAZER_SMTP_USERNAME", "mailer")
    env.setenv("TRAILBLAZER_SMTP_PASSWORD", PASSWORD)
    env.setenv("TRAILBLAZER_SMTP_CA_FILE", "/etc/relay-ca.crt")
    settings = NotificationSettings()
    settings.check_combinations()
    options = smtp_options(settings)
    assert {k: v for k, v in options.items() if k in ("start_tls", "use_tls")} == expected
    assert (options["username"], options["password"], options["cert_bundle"]) == (
        "mailer",
        PASSWORD,
        "/etc/relay-ca.crt",
    )
    assert PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"SMTP_TLS": "starttls", "SMTP_USERNAME": "mailer"},
            "SMTP_USERNAME and TRAILBLAZER_SMTP_PASSWORD go together",
        ),
        ({"SMTP_PASSWORD": PASSWORD, "SMTP_TLS": "implicit"}, "go together"),
        ({"SMTP_USERNAME": "mailer", "SMTP_PASSWORD": PASSWORD}, "credentials need TRAILBLAZER_SMTP_TLS=starttls"),
    ],
)
def test_smtp_combinations_that_would_leak_or_fail_are_refused(
    env: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        env.setenv(f"TRAILBLAZER_{name}", value)
    with pytest.raises(ConfigurationError) as refused:
        NotificationSettings().check_combinations()
    assert message in str(refused.value) and PASSWORD not in str(refused.value)
