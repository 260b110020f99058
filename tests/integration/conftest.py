"""One real stack per test session: Apache Kafka (KRaft), PostgreSQL and Zipkin, started by the
same `deploy.local` code a developer runs, on a port range of its own.

Kafka enforces tenancy as in production (deploy/local/kafka_access.py): the tests' own tools that
read or write internal topics connect as the stack's super user (`admin_options`); what a firm
does, a firm's own client does (`firm_options`), refused whatever its ACLs do not grant."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.local import kafka_access, stack
from deploy.local.config import LOCAL_FIRMS, SERVICES, StackConfig
from shared.topics import Kind

# Spans reach Zipkin within a second instead of the SDK's default five.
SERVICE_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "300",
    "TRAILBLAZER_SAMPLE_CATALOG": "true",
    "TRAILBLAZER_METRICS_SAMPLE_S": "0.5",  # gauges follow a burst closely
    # care runs on the database clock, which the care tests advance instead of sleeping.
    "TRAILBLAZER_CARE_CLOCK": "database",
}


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    state_dir = Path(os.environ.get("TRAILBLAZER_TEST_STACK_DIR") or tmp_path_factory.mktemp("stack"))
    cfg = StackConfig.for_tests(state_dir, with_zipkin=True)
    try:
        stack.start_infra(cfg)
        stack.create_topics(cfg)
        stack.start_services(cfg, extra_env={service: SERVICE_ENV for service in SERVICES})
        yield cfg
    finally:
        stack.stop(cfg)


@pytest.fixture(scope="session")
def admin_options(local_stack: StackConfig) -> dict[str, Any]:
    """aiokafka's keyword arguments for the stack's super user: the tests' own tools."""
    return kafka_access.client_options(local_stack)


@pytest.fixture
def admin_env(local_stack: StackConfig, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """TRAILBLAZER_KAFKA_* of the super user, for operator commands run in the test's process."""
    env = kafka_access.kafka_env(local_stack)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def firm_options(local_stack: StackConfig) -> dict[str, Any]:
    """The local firm's own client (LOCAL_FIRMS[0], `firm-<id>`): what its integration may do."""
    return kafka_access.tenant_options(local_stack, Kind.FIRM, LOCAL_FIRMS[0])
