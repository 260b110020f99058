import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

from shared.telemetry import _exporter_names, _load_exporter, configure_tracing


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, GrpcExporter),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, HttpExporter),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, HttpExporter),
    ],
)
def test_otlp_follows_the_standard_protocol_variables(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: type
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert isinstance(_load_exporter("otlp"), expected)


def test_exporters_are_named_by_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin_json, none")
    assert _exporter_names() == ["zipkin_json"]
    assert isinstance(_load_exporter("zipkin_json"), ZipkinExporter)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert _exporter_names() == []
    with pytest.raises(RuntimeError, match="not installed"):
        _load_exporter("jaeger_thrift")


def _sql_traced() -> bool:
    return hasattr(asyncpg.Connection.execute, "__wrapped__")


@pytest.fixture
def keep_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure_tracing installs its provider for the process; not for the rest of this one."""
    monkeypatch.setattr(trace, "set_tracer_provider", lambda provider: None)


@pytest.mark.usefixtures("keep_global_provider")
def test_sql_statements_are_traced_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    configure_tracing("trailblazer-test")
    assert not _sql_traced()  # no span per statement, not even a no-op one: nothing is wrapped
    configure_tracing("trailblazer-test", trace_sql=True)
    try:
        assert _sql_traced()
    finally:
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    assert not _sql_traced()


@pytest.mark.usefixtures("keep_global_provider")
def test_without_an_exporter_spans_are_not_recorded_but_the_trace_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    with configure_tracing("trailblazer-test").get_tracer("t").start_as_current_span("handle") as handle:
        assert not handle.is_recording()
        assert handle.get_span_context().is_valid  # trace and span ids for the logs and the records
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    exporting = configure_tracing("trailblazer-test")
    with exporting.get_tracer("t").start_as_current_span("handle") as handle:
        assert handle.is_recording()
    exporting.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    with configure_tracing("trailblazer-test").get_tracer("t").start_as_current_span("handle") as handle:
        assert handle.is_recording()
