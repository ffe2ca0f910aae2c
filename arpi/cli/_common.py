"""Argument parsing shared by `arpi` and `arpi-simulate`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import structlog

from arpi.config import ConfigError, Settings, load_settings
from arpi.logs import configure_logging

__all__ = ["base_parser", "settings_from_args", "fail"]


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="data directory (ARPI_DATA_DIR)")
    parser.add_argument("--host", help="address to listen on (ARPI_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (ARPI_PORT)")
    parser.add_argument(
        "--log-format", choices=("json", "console"), help="log line format"
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error", "critical"),
        help="lowest level written",
    )
    return parser


def settings_from_args(args: argparse.Namespace, **fixed: Any) -> Settings:
    """Load settings with the command-line values on top; exits 2 on a bad value."""
    overrides = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "log_format": args.log_format,
        "log_level": args.log_level,
        **fixed,
    }
    try:
        return load_settings(config_file=args.config, overrides=overrides)
    except ConfigError as exc:
        wanted = args.log_format or os.environ.get("ARPI_LOG_FORMAT", "")
        configure_logging(wanted if wanted in ("json", "console") else "console")
        fail("invalid_configuration", str(exc), code=2)
        raise AssertionError("unreachable")  # pragma: no cover


def fail(event: str, problem: str, code: int = 1) -> None:
    """Log one clear line naming the problem, then exit with `code`."""
    structlog.get_logger("arpi.cli").error(event, problem=problem)
    sys.exit(code)
