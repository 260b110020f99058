"""Liveness and readiness over plain HTTP, for the local runner and Kubernetes probes.

`GET /metrics` answers the service's Prometheus metrics (shared/metrics.py).
`GET /health/live` answers 200 while the event loop runs. `GET /health/ready` answers 200 only
once start-up finished, while no shutdown is under way, and while every check (broker, database,
consumers running) passes; otherwise 503 with the state and the failing checks. The server starts
before the service waits for its dependencies, so a probe sees "starting" instead of silence.

The same port serves the platform's AsyncAPI document: `GET /asyncapi` as a page (AsyncAPI's viewer),
`GET /asyncapi.json` as the document (`shared/contracts/asyncapi.json`, generated from the code).
"""

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import metrics

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]
_CHECK_TIMEOUT_S = 3.0
ASYNCAPI = Path(__file__).parent / "contracts" / "asyncapi.json"


def asyncapi_page(document: str) -> str:
    """An AsyncAPI document as one HTML page (FastStream's page: AsyncAPI's viewer from its CDN)."""
    from faststream.specification.asyncapi.site import get_asyncapi_html

    class Rendered:  # what the page needs of a specification
        title = json.loads(document)["info"]["title"]

        def to_json(self) -> str:
            return document

    return get_asyncapi_html(Rendered(), try_it_out=False)  # type: ignore[arg-type]


@functools.cache
def _asyncapi() -> tuple[bytes, bytes]:
    """The document and its page, read once."""
    document = ASYNCAPI.read_text()
    return document.encode(), asyncapi_page(document).encode()


async def _passes(check: Check) -> bool:
    try:
        await asyncio.wait_for(check(), timeout=_CHECK_TIMEOUT_S)
        return True
    except Exception:
        return False


class HealthServer:
    def __init__(self, host: str, port: int, checks: dict[str, Check]) -> None:
        self._host = host
        self._port = port
        self._checks = checks
        self._server: asyncio.Server | None = None
        self.state = "starting"

    def add_checks(self, checks: dict[str, Check]) -> None:
        self._checks = {**self._checks, **checks}

    def mark_ready(self) -> None:
        self.state = "ready"

    def mark_draining(self) -> None:
        """From SIGTERM on: out of the load balancer while in-flight work finishes."""
        self.state = "draining"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info(
            "health endpoints and metrics on http://%s:%d/{health/live,health/ready,metrics}", self._host, self._port
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            path = request_line.decode("latin-1").split(" ")[1] if request_line.count(b" ") >= 2 else ""
            if path == "/metrics":
                status, content_type, payload = "200 OK", CONTENT_TYPE_LATEST, generate_latest(metrics.REGISTRY)
            elif path in ("/asyncapi", "/asyncapi.json"):
                status, content_type, payload = _document(path)
            else:
                status, body = await self._answer(path)
                content_type, payload = "application/json", json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str) -> tuple[str, dict[str, object]]:
        if path == "/health/live":
            return "200 OK", {"status": "live"}
        if path == "/health/ready":
            results = {name: await _passes(check) for name, check in self._checks.items()}
            ready = self.state == "ready" and all(results.values())
            body = {"ready": ready, "state": self.state, "checks": results}
            return ("200 OK" if ready else "503 Service Unavailable"), body
        return "404 Not Found", {"error": "unknown path"}


def _document(path: str) -> tuple[str, str, bytes]:
    try:
        document, page = _asyncapi()
    except OSError:
        return "404 Not Found", "application/json", b'{"error": "no AsyncAPI document in this build"}'
    if path == "/asyncapi.json":
        return "200 OK", "application/json", document
    return "200 OK", "text/html; charset=utf-8", page
