"""`arpi-service`: install arpi as a systemd service on this machine."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from arpi.ops.unit import HARDWARE_GROUPS, InstallError, install_service

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arpi-service", description="Install arpi as a systemd service."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser(
        "install",
        help="write arpi.service and the environment file (run as root)",
        description=(
            "Write the unit file and, unless it exists, the environment file with "
            "a fresh ARPI_SECRET (mode 0600, owned by the service user). The user "
            "must exist. Then run: systemctl daemon-reload && systemctl enable "
            "--now arpi.service (or pass --enable)."
        ),
    )
    install.add_argument("--user", default="arpi", help="service user (default arpi)")
    install.add_argument(
        "--env-file",
        type=Path,
        default=Path("/etc/arpi/arpi.env"),
        help="environment file with the secrets (default /etc/arpi/arpi.env)",
    )
    install.add_argument(
        "--unit-dir",
        type=Path,
        default=Path("/etc/systemd/system"),
        help="where the unit goes (default /etc/systemd/system)",
    )
    install.add_argument(
        "--exec",
        dest="exec_path",
        type=Path,
        help="path of the arpi program (default: the one installed with this one)",
    )
    install.add_argument(
        "--enable",
        action="store_true",
        help="also run systemctl daemon-reload and enable --now arpi.service",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = install_service(
            user=args.user,
            env_file=args.env_file,
            unit_dir=args.unit_dir,
            exec_path=args.exec_path,
            groups=HARDWARE_GROUPS,
        )
    except InstallError as exc:
        print(f"arpi-service: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.unit_path}")
    if result.env_created:
        print(f"wrote {result.env_path} (mode 0600, a new ARPI_SECRET; edit it)")
    else:
        print(f"kept {result.env_path} (mode set to 0600, owner {args.user})")
    if result.missing_groups:
        print(
            "warning: groups missing on this machine, left out of "
            f"SupplementaryGroups=: {', '.join(result.missing_groups)}",
            file=sys.stderr,
        )
    commands = [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "arpi.service"],
    ]
    if not args.enable:
        print("next: " + " && ".join(" ".join(c) for c in commands))
        return 0
    for command in commands:
        try:
            done = subprocess.run(command, check=False)
        except OSError as exc:
            print(
                f"arpi-service: cannot run {command[0]}: {exc.strerror}",
                file=sys.stderr,
            )
            return 1
        if done.returncode != 0:
            print(f"arpi-service: {' '.join(command)} failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
