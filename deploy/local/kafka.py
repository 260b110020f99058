"""One Kafka node (broker and KRaft controller in one JVM) on loopback, and the topics."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from deploy.local.artifacts import ensure_kafka, java_executable
from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, StackConfig
from deploy.local.probes import ensure_port_free, run_async, tcp_open, wait_ready
from deploy.local.processes import StackError, open_log, read_pid, spawn, stop_processes
from deploy.local.tls import LocalCertificates, ensure_certificates, openssl_available
from shared.topics import TOPICS, TopicSpec, firm_topic_specs, provider_topic_specs

log = logging.getLogger(__name__)

NAME = "kafka"
_READY_TIMEOUT_S = 240.0  # a JVM on a busy machine; only a bound on waiting
# The one user of the secure listeners (StackConfig.kafka_secure_listeners): SCRAM credentials in
# the metadata log, PLAIN in the listener's JAAS config. A local, loopback-only test password.
LOCAL_USER = "trailblazer"
LOCAL_PASSWORD = "local-kafka-secret-7f3a"
_SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_TOPIC_ERROR_ALREADY_EXISTS = 36
# What kafka-run-class.sh uses, with a heap sized for a laptop rather than a server.
_JVM_OPTS = (
    "-Xmx512m",
    "-Xms256m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
# Console only: the process's output already goes to <state>/logs/kafka.log. The config dump
# (hundreds of lines per start) and per-partition chatter are turned down. No log4j shutdown
# hook: Kafka shuts down in a JVM shutdown hook of its own and should still log while doing so.
_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.partitionchange.name = org.apache.kafka.controller.PartitionChangeBuilder
logger.partitionchange.level = WARN
"""


def log_dir(cfg: StackConfig) -> Path:
    return cfg.data_dir / "kafka"


