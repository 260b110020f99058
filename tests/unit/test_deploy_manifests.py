"""The deployment artefacts, checked offline: Dockerfile, docker-compose.yml and deploy/k8s.

Built-in Kubernetes objects are validated with kubernetes-validate (strict: unknown fields are
errors) for one fixed Kubernetes version; Strimzi and KEDA resources against our own schemas in
deploy/k8s/schemas; the compose file against the Compose Specification's JSON Schema. Broken
manifests prove each validator rejects what it should, so a silent skip cannot pass. The rest
checks that the artefacts agree with the code: topics, probe paths, settings, consumer groups.
"""

import ast
import asyncio
import fnmatch
import importlib
import json
import re
import shutil
import socket
import subprocess
import typing
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from deploy.local.kafka import local_topics
from shared import topics
from shared.acls import (
    SERVICE_ACCESS,
    Acl,
    Operation,
    Pattern,
    Resource,
    service_acls,
    service_user,
    tenant_acls,
    tenant_user,
)
from shared.health import HealthServer
from shared.ops.tenants import manifests as tenant_manifests
from shared.ops.tenants import render_manifests, strimzi_acls
from shared.settings import ServiceSettings
from shared.topics import Kind

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "docker-compose.yml"
KUBERNETES_VERSION = "1.33.0"
SERVICES = ("intake", "matching", "notifications", "care")
CUSTOM_SCHEMAS = {
    "Kafka": "kafka.json",
    "KafkaNodePool": "kafkanodepool.json",
    "KafkaTopic": "kafkatopic.json",
    "KafkaUser": "kafkauser.json",
    "ScaledObject": "scaledobject.json",
    "TriggerAuthentication": "triggerauthentication.json",
}
# Variables a pod may set besides settings fields: the standard OpenTelemetry ones.
OTEL_VARIABLES = {
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
}

Manifest = dict[str, Any]


# ---- loading -------------------------------------------------------------------------------


def render_kustomization(directory: Path) -> list[Manifest]:
    """The part of kustomize this layout uses (resources, namespace, images), so that the tests
    need no kustomize binary; test_kubectl_kustomize_renders_the_same checks it against the real one."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "resources", "images"}
    assert not unsupported, f"teach render_kustomization {unsupported} or keep the layout simple"
    images = {image["name"]: image for image in kustomization.get("images", [])}
    objects = []
    for resource in kustomization["resources"]:
        for manifest in yaml.safe_load_all((directory / resource).read_text()):
            if manifest is None:
                continue
            if manifest["kind"] != "Namespace":
                manifest["metadata"]["namespace"] = kustomization["namespace"]
            for container in _containers(manifest):
                image = images.get(container["image"])
                if image is not None:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
            objects.append(manifest)
    return objects


def _pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    if manifest["kind"] in ("Deployment", "Job"):
        spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
        return spec
    if manifest["kind"] == "CronJob":
        scheduled: dict[str, Any] = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return scheduled
    return None


def _containers(manifest: Manifest) -> Iterator[dict[str, Any]]:
    pod = _pod_spec(manifest)
    if pod is not None:
        yield from pod.get("initContainers", [])
        yield from pod["containers"]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render_kustomization(K8S)


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def config_maps(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    return {name: m["data"] for name, m in of_kind(manifests, "ConfigMap").items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


# ---- validation ----------------------------------------------------------------------------


def validate(manifest: Manifest) -> None:
    """Raise if the manifest is not valid: custom resources against our schemas, everything else
    against Kubernetes' own (an unknown kind raises SchemaNotFoundError, never passes)."""
    schema_file = CUSTOM_SCHEMAS.get(manifest["kind"])
    if schema_file is not None:
        schema = json.loads((K8S / "schemas" / schema_file).read_text())
        jsonschema.Draft202012Validator(schema).validate(manifest)
    else:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_every_manifest_is_valid(manifests: list[Manifest]) -> None:
    kinds = {m["kind"] for m in manifests}
    cluster = render_kustomization(K8S / "cluster")
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Job", "PodDisruptionBudget"} <= kinds
    assert set(CUSTOM_SCHEMAS) <= kinds | {m["kind"] for m in cluster}
    for manifest in [*manifests, *cluster, *tenant_examples()]:
        validate(manifest)


BROKEN_MANIFESTS = {
    "misspelt probe": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: intake}
