"""A new operator's first hour, with the real commands: `./dev demo` on a fresh stack directory,
the operator commands it prints, Ctrl-C; then `./dev demo | tee demo.log` on the kept stack, and
Ctrl-C again. Afterwards nothing of the stack runs.

The demo's own stack runs on ports of its own (`TRAILBLAZER_STACK_PORT_OFFSET`), beside the test
session's stack and any developer's demo."""

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local import kafka, mailbox, postgres, zipkin
from deploy.local.config import REPO_ROOT, SERVICES, StackConfig
from deploy.local.probes import tcp_open
from deploy.local.processes import read_pid

pytestmark = pytest.mark.integration

_DEMO_READY = "Ctrl-C stops the stack"
_DEMO_TIMEOUT_S = 900.0


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    offset = 30 + int(os.environ.get("TRAILBLAZER_TEST_PORT_OFFSET", "0"))
    env = {
        **os.environ,
        "TRAILBLAZER_STACK_DIR": str(tmp_path / "stack"),
        "TRAILBLAZER_STACK_PORT_OFFSET": str(offset),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("TRAILBLAZER_DATABASE_URL", "TRAILBLAZER_KAFKA_BOOTSTRAP"):
        env.pop(name, None)
    try:
        yield env
    finally:
        # Whatever a failed assertion left behind.
        subprocess.run(["./dev", "stack", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, check=False)


def _stack_config(env: dict[str, str]) -> StackConfig:
    offset = int(env["TRAILBLAZER_STACK_PORT_OFFSET"])
    return StackConfig(
        state_dir=Path(env["TRAILBLAZER_STACK_DIR"]),
        kafka_port=9092 + offset,
        controller_port=9093 + offset,
        postgres_port=15432 + offset,
        zipkin_port=9411 + offset,
        health_base_port=8101 + offset,
    )


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own: the Ctrl-C below reaches every process of that "terminal", as a
    # terminal's reaches its foreground process group.
    return subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + _DEMO_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if _DEMO_READY in line:
            return "".join(lines)
    raise AssertionError("the demo did not get ready:\n" + "".join(lines[-60:]))


def _ctrl_c(process: subprocess.Popen[str]) -> str:
    os.killpg(process.pid, signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    return rest


def _ops(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["./dev", "ops", *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _assert_nothing_runs(cfg: StackConfig) -> None:
    names = [postgres.NAME, kafka.NAME, zipkin.NAME, mailbox.NAME, *SERVICES]
    assert {name: read_pid(cfg, name) for name in names} == dict.fromkeys(names)
    ports = [cfg.kafka_port, cfg.postgres_port, cfg.zipkin_port, *(cfg.health_port(s) for s in SERVICES)]
    assert [port for port in ports if tcp_open(port)] == []


@pytest.mark.timeout(1800)  # two stack starts on a shared, busy machine
def test_demo_twice_on_a_kept_stack_with_its_commands_and_ctrl_c_through_tee(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    cfg = _stack_config(demo_env)

    first = _start(["./dev", "demo"], demo_env)
    output = _read_until_ready(first)
    assert "firms: nordic-relocation" in output
    assert "rejected record" in output
    # The commands the demo prints work as printed, against the demo's stack.
    report = _ops(demo_env, "report", "--firm", "nordic-relocation")
    assert report.returncode == 0, report.stderr
    assert "Duty-of-information report for nordic-relocation" in report.stdout
    assert "./dev ops report --firm nordic-relocation" in output
    listing = _ops(demo_env, "deliveries", "list", "--firm", "nordic-relocation", "--status", "all")
    assert listing.returncode == 0, listing.stderr
    assert "partner" in listing.stdout and "@" not in listing.stdout  # roles, never addresses
    letters = _ops(demo_env, "dead-letters", "list")
    assert letters.returncode == 0, letters.stderr
    assert "intake" in letters.stdout
    [assignment_id] = re.findall(r"\./dev ops journey (\S+)", output)
    journey = _ops(demo_env, "journey", assignment_id)
    assert journey.returncode == 0, journey.stdout + journey.stderr
    assert f"trace: {cfg.zipkin_url}/zipkin/traces/" in journey.stdout
    assert "intake" in journey.stdout and "matching" in journey.stdout and "notifications" in journey.stdout
    parked = _ops(demo_env, "outbox", "list")
    assert parked.returncode == 0, parked.stderr
    assert parked.stdout.count("no parked outbox rows") == len(SERVICES), parked.stdout  # one per service
    with urllib.request.urlopen(f"http://127.0.0.1:{cfg.health_port('intake')}/metrics", timeout=5) as response:
        assert b"trailblazer_handler_duration_seconds_count" in response.read()
    rest = _ctrl_c(first)
    assert first.returncode == 0, rest
    assert "stack stopped" in rest
    _assert_nothing_runs(cfg)

    # Again, on the kept stack, with stdout through `tee`: Ctrl-C ends tee first.
    log = tmp_path / "demo.log"
    second = _start(["bash", "-c", f"./dev demo | tee {log}"], demo_env)
    output = _read_until_ready(second)
    assert output.count("=== ") >= 4, output  # three assignments and this run's own rejection
    _ctrl_c(second)
    _assert_nothing_runs(cfg)
    assert _DEMO_READY in log.read_text()
