"""The partner's signed one-time check-in link: `GET /care/check-in/<token>` shows the question,
`POST` (form fields `score` 1-10 and an optional `comment`) records the pulse once.

GET never records: mail scanners and link previews fetch links. The token is an HMAC over the
check-in id and its expiry (domain.sign_link); one-time use is the database's part, so a second
answer, or one after the assignment stopped, is refused whichever replica it reaches.
"""

import asyncio
import html
import logging
from urllib.parse import parse_qs

import asyncpg
from opentelemetry import trace

from . import domain, repository
from .handlers import Handlers
from .settings import CareSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

_PREFIX = "/care/check-in/"
_MAX_BODY = 8192


class LinkServer:
    def __init__(self, pool: asyncpg.Pool, settings: CareSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._handlers = Handlers(settings)

    async def run(self) -> None:
        server = await asyncio.start_server(self._serve, self._settings.care_http_host, self._settings.care_http_port)
        log.info("check-in links answered on http://%s:%d%s<token>", *server.sockets[0].getsockname()[:2], _PREFIX)
        async with server:
            await server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, body = await asyncio.wait_for(_read_request(reader), timeout=10)
            status, page = await self.answer(method, path, body)
        except (TimeoutError, ValueError, ConnectionError):
            status, page = "400 Bad Request", _page("Bad request", "The request could not be read.")
        payload = page.encode()
        try:
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: bytes) -> tuple[str, str]:
        if not path.startswith(_PREFIX):
            return "404 Not Found", _page("Not found", "There is nothing here.")
        token = path.removeprefix(_PREFIX).split("?")[0]
        database_clock = self._settings.care_clock == "database"
        async with self._pool.acquire() as connection:
            now = await repository.now(connection, database_clock=database_clock)
        try:
            check_in_id = domain.read_link(token, self._settings.care_link_secret.get_secret_value(), now)
        except domain.BadLink as bad:
            return "403 Forbidden", _page("Link not valid", f"This link cannot be used ({bad}).")
        if method == "GET":
            return "200 OK", _form(path)
        if method != "POST":
            return "405 Method Not Allowed", _page("Not allowed", "Use the form.")
        fields = parse_qs(body.decode("utf-8", "replace"))
        try:
            score = int(fields.get("score", [""])[0])
        except ValueError:
            score = 0
        if not 1 <= score <= 10:
            return "422 Unprocessable Content", _page("Score missing", "Please choose a number from 1 to 10.")
        comment = fields.get("comment", [""])[0].strip()[:1000].replace("\x00", "")
        with tracer.start_as_current_span("care check-in answered"):
            async with self._pool.acquire() as connection, connection.transaction():
                check_in = await repository.check_in_answerable(connection, check_in_id)
                if check_in is None:
                    return "404 Not Found", _page("Not found", "This check-in is unknown.")
                await repository.lock_assignment(connection, check_in["assignment_id"])
                known = await repository.assignment(connection, check_in["assignment_id"])
                if known is None or known["stopped"] is not None:
                    return "410 Gone", _page("Closed", "This check-in is closed.")
                pulse = await self._handlers.record_pulse(
                    connection, known, check_in_id=check_in_id, score=score, comment=comment, source="link"
                )
        if pulse is None:
            return "409 Conflict", _page("Already answered", "This check-in was answered already. Thank you.")
        return "200 OK", _page("Thank you", "Your answer was recorded.")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    request_line = (await reader.readline()).decode("latin-1").split(" ")
    if len(request_line) < 3:
        raise ValueError("no request line")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length > _MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return request_line[0], request_line[1], body


def _page(title: str, text: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )


def _form(action: str) -> str:
    options = "".join(
        f"<label><input type='radio' name='score' value='{n}' required> {n}</label> " for n in range(1, 11)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Check-in</title></head><body>"
        "<h1>How are you doing? / Wie geht es Ihnen? / Comment allez-vous ? / ¿Cómo está? / Hvordan går det?</h1>"
        f"<form method='post' action='{html.escape(action)}'><p>1 … 10: {options}</p>"
        "<p><textarea name='comment' maxlength='1000' rows='4' cols='60'></textarea></p>"
        "<p><button type='submit'>OK</button></p></form></body></html>"
    )
