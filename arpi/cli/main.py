"""`arpi`: the production process (drivers from configuration, systemd service)."""

from __future__ import annotations

import asyncio

import structlog

from arpi.app import Application, StartupError
from arpi.cli._common import base_parser, settings_from_args
from arpi.config import Settings
from arpi.logs import configure_logging

log = structlog.get_logger("arpi.cli")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("arpi", "Run the arpi alarm (production).")
    args = parser.parse_args(argv)
    settings = settings_from_args(args, simulate=False)
    configure_logging(settings.log_format, settings.log_level)
    return asyncio.run(run(settings))


async def run(settings: Settings, app: Application | None = None) -> int:
    """Start the process, serve until a signal, stop. Returns the exit code."""
    app = app or Application(settings)
    app.install_signal_handlers()
    try:
        await app.start()
    except StartupError as exc:
        log.error("startup_failed", problem=str(exc))
        if app.notifier is not None:
            app.notifier.status(f"startup failed: {exc}")
        return 1
    return await app.wait_stopped()


if __name__ == "__main__":
    raise SystemExit(main())