spec:
  selector: {matchLabels: {app: intake}}
  template:
    metadata: {labels: {app: intake}}
    spec:
      containers:
        - name: intake
          image: trailblazer:0.1.0
          readinesProbe: {httpGet: {path: /health/ready, port: 8100}}
""",
    "replicas as text": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: intake}
spec:
  replicas: two
  selector: {matchLabels: {app: intake}}
  template:
    metadata: {labels: {app: intake}}
    spec: {containers: [{name: intake, image: trailblazer}]}
""",
    "kind nobody knows": """
apiVersion: example.com/v1
kind: KafkaTopicc
metadata: {name: t}
""",
    "topic without cluster label": """
apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: trailblazer.dead-letter.v1}
spec: {partitions: 3, replicas: 3}
""",
    "topic partitions as text": """
apiVersion: kafka.strimzi.io/v1
kind: KafkaTopic
metadata: {name: t, labels: {strimzi.io/cluster: trailblazer}}
spec: {partitions: six, replicas: 3}
""",
    "acl with singular operation": """
apiVersion: kafka.strimzi.io/v1
kind: KafkaUser
metadata: {name: u, labels: {strimzi.io/cluster: trailblazer}}
spec:
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls: [{resource: {type: topic, name: t}, operation: Read}]
""",
    "kafka listener port as text": """
apiVersion: kafka.strimzi.io/v1
kind: Kafka
metadata: {name: trailblazer}
spec:
  kafka:
    listeners: [{name: tls, port: "9093", type: internal, tls: true}]
    authorization: {type: simple, superUsers: [trailblazer-admin]}
""",
    "node pool without storage": """
apiVersion: kafka.strimzi.io/v1
kind: KafkaNodePool
metadata: {name: dual-role, labels: {strimzi.io/cluster: trailblazer}}
spec: {replicas: 3, roles: [controller, broker]}
""",
    "trigger authentication without key": """
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {name: intake-kafka}
spec:
  secretTargetRef: [{parameter: password, name: trailblazer-intake}]
""",
    "lag threshold as number": """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: intake}
spec:
  scaleTargetRef: {name: intake}
  minReplicaCount: 2
  maxReplicaCount: 6
  triggers:
    - type: kafka
      metadata: {bootstrapServers: k:9092, consumerGroup: g, topic: t, lagThreshold: 50}
""",
}


@pytest.mark.parametrize("name", BROKEN_MANIFESTS)
def test_validation_rejects_a_broken_manifest(name: str) -> None:
    manifest = yaml.safe_load(BROKEN_MANIFESTS[name])
    with pytest.raises(
        (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError, jsonschema.ValidationError)
    ):
        validate(manifest)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: render_kustomization is unchecked")
def test_kubectl_kustomize_renders_the_same(manifests: list[Manifest]) -> None:
    output = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True).stdout
    rendered = [m for m in yaml.safe_load_all(output) if m]

    def key(m: Manifest) -> tuple[str, str]:
        return m["kind"], m["metadata"]["name"]

    assert sorted(rendered, key=key) == sorted(manifests, key=key)


# ---- topics --------------------------------------------------------------------------------

TopicTable = dict[str, tuple[int, dict[str, str]]]
EXPECTED_TOPICS: TopicTable = {spec.name: (spec.partitions, dict(spec.config)) for spec in topics.TOPICS}


def k8s_topics(manifests: list[Manifest]) -> TopicTable:
    found: TopicTable = {}
    for name, topic in of_kind(manifests, "KafkaTopic").items():
        spec = topic["spec"]
        assert spec.get("topicName", name) == name, f"{name}: topicName differs from the resource name"
        found[name] = (spec["partitions"], {k: str(v) for k, v in spec.get("config", {}).items()})
    return found


def compose_topics() -> TopicTable:
    script = (REPO / "deploy" / "compose" / "create-topics.sh").read_text()
    table = re.search(r'^TOPICS="\n(.*?)^"', script, re.MULTILINE | re.DOTALL)
    assert table is not None, "create-topics.sh lost its TOPICS table"
    found: TopicTable = {}
    for line in table.group(1).splitlines():
        name, partitions, config = line.split()
        pairs = [] if config == "-" else [pair.split("=", 1) for pair in config.split(",")]
        found[name] = (int(partitions), dict(pairs))
    return found


