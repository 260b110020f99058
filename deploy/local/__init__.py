"""A local Trailblazer stack without Docker: PostgreSQL, Kafka, Zipkin and the services as
plain processes under `<repo>/.stack` (see StackConfig). Used by `python -m deploy.local` and by
the test session fixture (`running_stack(StackConfig.for_tests(tmp_dir))`)."""

from deploy.local.config import SERVICES, StackConfig
from deploy.local.processes import StackError
from deploy.local.stack import (
    ComponentStatus,
    create_topics,
    kill_service,
    restart_kafka,
    restart_postgres,
    running_stack,
    start_infra,
    start_service,
    start_services,
    status,
    stop,
    stop_services,
)

__all__ = [
    "SERVICES",
    "ComponentStatus",
    "StackConfig",
    "StackError",
    "create_topics",
    "kill_service",
    "restart_kafka",
    "restart_postgres",
    "running_stack",
    "start_infra",
    "start_service",
    "start_services",
    "status",
    "stop",
    "stop_services",
]
