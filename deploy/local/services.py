"""The Trailblazer services as OS processes: migrate once, then run one or more replicas."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from signal import SIGINT, SIGKILL, SIGTERM

from deploy.local import kafka_access, mailbox, zipkin
from deploy.local.config import SERVICES, StackConfig, process_name
from deploy.local.probes import ensure_port_free, http_ok, wait_ready
from deploy.local.processes import (
    STOP_TIMEOUT_S,
    StackError,
    log_tail,
    open_log,
    read_pid,
    signal_group,
    spawn,
    stop_processes,
    wait_groups_gone,
)
from shared.acls import service_user

log = logging.getLogger(__name__)

_MIGRATE_TIMEOUT_S = 120.0
_READY_TIMEOUT_S = 60.0

ExtraEnv = Mapping[str, Mapping[str, str]]
# Signs the local stack's check-in links; a real deployment sets its own secret (docs/care.md).
LOCAL_CARE_LINK_SECRET = "local-stack-only-care-link-secret"


def service_env(
    cfg: StackConfig, service: str, replica: int = 0, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment plus where this service finds Kafka (signed in as its own user,
    with the ACLs shared.acls gives it), its database and Zipkin."""
    env = {
        **os.environ,
        **kafka_access.kafka_env(cfg, service_user(service)),
        "TRAILBLAZER_DATABASE_URL": cfg.database_url(service),
        "TRAILBLAZER_HEALTH_PORT": str(cfg.health_port(service, replica)),
        "OTEL_SERVICE_NAME": f"trailblazer-{service}",
        "PYTHONUNBUFFERED": "1",  # so the log shows what a crashed service printed last
        "TRAILBLAZER_SMTP_PORT": str(mailbox.port(cfg)),  # the stack's mail sink
    }
    if service == "gateway":
        env["TRAILBLAZER_GATEWAY_PORT"] = str(cfg.gateway_port(replica))
        # Firms sign in with their Kafka SCRAM user, checked by the broker's client listener.
        env["TRAILBLAZER_GATEWAY_AUTH_BOOTSTRAP"] = cfg.kafka_bootstrap
        env["TRAILBLAZER_GATEWAY_AUTH_PROTOCOL"] = kafka_access.PROTOCOL
    if service == "care":
        port = cfg.care_link_port(replica)
        env["TRAILBLAZER_CARE_HTTP_PORT"] = str(port)
        env["TRAILBLAZER_CARE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        env.setdefault("TRAILBLAZER_CARE_LINK_SECRET", LOCAL_CARE_LINK_SECRET)
        # A new firm's or provider's topics are seen within seconds, not aiokafka's 5 minutes.
        env.setdefault("TRAILBLAZER_KAFKA_METADATA_MAX_AGE_S", "5")
    if read_pid(cfg, zipkin.NAME) is not None:
        env["OTEL_TRACES_EXPORTER"] = "zipkin_json"
        env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"] = f"{cfg.zipkin_url}/api/v2/spans"
    else:
        env.setdefault("OTEL_TRACES_EXPORTER", "none")
    return {**env, **(extra_env or {})}


def start_services(
    cfg: StackConfig, replicas: Mapping[str, int] | None = None, extra_env: ExtraEnv | None = None
) -> None:
    """Migrate each service's database, start its replicas (default one each), wait until all
    report ready. Replicas already running are left alone."""
    counts = {service: 1 for service in SERVICES} | dict(replicas or {})
    extra = extra_env or {}
    started = time.monotonic()
    for service, count in counts.items():
        if any(read_pid(cfg, process_name(service, r)) is None for r in range(count)):
            run_migration(cfg, service, extra.get(service))
    pids = {
        (service, replica): start_service(cfg, service, replica, extra.get(service), wait=False)
        for service, count in counts.items()
        for replica in range(count)
    }
    for (service, replica), pid in pids.items():
        _wait_service(cfg, service, replica, pid)
    log.info("services ready (%.1f s)", time.monotonic() - started)


def start_service(
    cfg: StackConfig,
    name: str,
    replica: int = 0,
    extra_env: Mapping[str, str] | None = None,
    *,
    migrate: bool = False,
    wait: bool = True,
) -> int:
    """Start one replica (a no-op if it runs); returns its pid. `start_services` migrates; a
    restart after `kill_service` does not need to, hence `migrate` defaults to False."""
    _check_service(name)
    pname = process_name(name, replica)
    if (pid := read_pid(cfg, pname)) is not None:
        log.info("%s already running (pid %d)", pname, pid)
    else:
        ensure_port_free(cfg.health_port(name, replica), f"the {pname} health endpoint")
        if name == "gateway":
            ensure_port_free(cfg.gateway_port(replica), f"the {pname} API")
        if migrate:
            run_migration(cfg, name, extra_env)
        env = service_env(cfg, name, replica, extra_env)
        pid = spawn(cfg, pname, [sys.executable, "-m", f"services.{name}"], env=env, cwd=cfg.repo_root)
    if wait:
        _wait_service(cfg, name, replica, pid)
    return pid


def run_migration(cfg: StackConfig, name: str, extra_env: Mapping[str, str] | None = None) -> None:
    """`python -m services.<name> migrate`, to completion, its output in the service's log."""
    _check_service(name)
    log_path = cfg.log_path(name)
    started = time.monotonic()
    with open_log(cfg, name, f"migrating {name}") as out:
        result = subprocess.run(
            [sys.executable, "-m", f"services.{name}", "migrate"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=service_env(cfg, name, 0, extra_env),
            cwd=cfg.repo_root,
            timeout=_MIGRATE_TIMEOUT_S,
            check=False,
        )
    if result.returncode != 0:
        raise StackError(
            f"migrating {name} failed (exit {result.returncode}). Last lines of {log_path}:\n{log_tail(log_path)}"
        )
    log.info("%s migrated (%.1f s)", name, time.monotonic() - started)


def stop_services(cfg: StackConfig) -> None:
    """Stop every replica of every service, all at once."""
    stop_processes(cfg, [process_name(s, r) for s, r in running_replicas(cfg)])


def kill_service(cfg: StackConfig, name: str, replica: int = 0, signal: int = SIGKILL) -> None:
    """Send `signal` to one replica's process group, for fault tests. For SIGKILL, SIGTERM and
    SIGINT, wait until it is gone; other signals (SIGSTOP, say) return at once."""
    pname = process_name(name, replica)
    pid = read_pid(cfg, pname)
    if pid is None:
        raise StackError(f"{pname} is not running")
    log.info("sending signal %d to %s (pid %d)", signal, pname, pid)
    signal_group(pid, signal)
    if signal not in (SIGKILL, SIGTERM, SIGINT):
        return
    if wait_groups_gone([pid], STOP_TIMEOUT_S):
        raise StackError(f"{pname} (pid {pid}) still runs {STOP_TIMEOUT_S:.0f} s after signal {signal}")
    cfg.pid_path(pname).unlink(missing_ok=True)


def service_ready(cfg: StackConfig, name: str, replica: int = 0) -> bool:
    return http_ok(f"http://127.0.0.1:{cfg.health_port(name, replica)}/health/ready")


def running_replicas(cfg: StackConfig) -> list[tuple[str, int]]:
    """(service, replica) for every service process that has a live pid file."""
    found = []
    for pid_file in sorted(cfg.run_dir.glob("*.pid")):
        parsed = _parse_process_name(pid_file.stem)
        if parsed is not None and read_pid(cfg, pid_file.stem) is not None:
            found.append(parsed)
    return found


def _parse_process_name(pname: str) -> tuple[str, int] | None:
    service, _, replica = pname.partition("-")
    if service not in SERVICES or (replica and not replica.isdigit()):
        return None
    return service, int(replica or 0)


def _wait_service(cfg: StackConfig, name: str, replica: int, pid: int) -> None:
    pname = process_name(name, replica)
    waited = wait_ready(cfg, pname, pid, lambda: service_ready(cfg, name, replica), _READY_TIMEOUT_S)
    log.info("%s ready on 127.0.0.1:%d (%.1f s)", pname, cfg.health_port(name, replica), waited)


def _check_service(name: str) -> None:
    if name not in SERVICES:
        raise StackError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
