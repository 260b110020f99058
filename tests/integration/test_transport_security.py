"""Transport security on the real broker and real SMTP servers, no mocks.

- intake runs as its own user against the local Kafka's SASL_PLAINTEXT listener with SCRAM-SHA-512
  (and, where `openssl` made the local certificates, its SASL_SSL listener verified against the
  local CA); a firm's requests, published as the firm and read through the same listener, come
  back created and rejected, and every Kafka connection intake holds goes to that listener;
- with a wrong password intake never becomes ready: it stops within its dependency wait, and its
  log says that the broker refused the credentials. No password is in any of its log lines;
- every SASL mechanism, TLS with a client certificate (mTLS; the certificate's CN is a principal
  the authorizer holds to its ACLs like any user) and the dead-letter operator tool connect
  through `create_broker` / `KafkaSecurity`;
- the notifications e-mail sender logs in over STARTTLS and over implicit TLS to an aiosmtpd
  mailbox that requires both, and a refused password is a retryable failure that names no secret.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from signal import SIGTERM
from typing import Any

import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from deploy.local import kafka_access, mailbox
from deploy.local.config import LOCAL_FIRMS, StackConfig, process_name
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.kafka import create_topics, local_certificates
from deploy.local.processes import read_pid
from deploy.local.services import kill_service, service_ready, start_service
from deploy.local.tls import LocalCertificates, ensure_certificates, openssl_available
from deploy.local.topic_reader import TopicReader
from services.notifications.channels import TransientFailure, send_email
from services.notifications.deliveries import Delivery
from services.notifications.settings import NotificationSettings
from shared import topics
from shared.acls import SUPER_USER, Acl, Operation, Pattern, Resource, principal, service_user, tenant_user
from shared.contracts import DeliveryStatus
from shared.db import DependencyRefused
from shared.kafka_security import KafkaSecurity, check_access
from shared.messaging import create_broker
from shared.ops import dead_letters
from shared.settings import ServiceSettings
from shared.topics import FirmEvent, TopicSpec, firm_topic
from tests.email_deliveries import email_delivery
from tests.integration.conftest import SERVICE_ENV

pytestmark = pytest.mark.integration
# The requests' firm (the sample requests' default, a local firm) and where it is answered.
REJECTED = firm_topic("nordic-relocation", FirmEvent.ASSIGNMENT_REJECTED)

WRONG_PASSWORD = "not-the-kafka-secret-41b7"
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-secret-8d2c"
# Records of the mTLS round trip only; nothing else reads this topic.
PROBE_TOPIC = TopicSpec("trailblazer.test.transport-security", 1, "transport-security tests")
MTLS_CLIENT = "trailblazer-client"  # the CN of the local CA's client certificate (deploy/local/tls.py)
needs_openssl = pytest.mark.skipif(not openssl_available(), reason="no openssl here: no local CA, TLS not exercised")


INTAKE = service_user("intake")


def sasl_env(bootstrap: str, protocol: str, user: str, password: str, ca_file: Path | None = None) -> dict[str, str]:
    env = {
        "TRAILBLAZER_KAFKA_BOOTSTRAP": bootstrap,
        "TRAILBLAZER_KAFKA_SECURITY_PROTOCOL": protocol,
        "TRAILBLAZER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TRAILBLAZER_KAFKA_SASL_USERNAME": user,
        "TRAILBLAZER_KAFKA_SASL_PASSWORD": password,
    }
    return env | ({"TRAILBLAZER_KAFKA_SSL_CA_FILE": str(ca_file)} if ca_file else {})


def security_from(env: dict[str, str]) -> KafkaSecurity:
    return KafkaSecurity.from_settings(
        ServiceSettings.model_validate({k.removeprefix("TRAILBLAZER_").lower(): v for k, v in env.items()})
    )


def certificates_of(cfg: StackConfig) -> LocalCertificates:
    certificates = local_certificates(cfg)
    if certificates is None:
        pytest.skip("the local Kafka has no TLS listeners (no openssl)")
    return certificates


class LogSlice:
    """What a process appends to its log from now on."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._start = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        with self._path.open("rb") as log:
            log.seek(self._start)
            return log.read().decode("utf-8", "replace")


