"""Wires the gateway: its settings, migrations, consumers (the status it reports) and the HTTP
API (a worker beside the consumers) into the shared service life cycle."""

import asyncio
import contextlib
import logging
from collections.abc import Generator
from pathlib import Path

import asyncpg
import uvicorn

from shared.runtime import Service
from shared.settings import ServiceSettings

from . import handlers
from .api import WRITES, create_api
from .auth import FirmAuthenticator, kafka_probe
from .settings import GatewaySettings

log = logging.getLogger(__name__)


def create_service(settings: GatewaySettings | None = None) -> Service:
    return Service(
        name="gateway",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings or GatewaySettings(),
        workers=(serve_http,),
        publishes=WRITES,
    )


async def serve_http(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    """The API, from the moment the service is ready until it stops (then in-flight requests get
    a few seconds to finish)."""
    assert isinstance(settings, GatewaySettings)
    authenticator = FirmAuthenticator(
        kafka_probe(settings), trust_s=settings.gateway_auth_cache_s, refusal_s=settings.gateway_auth_refusal_cache_s
    )
    config = uvicorn.Config(
        create_api(pool, authenticator),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,  # the service's logging, not uvicorn's
        access_log=False,  # paths hold assignment ids; the log line per request is ours to choose
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    log.info("gateway API on http://%s:%d (OpenAPI at /openapi.json)", settings.gateway_host, settings.gateway_port)
    serving = asyncio.create_task(server.serve(), name="gateway-http")
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True  # stop accepting, let requests in flight finish
        await asyncio.wait([serving], timeout=config.timeout_graceful_shutdown)
        raise


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # SIGTERM and SIGINT belong to the service's life cycle, which stops this server
