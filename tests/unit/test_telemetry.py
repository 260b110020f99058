import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter

from shared.telemetry import _exporter_names, _load_exporter


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
