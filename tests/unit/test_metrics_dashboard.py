"""The provisioned Grafana dashboard and the Prometheus alert rules ask only for metrics the
services export, and by labels those metrics have."""

import json
import re
from pathlib import Path

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

from shared import metrics

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"
# Metric names in PromQL: identifiers not followed by "(" (functions) nor inside {...} or by (...).
_FUNCTIONS = {"sum", "max", "min", "rate", "increase", "histogram_quantile", "by", "le", "avg"}


def exported() -> dict[str, set[str]]:
    """Every series name the services expose, with its label names."""
    registry = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=registry, app_name="x")
    names: dict[str, set[str]] = {}
    for reg in (registry, metrics.REGISTRY):
        for family in reg.collect():
            labels = set(getattr(reg._names_to_collectors[family.name], "_labelnames", ()))
            for suffix in ("", "_total", "_bucket", "_count", "_sum"):
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def _expressions() -> list[str]:
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "trailblazer.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load((COMPOSE / "prometheus-alerts.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return exprs


@pytest.mark.parametrize("expr", _expressions())
def test_every_query_names_an_exported_metric_and_its_labels(expr: str) -> None:
    known = exported()
    without_matchers = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # label matchers, ranges
    grouped = re.findall(r"by \(([^)]*)\)", expr)
    without_groups = re.sub(r"by \([^)]*\)", "", without_matchers)
    names = [n for n in re.findall(r"[a-z_][a-z0-9_]*", without_groups) if n not in _FUNCTIONS and not n.isdigit()]
    assert names, expr
    for name in names:
        assert name in known, f"{name} in {expr!r} is not exported"
    labels = {label.strip() for group in grouped for label in group.split(",")}
    matchers = set(re.findall(r"([a-z_]+)=", expr))
    scrape_labels = {"job", "instance"}
    for label in labels | matchers:
        assert label in scrape_labels or any(label in known[name] for name in names), f"label {label} in {expr!r}"


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "trailblazer.json").read_text())
    source = yaml.safe_load((COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert uids == {source["datasources"][0]["uid"]}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
