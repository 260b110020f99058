"""Readiness checks and bounded waits shared by the components."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from deploy.local.config import StackConfig
from deploy.local.processes import StackError, log_tail, pid_alive

T = TypeVar("T")

_POLL_S = 0.25


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even when the caller already runs an event loop
    (an async pytest fixture, say), where asyncio.run would refuse."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """aiokafka's own log lines off: a probe against a broker that is still starting makes it log
    connection errors (what fails still raises)."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def tcp_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ensure_port_free(port: int, what: str) -> None:
    """Fail early and clearly instead of letting a server die on 'address already in use'."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR so that sockets in TIME_WAIT from our own last run do not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise StackError(
                f"port {port} for {what} is already in use ({err.strerror}); "
                "is another stack or server running? See `python -m deploy.local status`."
            ) from err


def wait_ready(cfg: StackConfig, name: str, pid: int, check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` until it passes; returns the seconds waited. Fails fast if the process dies."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        if not pid_alive(pid):
            raise _not_ready(cfg, name, f"exited after {elapsed:.1f} s before it was ready")
        if elapsed > timeout:
            raise _not_ready(cfg, name, f"was not ready within {timeout:.0f} s")
        time.sleep(_POLL_S)
    return time.monotonic() - start


def _not_ready(cfg: StackConfig, name: str, what: str) -> StackError:
    path = cfg.log_path(name)
    return StackError(f"{name} {what}. Last lines of {path}:\n{log_tail(path)}")
