"""Tracing set-up shared by all services.

The exporter is chosen by the standard `OTEL_TRACES_EXPORTER` variable (`zipkin_json` locally,
`otlp` in production, `none` to switch off), resolved through the same entry points the
OpenTelemetry SDK auto-configuration uses, so any installed exporter works without code changes.
"""

import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, TypeVar, cast

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.semconv.trace import SpanAttributes

_EXPORTER_GROUP = "opentelemetry_traces_exporter"
F = TypeVar("F", bound=Callable[..., Any])


def _exporter_names() -> list[str]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    return [name.strip() for name in names.split(",") if name.strip() and name.strip() != "none"]


def _entry_point_name(name: str) -> str:
    """`otlp` means the OTLP exporter for the protocol the standard variables ask for, as the
    SDK's own auto-configuration reads it (gRPC unless told `http/protobuf`)."""
    if name != "otlp":
        return name
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    return "otlp_proto_http" if protocol.startswith("http") else "otlp_proto_grpc"


def _load_exporter(name: str) -> SpanExporter:
    found = entry_points(group=_EXPORTER_GROUP, name=_entry_point_name(name))
    if not found:
        available = sorted(ep.name for ep in entry_points(group=_EXPORTER_GROUP))
        raise RuntimeError(f"OTEL_TRACES_EXPORTER={name!r} is not installed; available: {available}")
    exporter_class = next(iter(found)).load()
    exporter: SpanExporter = exporter_class()
    return exporter


def configure_tracing(default_service_name: str, *, trace_sql: bool = False) -> TracerProvider:
    """Install a tracer provider for this process; `OTEL_SERVICE_NAME` overrides the name.

    One span per SQL statement (`begin;`, `insert`, `commit;` ...) drowns a trace in noise: the
    spans are named for the repository operations instead (`traced`, `trace_module`), and the
    statements are traced only when asked (`TRAILBLAZER_TRACE_SQL=true`, for debugging)."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: default_service_name}
    exporters = [_load_exporter(name) for name in _exporter_names()]
    # With no exporter, nothing records the spans (a recorded span costs about twice a dropped
    # one, for nothing): the trace context still flows, so logs and records keep their trace ids.
    # OTEL_TRACES_SAMPLER, the standard variable, decides otherwise.
    sampler = ALWAYS_OFF if not exporters and not os.environ.get("OTEL_TRACES_SAMPLER") else None
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if trace_sql:
        # Statements are traced without their parameters: parameters may hold personal data.
        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    return provider


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def current_span_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.span_id, "016x") if context.is_valid else None


_tracer = trace.get_tracer("trailblazer")


def _in_a_trace() -> bool:
    return trace.get_current_span().get_span_context().is_valid


def span(name: str, **attributes: str | int | float | bool) -> AbstractContextManager[trace.Span]:
    """A child span of whatever runs now, named for what the code does (`matching.rank`). Outside
    any trace (a worker polling for work, a batch job) nothing is recorded: one root trace per
    poll would bury the assignments' traces."""
    if not _in_a_trace():
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return _tracer.start_as_current_span(name, attributes=attributes)


def record_span(name: str, carrier: Mapping[str, str], **trailblazer: int) -> AbstractContextManager[trace.Span]:
    """The span of handling one consumed record, in the record's own trace: a child of the
    context its headers carry, or the root of a new trace if they carry none (a firm's request).
    Records handled together in a batch so each stay in their own assignment's trace."""
    return _tracer.start_as_current_span(
        name,
        context=propagate.extract(carrier),
        kind=trace.SpanKind.CONSUMER,
        attributes={f"trailblazer.{key}": value for key, value in trailblazer.items()},
    )


def publish_span(topic: str, key: bytes) -> AbstractContextManager[trace.Span]:
    """The span of publishing one record (`<topic> publish`, PRODUCER), a child of whatever runs
    now (the relay restores the writer's trace). The caller injects its context into the record's
    headers, so that the consumer's `record_span` is its child."""
    attributes = {
        SpanAttributes.MESSAGING_SYSTEM: "kafka",
        SpanAttributes.MESSAGING_DESTINATION_NAME: topic,
        SpanAttributes.MESSAGING_OPERATION: "publish",
        SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY: key.decode("utf-8", "replace"),
    }
    return _tracer.start_as_current_span(f"{topic} publish", kind=trace.SpanKind.PRODUCER, attributes=attributes)


# On the spans of database work, so a trace viewer can filter them as the SQL spans were.
DB = {"db.system": "postgresql"}


def traced(name: str, **attributes: str | int | float | bool) -> Callable[[F], F]:
    """Decorator: one span per call of the coroutine function, named `name`."""

    def wrap(function: F) -> F:
        @functools.wraps(function)
        async def in_span(*args: Any, **kwargs: Any) -> Any:
            if not _in_a_trace():  # see `span`
                return await function(*args, **kwargs)
            with _tracer.start_as_current_span(name, attributes=attributes):
                return await function(*args, **kwargs)

        return cast(F, in_span)

    return wrap


def trace_module(module: ModuleType, prefix: str) -> None:
    """Wrap every public coroutine function defined in `module` (a repository) in a span named
    `<prefix>.<function>`, so a trace reads `intake.repository.save_assignment`, not `insert`.
    Called once, where the service is wired; callers reach the functions as `repository.f`."""
    for name, function in list(vars(module).items()):
        if (
            not name.startswith("_")
            and inspect.iscoroutinefunction(function)
            and function.__module__ == module.__name__
            and not getattr(function, "__traced__", False)
        ):
            wrapped = traced(f"{prefix}.{name}", **DB)(function)
            wrapped.__traced__ = True
            setattr(module, name, wrapped)
