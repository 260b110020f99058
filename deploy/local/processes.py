"""Detached processes with pid files: start, check, stop.

Every component runs in its own session (so its process group id is its pid and one signal
reaches all its children), logs to `<state>/logs/<name>.log` and is recorded in
`<state>/run/<name>.pid`. The pid file also holds the process's start time, so a pid that the
kernel has since handed to an unrelated process is recognised as stale and never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal as signals
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from deploy.local.config import StackConfig

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 20.0
_KILL_TIMEOUT_S = 5.0
_POLL_S = 0.1

# Children started by this interpreter. Holding their Popen objects lets us reap them: a dead
# child that nobody waits for stays a zombie, and a zombie still answers kill(pid, 0).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A component could not be started, reached or stopped; the message says why."""


def spawn(
    cfg: StackConfig,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start `argv` detached, appending its output to the component's log; returns its pid."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with open_log(cfg, name, f"starting {name}") as out:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    _write_pid(cfg.pid_path(name), child.pid)
    return child.pid


def open_log(cfg: StackConfig, name: str, headline: str) -> BinaryIO:
    """The component's log, opened for appending, with a dated headline separating this run."""
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.log_path(name).open("ab")
    out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {headline}\n".encode())
    out.flush()  # before a child process appends to the same file
    return out


def read_pid(cfg: StackConfig, name: str) -> int | None:
    """The pid of a live component, or None; a stale pid file is removed."""
    path = cfg.pid_path(name)
    try:
        pid_text, _, started = path.read_text().partition("\n")
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    recorded = started.strip()
    if pid_alive(pid) and (not recorded or recorded == _start_ticks(pid)):
        return pid
    path.unlink(missing_ok=True)
    return None


def pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but owned by another user
        return True
    return _proc_state(pid) != "Z"


def stop_processes(cfg: StackConfig, names: Iterable[str], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM each component's process group, wait for all together, SIGKILL what is left."""
    pids = {name: pid for name in names if (pid := read_pid(cfg, name)) is not None}
    for name, pid in pids.items():
        log.info("stopping %s (pid %d)", name, pid)
        signal_group(pid, signals.SIGTERM)
        # A group a fault test froze with SIGSTOP acts on SIGTERM only once it runs again.
        signal_group(pid, signals.SIGCONT)
    left = wait_groups_gone(pids.values(), timeout)
    for pid in left:
        log.warning("pid %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, timeout)
        signal_group(pid, signals.SIGKILL)
    if still := wait_groups_gone(left, _KILL_TIMEOUT_S):
        raise StackError(f"process groups {sorted(still)} survived SIGKILL")
    for name in pids:
        cfg.pid_path(name).unlink(missing_ok=True)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone is what we wanted
        os.killpg(pgid, sig)


def wait_groups_gone(pgids: Iterable[int], timeout: float) -> list[int]:
    """Wait until no live process is left in any of the groups; returns those still alive."""
    pending = list(pgids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [pgid for pgid in pending if _group_alive(pgid)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(_POLL_S)
    return pending


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    # The leader is usually the whole group; reaping it here also clears our own zombie.
    if pid_alive(pgid):
        return True
    _CHILDREN.pop(pgid, None)
    return any(_proc_state(pid) not in (None, "Z") for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: trust killpg, zombies and all
        return [pgid]
    return [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit() and _pgrp(entry) == pgid]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def _proc_state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _pgrp(entry: Path) -> int | None:
    fields = _stat_fields(int(entry.name))
    return int(fields[2]) if fields else None


def _start_ticks(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields else None  # field 22 of stat(5): starttime


def _write_pid(path: Path, pid: int) -> None:
    path.write_text(f"{pid}\n{_start_ticks(pid) or ''}\n")