def start_kafka(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        pid = _launch(cfg)
    else:
        log.info("kafka already running (pid %d)", pid)
    waited = wait_ready(cfg, NAME, pid, lambda: kafka_ready(cfg), _READY_TIMEOUT_S)
    log.info("kafka ready on %s (%.1f s)", cfg.kafka_bootstrap, waited)
    if cfg.kafka_secure_listeners:
        _ensure_scram_users(cfg)
        tls = (
            "" if local_certificates(cfg) is None else f", SASL_SSL {cfg.kafka_sasl_ssl_port}, SSL {cfg.kafka_ssl_port}"
        )
        log.info("kafka secure listeners: SASL_PLAINTEXT %d%s", cfg.kafka_sasl_port, tls)


def stop_kafka(cfg: StackConfig) -> None:
    # SIGTERM makes the broker shut down cleanly, so the next start skips log recovery.
    stop_processes(cfg, [NAME])


def kafka_ready(cfg: StackConfig) -> bool:
    """A real client can bootstrap and list topics (an open port alone is not enough)."""
    return tcp_open(cfg.kafka_port) and run_async(_lists_topics(cfg))


def local_topics() -> tuple[TopicSpec, ...]:
    """The platform's internal topics and the local firms' and providers' own topics (onboarding
    creates a real tenant's)."""
    firms = tuple(spec for firm_id in LOCAL_FIRMS for spec in firm_topic_specs(firm_id))
    return TOPICS + firms + tuple(spec for provider_id in LOCAL_PROVIDERS for spec in provider_topic_specs(provider_id))


def create_topics(cfg: StackConfig, topics: Sequence[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics with their partitions and config; returns the names created."""
    topics = local_topics() if topics is None else topics
    created = run_async(_create_missing_topics(cfg, topics))
    log.info("topics: %d created, %d already there", len(created), len(topics) - len(created))
    return created


def local_certificates(cfg: StackConfig) -> LocalCertificates | None:
    """The certificates of the TLS listeners; None where they are off or `openssl` is missing."""
    if not cfg.kafka_secure_listeners or not openssl_available():
        return None
    return ensure_certificates(cfg.tls_dir)


def _launch(cfg: StackConfig) -> int:
    libs = ensure_kafka(cfg.cache_dir)
    ensure_port_free(cfg.kafka_port, "kafka")
    ensure_port_free(cfg.controller_port, "the kafka controller")
    if cfg.kafka_secure_listeners:
        ensure_port_free(cfg.kafka_sasl_port, "the kafka SASL_PLAINTEXT listener")
        if local_certificates(cfg) is not None:
            ensure_port_free(cfg.kafka_sasl_ssl_port, "the kafka SASL_SSL listener")
            ensure_port_free(cfg.kafka_ssl_port, "the kafka SSL listener")
        else:
            log.info("no openssl: kafka opens no TLS listener")
    properties = _write_config(cfg)
    _format_once(cfg, libs, properties)
    argv = [java_executable(), *_JVM_OPTS, *_log_opts(cfg), "-cp", f"{libs}/*", "kafka.Kafka", str(properties)]
    return spawn(cfg, NAME, argv, cwd=cfg.state_dir)


def _server_properties(cfg: StackConfig) -> dict[str, object]:
    ports = {"PLAINTEXT": cfg.kafka_port, "CONTROLLER": cfg.controller_port}
    certificates = local_certificates(cfg)
    if cfg.kafka_secure_listeners:
        ports["SASL_PLAINTEXT"] = cfg.kafka_sasl_port
        if certificates is not None:
            ports |= {"SASL_SSL": cfg.kafka_sasl_ssl_port, "SSL": cfg.kafka_ssl_port}
    listeners = ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items())
    protocols = ",".join(f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in ports)
    return {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{cfg.controller_port}",
        "listeners": listeners,
        "advertised.listeners": listeners,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": protocols,
        **(_secure_listener_properties(certificates) if cfg.kafka_secure_listeners else {}),
        "log.dirs": log_dir(cfg),
        "num.partitions": 3,
        # Topics come from shared.topics; a typo in a topic name must fail, not create a topic.
        "auto.create.topics.enable": "false",
        # One node: every internal topic has a single replica.
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 6,  # the default 50 makes the first consumer group slow
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "default.replication.factor": 1,
        # Consumers join at once instead of waiting 3 s for more members.
        "group.initial.rebalance.delay.ms": 0,
    }


def _secure_listener_properties(certificates: LocalCertificates | None) -> dict[str, object]:
    """SASL (PLAIN and SCRAM) on the SASL_* listeners; TLS from the local CA, where there is one.
    The inter-broker and controller traffic stays PLAINTEXT, so nothing else changes."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    plain = f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{LOCAL_USER}="{LOCAL_PASSWORD}";'
    properties: dict[str, object] = {"sasl.enabled.mechanisms": ",".join(("PLAIN", *_SCRAM_MECHANISMS))}
    for listener in ("sasl_plaintext", *(("sasl_ssl",) if certificates is not None else ())):
        properties[f"listener.name.{listener}.plain.sasl.jaas.config"] = plain
        for mechanism in _SCRAM_MECHANISMS:
            properties[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"] = scram
    if certificates is not None:
        password = certificates.keystore_password()
        properties |= {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": certificates.server_keystore,
            "ssl.keystore.password": password,
            "ssl.key.password": password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": certificates.ca_cert,
            "listener.name.ssl.ssl.client.auth": "required",
        }
    return properties


def _write_config(cfg: StackConfig) -> Path:
    conf = cfg.conf_dir / NAME
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "log4j2.properties").write_text(_LOG4J2)
    properties = conf / "server.properties"
    lines = [f"{key}={value}" for key, value in _server_properties(cfg).items()]
    properties.write_text("# Written by deploy.local.kafka on every start.\n" + "\n".join(lines) + "\n")
    return properties


def _log_opts(cfg: StackConfig) -> list[str]:
    conf = cfg.conf_dir / NAME / "log4j2.properties"
    return [f"-Dlog4j2.configurationFile={conf}", f"-Dkafka.logs.dir={cfg.logs_dir}"]


def _format_once(cfg: StackConfig, libs: Path, properties: Path) -> None:
    """Format the KRaft storage on first start; meta.properties then holds the cluster id."""
    data = log_dir(cfg)
    if (data / "meta.properties").exists():
        return
    shutil.rmtree(data, ignore_errors=True)  # a format that died half-way; nothing to keep
    log.info("formatting kafka storage in %s", data)
    argv = [
        java_executable(),
        *_log_opts(cfg),
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _cluster_id(),
        "-c",
        str(properties),
        "--standalone",
    ]
    if cfg.kafka_secure_listeners:
        # SCRAM credentials go into the metadata log with the format: no admin call afterwards.
        for mechanism in _SCRAM_MECHANISMS:
            argv += ["--add-scram", f"{mechanism}=[name={LOCAL_USER},password={LOCAL_PASSWORD}]"]
    _scram_marker(cfg).unlink(missing_ok=True)
    with open_log(cfg, NAME, "formatting storage") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting kafka storage failed; see {cfg.log_path(NAME)}")
    if cfg.kafka_secure_listeners:
        _scram_marker(cfg).write_text(f"{LOCAL_USER}\n")


def _scram_marker(cfg: StackConfig) -> Path:
    """Present once the storage holds the local user's SCRAM credentials."""
    return cfg.data_dir / "kafka-scram-users"


def _ensure_scram_users(cfg: StackConfig) -> None:
    """Storage formatted before the secure listeners existed has no SCRAM credentials: add them
    once, through the running broker's PLAINTEXT listener (Kafka's own kafka-configs tool; one
    mechanism per call, since one request may not alter a user twice)."""
    if _scram_marker(cfg).exists():
        return
    log.info("adding the SCRAM credentials of %r to existing kafka storage", LOCAL_USER)
    for mechanism in _SCRAM_MECHANISMS:
        argv = [
            java_executable(),
            *_log_opts(cfg),
            "-cp",
            f"{ensure_kafka(cfg.cache_dir)}/*",
            "kafka.admin.ConfigCommand",
            "--bootstrap-server",
            cfg.kafka_bootstrap,
            "--alter",
            "--add-config",
            f"{mechanism}=[password={LOCAL_PASSWORD}]",
            "--entity-type",
            "users",
            "--entity-name",
            LOCAL_USER,
        ]
        with open_log(cfg, NAME, f"adding {mechanism} credentials") as out:
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
        if result.returncode != 0:
            raise StackError(f"adding {mechanism} credentials to kafka failed; see {cfg.log_path(NAME)}")
    _scram_marker(cfg).write_text(f"{LOCAL_USER}\n")


def _cluster_id() -> str:
    """What `StorageTool random-uuid` prints, without starting a JVM for it: 16 random bytes,
    URL-safe base64 without padding, never starting with '-' (it would read as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


@contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    # A probe against a broker that is still starting makes aiokafka log connection errors.
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _lists_topics(cfg: StackConfig) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=3000)
    with _quiet_aiokafka():
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:  # whatever fails, the answer is "not ready yet"
            return False
        finally:
            await admin.close()


async def _create_missing_topics(cfg: StackConfig, topics: Sequence[TopicSpec]) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topics if spec.name not in existing]
        if missing:
            response = await admin.create_topics([_new_topic(spec) for spec in missing])
            _check_topic_errors(response.topic_errors)
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(spec.name, spec.partitions, 1, topic_configs=dict(spec.config))


def _check_topic_errors(topic_errors: Sequence[tuple[object, ...]]) -> None:
    # Another process may have created the same topic in between: that is success too.
    failures = [
        f"{error[0]}: {for_code(error[1]).__name__} {error[2] if len(error) > 2 else ''}"
        for error in topic_errors
        if error[1] not in (0, _TOPIC_ERROR_ALREADY_EXISTS)
    ]
    if failures:
        raise StackError("creating topics failed: " + "; ".join(failures))
