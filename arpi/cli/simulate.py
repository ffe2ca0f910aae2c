"""`arpi-simulate`: the whole system on a laptop, every hardware actor simulated."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from arpi.cli._common import base_parser, settings_from_args
from arpi.config import default_data_dir
from arpi.logs import configure_logging
from arpi.sim.cli import add_arguments, run_simulator


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "arpi-simulate",
        "Run arpi with simulated hardware and an embedded PostgreSQL, "
        "listening on 127.0.0.1:8080 unless told otherwise.",
    )
    parser.add_argument(
        "--clock",
        default=None,
        help="real (default), manual, or fast=<factor>",
    )
    add_arguments(parser)  # --demo, --scenario, --smtp-port, --no-console
    args = parser.parse_args(argv)
    fixed: dict[str, object] = {"simulate": True, "board": "sim"}
    if args.clock:
        fixed["clock"] = args.clock
    if args.data_dir is None and not os.environ.get("ARPI_DATA_DIR"):
        fixed["data_dir"] = Path(str(default_data_dir()) + "-simulate")
    if args.log_format is None and not os.environ.get("ARPI_LOG_FORMAT"):
        fixed["log_format"] = "console"
    settings = settings_from_args(args, **fixed)
    configure_logging(settings.log_format, settings.log_level)
    return asyncio.run(run_simulator(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
