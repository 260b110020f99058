"""One Kafka node (broker and KRaft controller in one JVM) on loopback, and the topics.

The broker enforces tenancy (docs/tenancy.md): KRaft's StandardAuthorizer, no access without an
ACL, and every listener authenticates, the controller's and the inter-broker one included (the
broker signs in to them as the super user, with PLAIN). Users, passwords and ACLs:
deploy/local/kafka_access.py.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from deploy.local import kafka_access
from deploy.local.artifacts import ensure_kafka, java_executable
from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, StackConfig
from deploy.local.probes import ensure_port_free, quiet_aiokafka, run_async, tcp_open, wait_ready
from deploy.local.processes import StackError, open_log, read_pid, spawn, stop_processes
from deploy.local.tls import LocalCertificates, ensure_certificates, openssl_available
from shared.acls import SUPER_USER
from shared.topics import TOPICS, TopicSpec, firm_topic_specs, provider_topic_specs

log = logging.getLogger(__name__)

NAME = "kafka"
_READY_TIMEOUT_S = 240.0  # a JVM on a busy machine; only a bound on waiting
_SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# A client certificate's principal is its CN (`User:trailblazer-client`), granted like any user.
_SSL_PRINCIPAL_RULES = "RULE:^CN=([^,]+)$/$1/,DEFAULT"
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
    kafka_access.grant_stack_access(cfg)
    if local_certificates(cfg) is not None:
        log.info("kafka TLS listeners: SASL_SSL %d, SSL %d", cfg.kafka_sasl_ssl_port, cfg.kafka_ssl_port)


def stop_kafka(cfg: StackConfig) -> None:
    # SIGTERM makes the broker shut down cleanly, so the next start skips log recovery.
    stop_processes(cfg, [NAME])


def kafka_ready(cfg: StackConfig) -> bool:
    """A real client, signed in as the admin, can bootstrap and list topics (an open port alone
    is not enough)."""
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
    # CLIENT: every client (services, tenants, tooling), SASL; CONTROLLER: the KRaft controller,
    # which the broker part of this node signs in to. Neither lets an anonymous client in.
    listeners = {"CLIENT": ("SASL_PLAINTEXT", cfg.kafka_port), "CONTROLLER": ("SASL_PLAINTEXT", cfg.controller_port)}
    certificates = local_certificates(cfg)
    if certificates is not None:
        listeners |= {"SASL_SSL": ("SASL_SSL", cfg.kafka_sasl_ssl_port), "SSL": ("SSL", cfg.kafka_ssl_port)}
    addresses = ",".join(f"{name}://127.0.0.1:{port}" for name, (_, port) in listeners.items())
    return {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{cfg.controller_port}",
        "listeners": addresses,
        "advertised.listeners": addresses,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "CLIENT",
        "listener.security.protocol.map": ",".join(f"{name}:{protocol}" for name, (protocol, _) in listeners.items()),
        **_authentication_properties(cfg, certificates),
        # No access without an ACL; the super user is the stack's own tooling and the broker itself.
        "authorizer.class.name": _AUTHORIZER,
        "super.users": f"User:{SUPER_USER}",
        "allow.everyone.if.no.acl.found": "false",
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


def _authentication_properties(cfg: StackConfig, certificates: LocalCertificates | None) -> dict[str, object]:
    """PLAIN (the admin only, from this configuration) and SCRAM (users in the metadata log,
    created through the admin) on the client listeners; PLAIN alone on the controller's: SCRAM
    credentials live in the metadata log the controller serves, so they cannot sign it in. TLS
    from the local CA, where there is one."""
    plain = kafka_access.jaas_plain_admin(cfg)
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    properties: dict[str, object] = {
        "sasl.enabled.mechanisms": ",".join(("PLAIN", *_SCRAM_MECHANISMS)),
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
    }
    for listener in ("client", *(("sasl_ssl",) if certificates is not None else ())):
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
            "ssl.principal.mapping.rules": _SSL_PRINCIPAL_RULES,
        }
    return properties


def _write_config(cfg: StackConfig) -> Path:
    conf = cfg.conf_dir / NAME
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "log4j2.properties").write_text(_LOG4J2)
    properties = conf / "server.properties"
    lines = [f"{key}={value}" for key, value in _server_properties(cfg).items()]
    # It holds the admin's password: readable by this user only, like users.json beside it.
    properties.touch(mode=0o600)
    properties.chmod(0o600)
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
    with open_log(cfg, NAME, "formatting storage") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting kafka storage failed; see {cfg.log_path(NAME)}")


def _cluster_id() -> str:
    """What `StorageTool random-uuid` prints, without starting a JVM for it: 16 random bytes,
    URL-safe base64 without padding, never starting with '-' (it would read as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


async def _lists_topics(cfg: StackConfig) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=3000, **kafka_access.bootstrap_options(cfg)
    )
    with quiet_aiokafka():
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:  # whatever fails, the answer is "not ready yet"
            return False
        finally:
            await admin.close()


async def _create_missing_topics(cfg: StackConfig, topics: Sequence[TopicSpec]) -> list[str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=15000, **kafka_access.client_options(cfg)
    )
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