@contextmanager
def intake_replaced_by(cfg: StackConfig, env: dict[str, str]) -> Iterator[int]:
    """intake with `env` in place of the session's intake (the same consumer group: both at once
    would share the partitions); the session's one is back afterwards."""
    kill_service(cfg, "intake", signal=SIGTERM)
    try:
        yield start_service(cfg, "intake", extra_env={**SERVICE_ENV, **env})
    finally:
        if read_pid(cfg, "intake") is not None:
            kill_service(cfg, "intake", signal=SIGTERM)
        start_service(cfg, "intake", extra_env=SERVICE_ENV)


def established_remote_ports(pid: int) -> set[int]:
    """Remote ports of the process's established TCP connections, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] == "01":  # ESTABLISHED
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_intake_works_through_an_authenticated_listener(local_stack: StackConfig, protocol: str) -> None:
    cfg = local_stack
    if protocol == "SASL_SSL":
        port, ca_file = cfg.kafka_sasl_ssl_port, certificates_of(cfg).ca_cert
    else:
        port, ca_file = cfg.kafka_port, None
    bootstrap = f"127.0.0.1:{port}"
    env = sasl_env(bootstrap, protocol, INTAKE, kafka_access.password(cfg, INTAKE), ca_file)
    # The firm (as itself) and the reader (the stack's tooling) use the same listener.
    firm_user, admin = tenant_user("firm", LOCAL_FIRMS[0]), SUPER_USER
    firm = security_from(sasl_env(bootstrap, protocol, firm_user, kafka_access.password(cfg, firm_user), ca_file))
    tooling = security_from(sasl_env(bootstrap, protocol, admin, kafka_access.password(cfg, admin), ca_file))
    good = assignment_request(SAMPLE_FAMILIES[2])
    bad = assignment_request(SAMPLE_FAMILIES[2])
    del bad["payload"]["partner"]
    log = LogSlice(cfg.log_path("intake"))
    with intake_replaced_by(cfg, env) as pid:
        async with TopicReader(
            bootstrap, topics.ASSIGNMENT_CREATED, REJECTED, client_options=tooling.client_options()
        ) as reader:
            await publish(
                bootstrap,
                [(record_key(bad), encode(bad)), (record_key(good), encode(good))],
                client_options=firm.client_options(),
                firm_id=LOCAL_FIRMS[0],
            )
            [created] = await reader.wait_for(
                lambda r: r.topic == topics.ASSIGNMENT_CREATED and r.key == str(good["payload"]["assignment_id"])
            )
            [rejected] = await reader.wait_for(
                lambda r: r.topic == REJECTED and r.key == str(bad["payload"]["assignment_id"])
            )
        ports = established_remote_ports(pid)
    assert created.value["correlation_id"] == good["correlation_id"]
    assert {e["field"]: e["code"] for e in rejected.value["payload"]["errors"]} == {"payload.partner": "missing_field"}
    # Consumer, producer (outbox relay) and health pings: all on the authenticated listener.
    assert port in ports, ports
    if protocol == "SASL_SSL":
        assert cfg.kafka_port not in ports, ports
    text = log.text()
    assert f"kafka transport: {protocol}, SCRAM-SHA-512 as '{INTAKE}'" in text
    assert "trailblazer-intake ready" in text
    assert kafka_access.password(cfg, INTAKE) not in text


async def test_a_wrong_password_stops_start_up_with_a_clear_line(local_stack: StackConfig) -> None:
    cfg = local_stack
    env = sasl_env(cfg.kafka_bootstrap, "SASL_PLAINTEXT", INTAKE, WRONG_PASSWORD)
    # A second replica: it never joins the consumer group, so the session's intake is untouched.
    name = process_name("intake", 1)
    log = LogSlice(cfg.log_path(name))
    started = time.monotonic()
    pid = start_service(cfg, "intake", 1, {**SERVICE_ENV, **env, "TRAILBLAZER_DEPENDENCY_WAIT_S": "6"}, wait=False)
    try:
        while read_pid(cfg, name) is not None and time.monotonic() - started < 60:
            assert not service_ready(cfg, "intake", 1), "intake became ready with a wrong password"
            await asyncio.sleep(0.5)
        assert read_pid(cfg, name) is None, "intake still runs 60 s after start with a wrong password"
    finally:
        if read_pid(cfg, name) is not None:
            kill_service(cfg, "intake", 1)
    elapsed = time.monotonic() - started
    text = log.text()
    refused = (
        f"Kafka at {cfg.kafka_bootstrap} refused the credentials of user '{INTAKE}' "
        "(SCRAM-SHA-512 over SASL_PLAINTEXT): check TRAILBLAZER_KAFKA_SASL_USERNAME and TRAILBLAZER_KAFKA_SASL_PASSWORD"
    )
    assert f"waiting for Kafka ({refused}); next try in" in text
    assert "Kafka still unavailable after 6 s" in text
    assert "trailblazer-intake ready" not in text
    assert WRONG_PASSWORD not in text and kafka_access.password(cfg, INTAKE) not in text
    assert elapsed < 40, f"pid {pid} took {elapsed:.0f} s to give up"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_each_sasl_mechanism_authenticates_the_broker(local_stack: StackConfig, mechanism: str) -> None:
    # The admin has credentials for every mechanism the client listener offers.
    settings = ServiceSettings(
        kafka_bootstrap=local_stack.kafka_bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username=SUPER_USER,
        kafka_sasl_password=kafka_access.password(local_stack),
    )
    broker = create_broker(settings, "transport-security-test", TracerProvider())
    await broker.connect()
    try:
        assert await broker.ping(timeout=5)
    finally:
        await broker.stop()
    wrong = KafkaSecurity.from_settings(settings.model_copy(update={"kafka_sasl_password": SecretStr(WRONG_PASSWORD)}))
    with pytest.raises(DependencyRefused, match="refused the credentials") as refusal:
        await check_access(settings.kafka_bootstrap, wrong, client_id="transport-security-test")
    assert WRONG_PASSWORD not in str(refusal.value)


async def test_tls_records_travel_with_sasl_over_tls_and_with_a_client_certificate(local_stack: StackConfig) -> None:
    cfg = local_stack
    certificates = certificates_of(cfg)
    create_topics(cfg, [PROBE_TOPIC])
    writer_settings = ServiceSettings(
        kafka_bootstrap=f"127.0.0.1:{cfg.kafka_sasl_ssl_port}",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SUPER_USER,
        kafka_sasl_password=kafka_access.password(cfg),
        kafka_ssl_ca_file=certificates.ca_cert,
    )
    mtls = KafkaSecurity(
        "SSL", ca_file=certificates.ca_cert, cert_file=certificates.client_cert, key_file=certificates.client_key
    )
    mtls_reader = f"127.0.0.1:{cfg.kafka_ssl_port}"
    # The certificate's principal (its CN) is held to its ACLs: nothing until the admin grants it.
    with pytest.raises(TopicAuthorizationFailedError):
        async with TopicReader(mtls_reader, PROBE_TOPIC.name, client_options=mtls.client_options()):
            pass
    async with kafka_access.admin(cfg) as admin:
        readable = [
            Acl(Resource.TOPIC, PROBE_TOPIC.name, Pattern.LITERAL, Operation.READ),
            Acl(Resource.GROUP, "test-reader-", Pattern.PREFIXED, Operation.READ),
        ]
        await admin.create_acls(principal(MTLS_CLIENT), readable)
        await admin.wait_for_acls(principal(MTLS_CLIENT), readable)
    key = uuid.uuid4().hex
    broker = create_broker(writer_settings, "transport-security-test", TracerProvider())
    await broker.connect()
    try:
        reader = TopicReader(mtls_reader, PROBE_TOPIC.name, client_options=mtls.client_options())
        async with reader:
            await broker.publish(b'{"probe": true}', topic=PROBE_TOPIC.name, key=key.encode())
            [record] = await reader.wait_for(lambda r: r.key == key)
    finally:
        await broker.stop()
    assert record.value == {"probe": True}

    # What the listeners refuse: no client certificate on the mTLS listener; the broker's
    # certificate checked against the system's CAs instead of the local one.
    without_certificate = KafkaSecurity("SSL", ca_file=certificates.ca_cert)
    with pytest.raises(Exception):  # noqa: B017 - the server closes the TLS session; the type varies
        await check_access(f"127.0.0.1:{cfg.kafka_ssl_port}", without_certificate, client_id="t", timeout_s=5)
    system_cas = KafkaSecurity.from_settings(writer_settings.model_copy(update={"kafka_ssl_ca_file": None}))
    with pytest.raises(DependencyRefused, match="does not verify"):
        await check_access(writer_settings.kafka_bootstrap, system_cas, client_id="t", timeout_s=5)


async def test_the_dead_letter_tool_reads_through_the_authenticated_listener(
    local_stack: StackConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in kafka_access.kafka_env(local_stack).items():  # the stack's super user
        monkeypatch.setenv(name, value)
    assert await dead_letters.main(["list", "--limit", "1"]) == 0
    monkeypatch.setenv("TRAILBLAZER_KAFKA_SASL_PASSWORD", WRONG_PASSWORD)
    monkeypatch.setenv("TRAILBLAZER_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    assert await dead_letters.main(["list"]) == 2  # a password without SASL is refused before connecting
    err = capsys.readouterr().err
    assert "TRAILBLAZER_KAFKA_SASL_PASSWORD" in err and WRONG_PASSWORD not in err


# ---- SMTP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> LocalCertificates:
    if not openssl_available():
        pytest.skip("no openssl here: no local CA, SMTP over TLS not exercised")
    return ensure_certificates(tmp_path_factory.mktemp("smtp-tls"))


@contextmanager
def smtp_server(tmp_path: Path, certificates: LocalCertificates, *, implicit_tls: bool) -> Iterator[tuple[Any, int]]:
    """An aiosmtpd mailbox requiring TLS and a login, on a port beside the stack's mailbox."""
    port = mailbox.port(StackConfig.for_tests(tmp_path)) + (2 if implicit_tls else 1)
    controller = mailbox.mailbox_controller(
        port, tmp_path, certificates=certificates, implicit_tls=implicit_tls, credentials=(SMTP_USER, SMTP_PASSWORD)
    )
    controller.start()
    try:
        yield controller, port
    finally:
        controller.stop()


