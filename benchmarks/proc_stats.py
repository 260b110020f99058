"""CPU seconds and peak memory of the stack's processes, read from /proc (Linux).

A component's CPU is its process tree's: the process, its live descendants, and the children it
has already reaped (`cutime`/`cstime`), so PostgreSQL's backends count for PostgreSQL even after
their connection closed. Differences of two samples give the CPU a phase cost.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class Sample:
    """CPU seconds per component, the machine's busy CPU seconds, and the machine's load."""

    cpu_s: dict[str, float]
    machine_busy_s: float
    load_average: tuple[float, float, float]

    def minus(self, earlier: Sample) -> Sample:
        names = self.cpu_s.keys() & earlier.cpu_s.keys()
        return Sample(
            {name: self.cpu_s[name] - earlier.cpu_s[name] for name in names},
            self.machine_busy_s - earlier.machine_busy_s,
            self.load_average,
        )


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses; the fields follow the last ')'.
    return text[text.rindex(")") + 2 :].split()


def _own_and_reaped_s(fields: list[str]) -> float:
    # Fields after the name, 0-based: 11 utime, 12 stime, 13 cutime, 14 cstime (clock ticks).
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_cpu_s(pid: int, children: Mapping[int, list[int]] | None = None) -> float:
    """CPU seconds of `pid` and everything below it (0 if it is gone)."""
    children = children if children is not None else _children_by_parent()
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        fields = _stat_fields(current)
        if fields is not None:
            total += _own_and_reaped_s(fields)
            stack.extend(children.get(current, ()))
    return total


def machine_busy_s() -> float:
    """All CPUs' non-idle time since boot, in seconds (the `cpu` line of /proc/stat)."""
    values = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already inside user time
    return (sum(values[:8]) - idle) / _TICKS


def sample(pids: Mapping[str, int]) -> Sample:
    children = _children_by_parent()
    cpu = {name: tree_cpu_s(pid, children) for name, pid in pids.items()}
    cpu["benchmark client"] = sum(os.times()[:4])
    return Sample(cpu, machine_busy_s(), os.getloadavg())


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB; None if it is gone."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None
