"""Prometheus for the local stack, when asked (`./dev stack start --prometheus`): Debian's
`prometheus` package (apt-get install prometheus), scraping each service's /metrics with the
same job names and alert rules as docker compose, so the dashboard's queries work here too."""

from __future__ import annotations

import json
import logging
import shutil

from deploy.local.config import SERVICES, StackConfig
from deploy.local.probes import ensure_port_free, http_ok, wait_ready
from deploy.local.processes import StackError, read_pid, spawn, stop_processes

log = logging.getLogger(__name__)

NAME = "prometheus"
_READY_TIMEOUT_S = 60.0
_REPLICAS = 3  # replicas 0..2 of each service are scraped; those not running show as down


def start_prometheus(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        pid = _launch(cfg)
    waited = wait_ready(cfg, NAME, pid, lambda: prometheus_ready(cfg), _READY_TIMEOUT_S)
    log.info("prometheus ready on %s (%.1f s)", cfg.prometheus_url, waited)


def stop_prometheus(cfg: StackConfig) -> None:
    stop_processes(cfg, [NAME])


def prometheus_ready(cfg: StackConfig) -> bool:
    return http_ok(f"{cfg.prometheus_url}/-/ready")


def scrape_config(cfg: StackConfig) -> dict[str, object]:
    rules = cfg.repo_root / "deploy" / "compose" / "prometheus-alerts.yml"
    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": service,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{cfg.health_port(service, replica)}" for replica in range(_REPLICAS)]}
                ],
            }
            for service in SERVICES
        ],
    }


def _launch(cfg: StackConfig) -> int:
    binary = shutil.which("prometheus")
    if binary is None:
        raise StackError("prometheus is not installed: `apt-get install prometheus` (Debian), or start without it")
    ensure_port_free(cfg.prometheus_port, "prometheus")
    cfg.conf_dir.mkdir(parents=True, exist_ok=True)
    config = cfg.conf_dir / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(cfg), indent=2))  # JSON is YAML
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={cfg.data_dir / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{cfg.prometheus_port}",
        "--storage.tsdb.retention.time=2d",
    ]
    return spawn(cfg, NAME, argv, cwd=cfg.state_dir)