def stored_mail(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def delivery() -> Delivery:
    return email_delivery(language="en", subject="Your support abroad", body="Hello", html="")


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_email_is_sent_with_credentials_over_tls(
    tmp_path: Path, smtp_certificates: LocalCertificates, tls: str
) -> None:
    with smtp_server(tmp_path, smtp_certificates, implicit_tls=tls == "implicit") as (controller, port):
        settings = NotificationSettings(
            smtp_port=port,
            smtp_tls=tls,
            smtp_username=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
            smtp_ca_file=smtp_certificates.ca_cert,
        )
        settings.check_combinations()
        sent = delivery()
        assert await send_email(sent, settings) is DeliveryStatus.SENT
        with pytest.raises(TransientFailure) as refusal:
            await send_email(
                delivery(), settings.model_copy(update={"smtp_password": SecretStr("wrong-smtp-password")})
            )
        assert str(refusal.value) == "smtp_auth_failed 535"
    [stored] = stored_mail(tmp_path)
    assert str(sent.delivery_id) in stored.name
    assert controller.handler.logins == [SMTP_USER]


async def test_required_starttls_never_falls_back_to_plain_text(
    tmp_path: Path, smtp_certificates: LocalCertificates
) -> None:
    """The stack's own mailbox offers no STARTTLS: with `starttls` required, nothing is sent."""
    port = mailbox.port(StackConfig.for_tests(tmp_path)) + 3
    controller = mailbox.mailbox_controller(port, tmp_path)
    controller.start()
    try:
        settings = NotificationSettings(smtp_port=port, smtp_tls="starttls", smtp_ca_file=smtp_certificates.ca_cert)
        with pytest.raises(TransientFailure, match="smtp_unavailable"):
            await send_email(delivery(), settings)
        # The default (auto) still delivers to it in plain text, as before these settings.
        assert await send_email(delivery(), NotificationSettings(smtp_port=port)) is DeliveryStatus.SENT
    finally:
        controller.stop()
    assert len(stored_mail(tmp_path)) == 1
