"""The local stack's mail sink: a real SMTP server (aiosmtpd) on loopback that stores every
message it accepts as `<state>/mail/<n>-<message-id>.eml`, so the demo and the tests read what
notifications actually sent. Run alone with `python -m deploy.local.mailbox <port> <dir>`.

The stack's mailbox takes anyone, in plain text. `mailbox_controller` can also require a login
(AUTH PLAIN/LOGIN), over STARTTLS or implicit TLS: the transport-security tests use that."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from deploy.local.config import StackConfig
from deploy.local.probes import ensure_port_free, tcp_open, wait_ready
from deploy.local.processes import read_pid, spawn, stop_processes
from deploy.local.tls import LocalCertificates

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
        # Who logged in, and from which connection (host, port), per accepted message; for the tests.
        self.logins: list[str | None] = []
        self.peers: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._count += 1
        found = re.search(rb"^Message-ID:\s*<([^>]+)>", envelope.content, re.MULTILINE | re.IGNORECASE)
        label = re.sub(r"[^A-Za-z0-9.@-]", "_", found.group(1).decode() if found else "no-id")[:120]
        path = self._directory / f"{time.time_ns()}-{self._count:05d}-{label}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(envelope.content)
        tmp.rename(path)  # readers never see half a message
        login = getattr(session, "auth_data", None)
        self.logins.append(login if isinstance(login, str) else None)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def mailbox_controller(
    smtp_port: int,
    directory: Path,
    *,
    certificates: LocalCertificates | None = None,
    implicit_tls: bool = False,
    credentials: tuple[str, str] | None = None,
) -> Any:
    """An aiosmtpd Controller (not started) storing into `directory`. With `certificates`, TLS:
    STARTTLS, required before anything else, or with `implicit_tls` TLS from the first byte.
    With `credentials`, a login is required before MAIL (and, over STARTTLS, only after it).
    Its handler's `logins` lists who sent each message."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user_ok = hmac.compare_digest(auth_data.login, credentials[0].encode())
        password_ok = hmac.compare_digest(auth_data.password, credentials[1].encode())
        return AuthResult(success=user_ok and password_ok, handled=False, auth_data=auth_data.login.decode())

    tls_context: ssl.SSLContext | None = None
    if certificates is not None:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(certificates.server_cert, certificates.server_key)
    options: dict[str, Any] = {}
    if tls_context is not None and not implicit_tls:
        options |= {"tls_context": tls_context, "require_starttls": True}
    if credentials is not None:
        # auth_require_tls counts STARTTLS only; over implicit TLS the session is encrypted anyway
        # (aiosmtpd warns about the combination all the same).
        options |= {"authenticator": authenticate, "auth_required": True, "auth_require_tls": not implicit_tls}
        if implicit_tls:
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)
    return Controller(
        _StoreHandler(directory),
        hostname="127.0.0.1",
        port=smtp_port,
        ssl_context=tls_context if implicit_tls else None,
        **options,
    )


async def _serve(smtp_port: int, directory: Path) -> None:
    controller = mailbox_controller(smtp_port, directory)
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