def test_kafka_topics_match_shared_topics(manifests: list[Manifest]) -> None:
    assert k8s_topics(manifests) == EXPECTED_TOPICS
    for topic in of_kind(manifests, "KafkaTopic").values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "trailblazer"
        # acks=all with min.insync.replicas=2 on the cluster needs three replicas.
        assert topic["spec"]["replicas"] >= 3


def test_compose_and_kubernetes_create_the_same_topics(manifests: list[Manifest]) -> None:
    # Compose also creates the demo firm's own topics, as the local stack does; on Kubernetes a
    # firm's topics come with its onboarding.
    demo_firm = {spec.name: (spec.partitions, dict(spec.config)) for spec in local_topics()}
    assert compose_topics() == demo_firm
    assert k8s_topics(manifests) == EXPECTED_TOPICS


# ---- services ------------------------------------------------------------------------------


def settings_class(service: str) -> type[ServiceSettings]:
    """The settings class the service's create_service() builds, from its signature."""
    app = importlib.import_module(f"services.{service}.app")
    hint = typing.get_type_hints(app.create_service)["settings"]
    cls = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    assert isinstance(cls, type) and issubclass(cls, ServiceSettings)
    return cls


def service_env(service: str, container: dict[str, Any], maps: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """Every variable the container gets; None where the value comes from a Secret or the pod."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value")
    return env


def assert_env_matches_settings(service: str, env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    cls = settings_class(service)
    for name, value in env.items():
        if name.startswith("TRAILBLAZER_"):
            field = name.removeprefix("TRAILBLAZER_").lower()
            assert field in cls.model_fields, f"{service}: {name} is not a field of {cls.__name__}"
        elif name not in OTEL_VARIABLES:
            referenced = any(f"$({name})" in (other or "") for other in env.values())
            assert referenced, f"{service}: {name} is neither a setting, an OTEL variable nor used by one"
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = cls()  # the values parse as the service will parse them
    assert settings.health_host == "0.0.0.0", f"{service}: health endpoints must listen beyond loopback"
    exporters = {ep.name for ep in entry_points(group="opentelemetry_traces_exporter")}
    assert env["OTEL_TRACES_EXPORTER"] in exporters, f"{service}: exporter not installed: {sorted(exporters)}"


@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_env_names_are_settings_fields(
    service: str, manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = of_kind(manifests, "Deployment")[service]["spec"]["template"]["spec"]["containers"][0]
    env = service_env(service, container, config_maps(manifests))
    assert "TRAILBLAZER_DATABASE_URL" in env
    assert_env_matches_settings(service, env, monkeypatch)


def test_the_nightly_batch_runs_the_batch_module_with_matchings_settings(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = of_kind(manifests, "CronJob")["matching-batch"]
    assert batch["spec"]["concurrencyPolicy"] == "Forbid", "two batches would fight over the coaches lock"
    [container] = _pod_spec(batch)["containers"]  # type: ignore[index]
    [module] = container["args"]
    assert importlib.util.find_spec(module) is not None and module == "services.matching.assignment.batch"
    assert_env_matches_settings("matching", service_env("matching", container, config_maps(manifests)), monkeypatch)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_env_names_are_settings_fields(
    service: str, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (service, f"{service}-migrate"):
        with monkeypatch.context() as scoped:
            env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
            assert_env_matches_settings(service, dict(env), scoped)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_deployment_a_migration_job_and_probes(service: str, manifests: list[Manifest]) -> None:
    assert importlib.util.find_spec(f"services.{service}.__main__") is not None
    deployment = of_kind(manifests, "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] >= 2
    assert container["args"] == [f"services.{service}"]
    assert [c["args"] for c in pod["initContainers"]] == [[f"services.{service}", "migrate"]]
    job = of_kind(manifests, "Job")[f"{service}-migrate"]
    assert [c["args"] for c in job["spec"]["template"]["spec"]["containers"]] == [[f"services.{service}", "migrate"]]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    health_port = int(config_maps(manifests)["trailblazer-common"]["TRAILBLAZER_HEALTH_PORT"])
    assert [p["containerPort"] for p in container["ports"] if p["name"] == "health"] == [health_port]
    # SIGTERM lets the handler in flight finish, then drains the outbox: the grace period must cover both.
    defaults = settings_class(service)()
    assert pod["terminationGracePeriodSeconds"] >= max(30, defaults.graceful_timeout_s + defaults.shutdown_drain_s)
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    pdb = of_kind(manifests, "PodDisruptionBudget")[service]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


async def test_the_probe_paths_are_the_ones_shared_health_serves(manifests: list[Manifest]) -> None:
    paths = set()
    for deployment in of_kind(manifests, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                paths.add(container[probe]["httpGet"]["path"])
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = HealthServer("127.0.0.1", port, {})
    await server.start()
    try:
        statuses = {path: await _http_status(port, path) for path in sorted(paths)}
    finally:
        await server.stop()
    assert statuses == {"/health/live": 200, "/health/ready": 503}  # 503: "starting", not "unknown path"


async def _http_status(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def test_pods_run_as_the_image_user_on_a_read_only_root(manifests: list[Manifest]) -> None:
    image_user = dockerfile_instructions()["USER"][-1].split(":")[0]
    pods = [m for m in manifests if _pod_spec(m) is not None]
    assert len(pods) == 2 * len(SERVICES) + 1  # a Deployment and a migration Job each, matching's batch
    for manifest in pods:
        pod = _pod_spec(manifest)
        assert pod is not None
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == image_user
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in _containers(manifest):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_secret_template_holds_no_real_secret(manifests: list[Manifest]) -> None:
    database = of_kind(manifests, "Secret")["trailblazer-database"]["stringData"]
    assert set(database) == set(SERVICES)
    for service, url in database.items():
        assert "CHANGE-ME" in url
        assert url.rsplit("/", 1)[1].split("?")[0] == service  # one database per service


# ---- scaling and access ------------------------------------------------------------------


def acl_resources(user: Manifest, kind: str, operation: str) -> set[str]:
    return {
        acl["resource"]["name"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == kind and operation in acl["operations"]
    }


@pytest.mark.parametrize("service", SERVICES)
def test_keda_never_scales_beyond_the_partitions(service: str, manifests: list[Manifest]) -> None:
    scaled = of_kind(manifests, "ScaledObject")[service]
    user = of_kind(manifests, "KafkaUser")[f"trailblazer-{service}"]
    bootstrap = config_maps(manifests)["trailblazer-common"]["TRAILBLAZER_KAFKA_BOOTSTRAP"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in of_kind(manifests, "Deployment")
    assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    prefixes = {
        acl["resource"]["name"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"].get("patternType") == "prefix" and "Read" in acl["operations"]
    }
    for trigger in spec["triggers"]:
        metadata = trigger["metadata"]
        topic = metadata.get("topic")
        if topic is None:
            # A group that reads every tenant's topics by pattern: KEDA sums the lag over all of
            # them, and consumers beyond the partitions would idle (never allowed).
            assert prefixes, f"{service}: a trigger without a topic, but no tenant prefix to read"
            assert metadata["allowIdleConsumers"] == "false"
        else:
            assert spec["maxReplicaCount"] <= EXPECTED_TOPICS[topic][0], topic
            assert topic in acl_resources(user, "topic", "Read") or any(topic.startswith(p) for p in prefixes)
        assert metadata["consumerGroup"] in acl_resources(user, "group", "Read")
        assert metadata["bootstrapServers"] == bootstrap


def source_topics_and_groups(service: str) -> tuple[set[str], set[str]]:
    """Topic constants a service imports from shared.topics, and the consumer groups it names."""
    used_topics: set[str] = set()
    groups: set[str] = set()
    for path in (REPO / "services" / service).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "shared.topics":
                names = [getattr(topics, alias.name) for alias in node.names if alias.name.isupper()]
                # Full topic names; event names (care's) are tenants' topics, reached by prefix.
                used_topics |= {n for n in names if isinstance(n, str) and n.startswith("trailblazer.")}
        groups |= set(re.findall(r'(?:group_id=|GROUP = )"([^"]+)"', path.read_text()))
    return used_topics, groups


def strimzi_rules(user: Manifest) -> set[tuple[str, str, str, str]]:
    """(resource type, name, pattern, operation) of each ACL a KafkaUser declares."""
    return {
        (acl["resource"]["type"], acl["resource"]["name"], acl["resource"].get("patternType", "literal"), operation)
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }


def table_rules(acls: list[Acl]) -> set[tuple[str, str, str, str]]:
    return {
        (str(rule["resource"]["type"]), rule["resource"]["name"], rule["resource"]["patternType"], op)
        for rule in strimzi_acls(acls)
        for op in rule["operations"]
    }


@pytest.mark.parametrize("service", sorted(SERVICE_ACCESS))
def test_kafka_users_are_exactly_the_acl_table(service: str, manifests: list[Manifest]) -> None:
    """What deploy/k8s declares is what the local broker enforces (shared.acls, test_tenancy)."""
    user = of_kind(manifests, "KafkaUser")[service_user(service)]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert strimzi_rules(user) == table_rules(service_acls(service))


@pytest.mark.parametrize("service", sorted(SERVICE_ACCESS))
def test_the_acl_table_grants_what_the_code_uses(service: str) -> None:
    acls = service_acls(service)
    literal = [a for a in acls if a.pattern is Pattern.LITERAL and a.resource is Resource.TOPIC]
    reads = {a.name for a in literal if a.operation is Operation.READ}
    writes = {a.name for a in literal if a.operation is Operation.WRITE}
    used_topics, groups = source_topics_and_groups(service)
    assert groups and groups == {a.name for a in acls if a.resource is Resource.GROUP}
    assert used_topics <= reads | writes, f"{service} uses topics without an ACL: {used_topics - reads - writes}"
    assert topics.DEAD_LETTER in writes  # shared.messaging dead-letters for every service
    assert (reads | writes) <= set(EXPECTED_TOPICS)
    assert not reads & writes
    # Tenants' topics only by their roots, never All.
    prefixed = {a.name for a in acls if a.pattern is Pattern.PREFIXED}
    assert prefixed <= {topics.FIRM_PREFIX, topics.PROVIDER_PREFIX}


# ---- the cluster and the tenants ---------------------------------------------------------

TENANT_EXAMPLES = {
    "example-firm.yaml": (Kind.FIRM, "example-relocation"),
    "example-provider.yaml": (Kind.PROVIDER, "example-coaching"),
}


def tenant_examples() -> list[Manifest]:
    return [m for name in TENANT_EXAMPLES for m in yaml.safe_load_all((K8S / "tenants" / name).read_text()) if m]


def test_the_kafka_cluster_authorizes_and_has_one_super_user(manifests: list[Manifest]) -> None:
    cluster = render_kustomization(K8S / "cluster")
    [kafka] = of_kind(cluster, "Kafka").values()
    assert kafka["metadata"]["name"] == "trailblazer"
    spec = kafka["spec"]["kafka"]
    assert spec["authorization"] == {"type": "simple", "superUsers": ["trailblazer-admin"]}
    assert spec["config"]["allow.everyone.if.no.acl.found"] is False
    assert spec["config"]["auto.create.topics.enable"] is False
    assert spec["config"]["min.insync.replicas"] == 2
    # Every listener authenticates with TLS and SCRAM; the services' bootstrap names one.
    for listener in spec["listeners"]:
        assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    bootstrap = config_maps(manifests)["trailblazer-common"]["TRAILBLAZER_KAFKA_BOOTSTRAP"]
    assert bootstrap in {f"trailblazer-kafka-bootstrap:{listener['port']}" for listener in spec["listeners"]}
    # The super user has credentials and needs no ACLs; every other KafkaUser has ACLs.
    admin = of_kind(cluster, "KafkaUser")["trailblazer-admin"]
    assert admin["spec"] == {"authentication": {"type": "scram-sha-512"}}
    [pool] = of_kind(cluster, "KafkaNodePool").values()
    assert pool["spec"]["replicas"] >= 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    for user in of_kind(manifests, "KafkaUser").values():
        assert user["spec"]["authorization"]["acls"], user["metadata"]["name"]


@pytest.mark.parametrize("example", TENANT_EXAMPLES)
def test_the_tenant_examples_are_what_onboarding_renders(example: str) -> None:
    kind, tenant_id = TENANT_EXAMPLES[example]
    assert (K8S / "tenants" / example).read_text() == render_manifests(kind, tenant_id), (
        f"re-render: python -m shared.ops.tenants manifests {kind} {tenant_id} > deploy/k8s/tenants/{example}"
    )
    documents = [m for m in yaml.safe_load_all(render_manifests(kind, tenant_id)) if m]
    assert documents == tenant_manifests(kind, tenant_id)
    [user] = [m for m in documents if m["kind"] == "KafkaUser"]
    assert user["metadata"]["name"] == tenant_user(kind, tenant_id)
    assert strimzi_rules(user) == table_rules(tenant_acls(kind, tenant_id))
    tenant_topics = {
        m["spec"]["topicName"]: (m["spec"]["partitions"], m["spec"].get("config", {}))
        for m in documents
        if m["kind"] == "KafkaTopic"
    }
    assert tenant_topics == {s.name: (s.partitions, s.config) for s in topics.tenant_topic_specs(kind, tenant_id)}
    for manifest in documents:
        validate(manifest)
        assert manifest["metadata"]["labels"]["strimzi.io/cluster"] == "trailblazer"


def _secret_ref(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    for variable in container.get("env", []):
        if variable["name"] == name and "valueFrom" in variable:
            ref: dict[str, Any] = variable["valueFrom"]["secretKeyRef"]
            return ref
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_services_and_keda_reach_kafka_as_the_services_kafka_user(
    service: str, manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SASL_SSL with SCRAM-SHA-512 as the KafkaUser, its password from the Secret Strimzi's User
    Operator creates (same name, key `password`), TLS verified against the cluster CA Secret; and
    KEDA reads the lag with the very same credentials."""
    from shared.kafka_security import KafkaSecurity

    user = of_kind(manifests, "KafkaUser")[f"trailblazer-{service}"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    deployment = of_kind(manifests, "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = service_env(service, container, config_maps(manifests))
    password = _secret_ref(container, "TRAILBLAZER_KAFKA_SASL_PASSWORD")
    assert password == {"name": user["metadata"]["name"], "key": "password"}
    for name, value in env.items():
        if name == "TRAILBLAZER_KAFKA_SASL_PASSWORD":
            monkeypatch.setenv(name, "from-the-kafkauser-secret")
        elif name == "TRAILBLAZER_CARE_LINK_SECRET":
            monkeypatch.setenv(name, "from-the-trailblazer-care-secret")
        elif name.startswith("TRAILBLAZER_") and value is not None:
            monkeypatch.setenv(name, value)
    settings = settings_class(service)()
    settings.check_combinations()  # the combination a pod starts with is accepted
    security = KafkaSecurity.from_settings(settings)
    assert (security.protocol, security.mechanism, security.username) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        user["metadata"]["name"],
    )
    # The CA file is the cluster CA Secret's ca.crt, mounted read-only.
    assert security.ca_file is not None
    [mount] = [m for m in container["volumeMounts"] if security.ca_file.parent == Path(m["mountPath"])]
    assert mount.get("readOnly") is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    ca_secret = volume["secret"]["secretName"]
    assert ca_secret == "trailblazer-cluster-ca-cert"  # Strimzi: <cluster>-cluster-ca-cert
    assert volume["secret"]["items"] == [{"key": "ca.crt", "path": security.ca_file.name}]
    # Migrations need no Kafka and get no Kafka password.
    for migrate in pod["initContainers"]:
        assert _secret_ref(migrate, "TRAILBLAZER_KAFKA_SASL_PASSWORD") is None

    auths = of_kind(manifests, "TriggerAuthentication")
    for trigger in of_kind(manifests, "ScaledObject")[service]["spec"]["triggers"]:
        assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
        auth = auths[trigger["authenticationRef"]["name"]]["spec"]
        secrets = {ref["parameter"]: {"name": ref["name"], "key": ref["key"]} for ref in auth["secretTargetRef"]}
        assert secrets == {"password": password, "ca": {"name": ca_secret, "key": "ca.crt"}}
        [username] = auth["env"]
        assert username == {
            "parameter": "username",
            "name": "TRAILBLAZER_KAFKA_SASL_USERNAME",
            "containerName": container["name"],
        }


# ---- compose -------------------------------------------------------------------------------

COMPOSE_SPEC = REPO / "deploy" / "compose" / "compose-spec.json"


def validate_compose(document: dict[str, Any]) -> None:
    schema = json.loads(COMPOSE_SPEC.read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    validate_compose(compose)


def test_compose_validation_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["intake"]["depends_on"]["intake-migrate"]["condition"] = "service_finished"
    with pytest.raises(jsonschema.ValidationError):
        validate_compose(broken)


def _docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _docker_compose_works(), reason="no `docker compose` here; the JSON Schema check still runs")
def test_docker_compose_config_accepts_the_file_and_rejects_a_broken_one(tmp_path: Path) -> None:
    def config(path: Path) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-f", str(path), "--project-directory", str(REPO), "config", "--quiet"]
        return subprocess.run(command, capture_output=True, text=True)

    accepted = config(COMPOSE)
    assert accepted.returncode == 0, accepted.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: service_finished", 1))
    assert config(broken).returncode != 0


def test_compose_runs_everything_the_docs_promise(compose: dict[str, Any]) -> None:
    services = compose["services"]
    infrastructure = {"kafka", "kafka-topics", "postgres", "jaeger", "mailpit", "prometheus", "grafana"}
    assert set(services) == infrastructure | set(SERVICES) | {f"{s}-migrate" for s in SERVICES}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    assert services["kafka-topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for service in SERVICES:
        migrate, run = services[f"{service}-migrate"], services[service]
        assert migrate["command"] == [f"services.{service}", "migrate"]
        assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert run["command"] == [f"services.{service}"]
        assert run["depends_on"][f"{service}-migrate"] == {"condition": "service_completed_successfully"}
        assert run["depends_on"]["kafka-topics"] == {"condition": "service_completed_successfully"}
        assert "/health/ready" in " ".join(run["healthcheck"]["test"])
        assert run["read_only"] is True
    for name in ("matching", "matching-migrate"):
        assert services[name]["environment"]["TRAILBLAZER_SAMPLE_CATALOG"] == "true"
    # Prometheus scrapes each service's /metrics on the port its health check uses.
    scrape = yaml.safe_load((REPO / "deploy" / "compose" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]}
    assert targets == {service: [f"{service}:8100"] for service in SERVICES}
    mounted = {volume.split(":")[0] for volume in services["grafana"]["volumes"]}
    assert {"./deploy/compose/grafana/provisioning", "./deploy/compose/grafana/dashboards"} <= mounted


def test_compose_databases_are_the_ones_the_init_script_creates(compose: dict[str, Any]) -> None:
    init = (REPO / "deploy" / "compose" / "postgres-init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", init))
    assert created == {(s, s) for s in SERVICES}
    for service in SERVICES:
        url = compose["services"][service]["environment"]["TRAILBLAZER_DATABASE_URL"]
        assert url == f"postgresql://{service}:{service}@postgres:5432/{service}"
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                # Grafana's provisioning and dashboards are directories; everything else a file.
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"


# ---- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> dict[str, list[str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword.upper(), []).append(" ".join(rest.split()))
    return instructions


def docker_context_admits(path: str) -> bool:
    """.dockerignore semantics for our patterns: the last matching pattern decides."""
    admitted = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/").removeprefix("**/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes) or fnmatch.fnmatch(parts[-1], pattern):
            admitted = negate
    return admitted


def test_the_dockerfile_builds_one_image_for_every_service() -> None:
    instructions = dockerfile_instructions()
    assert "PYTHON_IMAGE=python:3.11-slim" in instructions["ARG"]
    assert [line.split()[0] for line in instructions["FROM"]] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert any("pip install" in run and "uv==" in run for run in instructions["RUN"])
    assert "uv sync --frozen --no-default-groups" in instructions["RUN"]
    assert instructions["ENTRYPOINT"] == ['["python", "-m"]']
    assert instructions["CMD"] == ['["services.intake"]']
    user = instructions["USER"][-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    copied = [c.split()[:-1] for c in instructions["COPY"] if not c.startswith("--from")]
    sources = [source for sources in copied for source in sources]
    assert {"pyproject.toml", "uv.lock", "shared", "services"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), source
        assert docker_context_admits(source), f".dockerignore keeps {source} out of the build context"
    for excluded in (".venv/bin/python", ".stack/postgres", "tests/unit/test_contracts.py", "deploy/local/stack.py"):
        assert not docker_context_admits(excluded), excluded
    env = dict(pair.split("=", 1) for line in instructions["ENV"] for pair in line.split())
    fields = ServiceSettings.model_fields
    assert all(k.removeprefix("TRAILBLAZER_").lower() in fields for k in env if k.startswith("TRAILBLAZER_"))
    exporters = {ep.name for ep in entry_points(group="opentelemetry_traces_exporter")}
    assert env["OTEL_TRACES_EXPORTER"] in exporters
