"""`arpi-logs`: show and follow the live log of a running arpi (admin only).

Logs in with a device token and an access code (as the web UI does) or takes a
user token, reads `GET /api/logs` with the given filters, prints the records and
exits; `--follow` then keeps printing new records from the `log_record`
Socket.IO event (which needs the device token), or by polling the endpoint when
only a user token was given. Colours by level when stdout is a terminal.

The access code is read from `ARPI_ACCESS_CODE` or asked for on the terminal; it
is never accepted on the command line, where `ps` would show it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import json
import os
import sys
from typing import Any, TextIO

import aiohttp

from arpi.logs import LEVELS, matches

__all__ = ["format_record", "main"]

_COLOURS = {
    "debug": "\x1b[2m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;41;37m",
}
_RESET = "\x1b[0m"
_SKIP = ("timestamp", "level", "logger", "event", "seq")
_RENEW_EVERY = 300.0  # seconds; user tokens expire after 900


class CliError(Exception):
    """Ends the program with this message and exit status 1."""


def format_record(record: dict[str, Any], colour: bool) -> str:
    """One line: time, level, logger, event, then key=value pairs."""
    level = str(record.get("level", "info"))
    head = (
        f"{record.get('timestamp', '')} {level.upper():<8} "
        f"{record.get('logger', '')}: {record.get('event', '')}"
    )
    rest = " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"
        for k, v in record.items()
        if k not in _SKIP
    )
    line = f"{head} {rest}".rstrip()
    if colour and level in _COLOURS:
        return f"{_COLOURS[level]}{line}{_RESET}"
    return line


def _claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (only to learn its origin)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        data = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        raise CliError("the token is not a JWT") from None
    return data if isinstance(data, dict) else {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arpi-logs",
        description="Show the live log of a running arpi (admin users only).",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("ARPI_URL", "http://127.0.0.1:8080"),
        help="arpi's address (ARPI_URL; default http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--device-token",
        default=os.environ.get("ARPI_DEVICE_TOKEN"),
        help="device token (ARPI_DEVICE_TOKEN); logs in with the "
        "access code from ARPI_ACCESS_CODE or the terminal",
    )
    parser.add_argument(
        "--user-token",
        default=os.environ.get("ARPI_USER_TOKEN"),
        help="an admin user token (ARPI_USER_TOKEN) instead of logging in",
    )
    parser.add_argument("--since", type=int, default=0, help="records after this seq")
    parser.add_argument("--level", choices=LEVELS, help="lowest level shown")
    parser.add_argument(
        "--component", help="logger or actor name, e.g. arpi.http or alarm"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=200,
        help="how many recent records first (1-2000, default 200)",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new records until interrupted",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--cafile", help="CA or self-signed certificate for https URLs")
    return parser


class Tail:
    """The program's state: the session, the tokens, what was printed last."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.base = args.url.rstrip("/")
        self.user_token: str | None = args.user_token
        self.device_token: str | None = args.device_token
        self.last_seq = args.since
        if args.color == "always":
            self.colour = True
        elif args.color == "never" or args.json:
            self.colour = False
        else:
            self.colour = hasattr(out, "isatty") and out.isatty()
        origin = None
        if self.device_token:
            origin = _claims(self.device_token).get("origin")
        self.origin = origin if isinstance(origin, str) and origin else self.base
        self.session: aiohttp.ClientSession | None = None
        self.ssl: Any = None
        if args.cafile:
            import ssl

            self.ssl = ssl.create_default_context(cafile=args.cafile)

    def emit(self, record: dict[str, Any]) -> None:
        seq = record.get("seq")
        if isinstance(seq, int):
            if seq <= self.last_seq:
                return
            self.last_seq = seq
        if not matches(record, 0, self.args.level, self.args.component):
            return
        if self.args.json:
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            if record.get("stream_dropped"):
                self.out.write(f"... {record['stream_dropped']} records skipped\n")
            self.out.write(format_record(record, self.colour) + "\n")
        self.out.flush()

    async def login(self) -> None:
        if self.user_token:
            return
        if not self.device_token:
            raise CliError("give --device-token (with an access code) or --user-token")
        code = os.environ.get("ARPI_ACCESS_CODE")
        if not code:
            if not sys.stdin.isatty():
                raise CliError("set ARPI_ACCESS_CODE (no terminal to ask on)")
            code = getpass.getpass("access code: ")
        assert self.session is not None
        async with self.session.post(
            f"{self.base}/api/user/authenticate",
            json={"device_token": self.device_token, "access_code": code},
            headers={
                "Authorization": f"Bearer {self.device_token}",
                "Origin": self.origin,
            },
        ) as resp:
            body = await resp.json(content_type=None)
        if resp.status != 200:
            message = body.get("error") if isinstance(body, dict) else None
            raise CliError(f"login failed: {message or resp.status}")
        if not isinstance(body, dict) or not isinstance(body.get("user_token"), str):
            raise CliError("login failed: wrong access code")
        self.user_token = body["user_token"]

    async def fetch(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Records after `last_seq` from the endpoint; renews the user token."""
        params: dict[str, str] = {
            "since": str(self.last_seq),
            "limit": str(limit or self.args.limit),
        }
        if self.args.level:
            params["level"] = self.args.level
        if self.args.component:
            params["component"] = self.args.component
        assert self.session is not None
        async with self.session.get(
            f"{self.base}/api/logs",
            params=params,
            headers={
                "Authorization": f"Bearer {self.user_token}",
                "Origin": self.origin,
            },
        ) as resp:
            body = await resp.json(content_type=None)
            renewed = resp.headers.get("User-Token")
        if renewed:
            self.user_token = renewed
        if resp.status != 200:
            message = body.get("error") if isinstance(body, dict) else resp.status
            raise CliError(f"GET /api/logs: {resp.status} {message}")
        records = body.get("records", []) if isinstance(body, dict) else []
        return [r for r in records if isinstance(r, dict)]

    async def follow_socket(self) -> None:
        import socketio

        client = socketio.AsyncClient(reconnection=True, http_session=self.session)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10000)

        @client.on("log_record")
        async def on_record(data: Any) -> None:
            if isinstance(data, dict) and not queue.full():
                queue.put_nowait(data)

        async def authenticate() -> None:
            reply = await client.call(
                "authenticate", {"user_token": self.user_token}, timeout=10
            )
            if not isinstance(reply, dict) or not reply.get("ok"):
                error = reply.get("error") if isinstance(reply, dict) else reply
                raise CliError(f"socket authentication failed: {error}")
            if reply.get("role") != "admin":
                raise CliError("the live log is for admin users only")

        @client.on("connect")
        async def on_connect() -> None:
            # Also after a reconnect: fill the gap over HTTP, then authenticate.
            asyncio.get_running_loop().create_task(self._resync(authenticate))

        await client.connect(
            f"{self.base}?token={self.device_token}",
            headers={"Origin": self.origin},
            socketio_path="socket.io",
            wait_timeout=10,
        )
        renew = asyncio.get_running_loop().create_task(self._renew(authenticate))
        try:
            while True:
                self.emit(await queue.get())
        finally:
            renew.cancel()
            await client.disconnect()

    async def _resync(self, authenticate: Any) -> None:
        try:
            await authenticate()
            for record in await self.fetch():
                self.emit(record)
        except CliError as exc:
            print(f"arpi-logs: {exc}", file=sys.stderr)

    async def _renew(self, authenticate: Any) -> None:
        while True:
            await asyncio.sleep(_RENEW_EVERY)
            for record in await self.fetch():  # also renews the user token
                self.emit(record)
            await authenticate()

    async def follow_poll(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            for record in await self.fetch():
                self.emit(record)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(connect=10, sock_read=60)
        connector = aiohttp.TCPConnector(ssl=self.ssl) if self.ssl else None
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector
        ) as session:
            self.session = session
            await self.login()
            for record in await self.fetch():
                self.emit(record)
            if not self.args.follow:
                return
            if self.device_token:
                await self.follow_socket()
            else:
                await self.follow_poll()


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.limit <= 2000:
        print("arpi-logs: --limit must be between 1 and 2000", file=sys.stderr)
        return 2
    if args.since < 0:
        print("arpi-logs: --since must not be negative", file=sys.stderr)
        return 2
    try:
        tail = Tail(args, out or sys.stdout)
        asyncio.run(tail.run())
    except CliError as exc:
        print(f"arpi-logs: {exc}", file=sys.stderr)
        return 1
    except aiohttp.ClientError as exc:
        print(f"arpi-logs: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
