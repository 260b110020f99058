"""The local stack's mail sink: a real SMTP server (aiosmtpd) on loopback that stores every
message it accepts as `<state>/mail/<n>-<message-id>.eml`, so the demo and the tests read what
notifications actually sent. Run alone with `python -m deploy.local.mailbox <port> <dir>`."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

from deploy.local.config import StackConfig
from deploy.local.probes import ensure_port_free, tcp_open, wait_ready
from deploy.local.processes import read_pid, spawn, stop_processes

log = logging.getLogger(__name__)

NAME = "mailbox"
PORT_OFFSET = 50  # above the services' health ports: 8151 for the demo, 18151 (+ offset) in tests
_READY_TIMEOUT_S = 30.0


def port(cfg: StackConfig) -> int:
    return cfg.health_base_port + PORT_OFFSET


def mail_dir(cfg: StackConfig) -> Path:
    return cfg.state_dir / "mail"


def start_mailbox(cfg: StackConfig) -> None:
    if (pid := read_pid(cfg, NAME)) is None:
        ensure_port_free(port(cfg), "the mailbox (SMTP sink)")
        mail_dir(cfg).mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "deploy.local.mailbox", str(port(cfg)), str(mail_dir(cfg))]
        pid = spawn(cfg, NAME, argv, cwd=cfg.repo_root)
    waited = wait_ready(cfg, NAME, pid, lambda: mailbox_ready(cfg), _READY_TIMEOUT_S)
    log.info("mailbox ready on 127.0.0.1:%d, writing to %s (%.1f s)", port(cfg), mail_dir(cfg), waited)


def stop_mailbox(cfg: StackConfig) -> None:
    stop_processes(cfg, [NAME])


def mailbox_ready(cfg: StackConfig) -> bool:
    return tcp_open(port(cfg))


class _StoreHandler:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = len(list(directory.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._count += 1
        found = re.search(rb"^Message-ID:\s*<([^>]+)>", envelope.content, re.MULTILINE | re.IGNORECASE)
        label = re.sub(r"[^A-Za-z0-9.@-]", "_", found.group(1).decode() if found else "no-id")[:120]
        path = self._directory / f"{time.time_ns()}-{self._count:05d}-{label}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(envelope.content)
        tmp.rename(path)  # readers never see half a message
        return "250 Message accepted for delivery"


async def _serve(smtp_port: int, directory: Path) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_StoreHandler(directory), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


def main() -> None:
    smtp_port, directory = int(sys.argv[1]), Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(smtp_port, directory))


if __name__ == "__main__":
    main()
