"""Zipkin, the trace viewer of the demo: in-memory storage, optional in tests."""

from __future__ import annotations

import logging
import os

from deploy.local.artifacts import ensure_zipkin, java_executable
from deploy.local.config import StackConfig
from deploy.local.probes import ensure_port_free, http_ok, wait_ready
from deploy.local.processes import read_pid, spawn, stop_processes

log = logging.getLogger(__name__)

NAME = "zipkin"
_READY_TIMEOUT_S = 240.0  # a JVM on a busy machine; only a bound on waiting


def start_zipkin(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        pid = _launch(cfg)
    else:
        log.info("zipkin already running (pid %d)", pid)
    waited = wait_ready(cfg, NAME, pid, lambda: zipkin_ready(cfg), _READY_TIMEOUT_S)
    log.info("zipkin ready on %s/zipkin/ (%.1f s)", cfg.zipkin_url, waited)


def stop_zipkin(cfg: StackConfig) -> None:
    stop_processes(cfg, [NAME])


def zipkin_ready(cfg: StackConfig) -> bool:
    return http_ok(f"{cfg.zipkin_url}/health")


def _launch(cfg: StackConfig) -> int:
    jar = ensure_zipkin(cfg.cache_dir)
    ensure_port_free(cfg.zipkin_port, "zipkin")
    env = {**os.environ, "QUERY_PORT": str(cfg.zipkin_port)}
    # QUERY_PORT alone listens on every interface; replacing Armeria's port list pins it to loopback.
    loopback = [
        f"--armeria.ports[0].port={cfg.zipkin_port}",
        "--armeria.ports[0].ip=127.0.0.1",
        "--armeria.ports[0].protocols[0]=http",
    ]
    argv = [java_executable(), "-Xmx256m", "-Djava.awt.headless=true", "-jar", str(jar), *loopback]
    return spawn(cfg, NAME, argv, env=env, cwd=cfg.state_dir)
