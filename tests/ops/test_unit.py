"""The shipped unit file and `arpi-service install`."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

import pytest

from arpi.cli.service import main as service_main
from arpi.config import Settings
from arpi.ops.unit import (
    InstallError,
    install_service,
    parse_unit,
    render_unit,
    shipped_env_example,
    shipped_unit,
)


def _seconds(value: str) -> float:
    """A systemd time span as used in our unit ("30s", "5min", "20")."""
    units = {"s": 1, "sec": 1, "min": 60, "ms": 0.001}
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * units[suffix]
    return float(value)


def test_parser_follows_systemd_rules():
    text = (
        "# comment\n; also a comment\n[Service]\nEnvironment=A=1\n"
        "Environment=B=2 \\\n  C=3\nEnvironment=\nEnvironment=D=4\n"
        "ExecStart=/bin/x \\\n# skipped inside a continuation\n  --flag\n"
    )

    unit = parse_unit(text)

    assert unit.all("Service", "Environment") == ["D=4"]
    assert unit.get("Service", "ExecStart").split() == ["/bin/x", "--flag"]
    with pytest.raises(ValueError, match="line 1"):
        parse_unit("Type=notify\n")
    with pytest.raises(ValueError, match="line 2"):
        parse_unit("[Service]\nnot an assignment\n")


def test_shipped_unit_has_the_keys_the_service_needs():
    unit = parse_unit(shipped_unit())
    service = "Service"

    assert unit.get(service, "Type") == "notify"
    assert unit.get(service, "NotifyAccess") == "main"
    assert unit.get(service, "Restart") == "on-failure"
    assert _seconds(unit.get(service, "WatchdogSec")) >= 10
    deadline = Settings().shutdown_deadline
    # The app exits hard 5 s after its deadline; systemd must not SIGKILL first.
    assert _seconds(unit.get(service, "TimeoutStopSec")) > deadline + 5
    assert unit.get(service, "User") not in (None, "root", "0")
    groups = unit.get(service, "SupplementaryGroups").split()
    assert set(groups) == {"gpio", "i2c", "spi", "dialout"}
    assert unit.get(service, "EnvironmentFile").startswith("/")
    assert unit.get(service, "ExecStart").split()[0].endswith("/arpi")
    assert unit.get(service, "KillMode") == "mixed"
    assert unit.get(service, "NoNewPrivileges") == "yes"
    assert unit.get("Install", "WantedBy") == "multi-user.target"
    assert "ARPI_SECRET=" in shipped_env_example()


def test_render_fills_in_the_machine_and_rejects_bad_values():
    text = render_unit(
        user="alarm",
        group="alarm",
        groups=("gpio",),
        env_file=Path("/etc/x/arpi.env"),
        exec_path=Path("/opt/v/bin/arpi"),
    )
    unit = parse_unit(text)

    assert unit.get("Service", "User") == "alarm"
    assert unit.get("Service", "SupplementaryGroups") == "gpio"
    assert unit.get("Service", "ExecStart") == "/opt/v/bin/arpi"
    assert unit.get("Service", "EnvironmentFile") == "/etc/x/arpi.env"
    with pytest.raises(InstallError, match="user"):
        render_unit(
            user="bad name",
            group="g",
            groups=(),
            env_file=Path("/e"),
            exec_path=Path("/x"),
        )
    with pytest.raises(InstallError, match="exec"):
        render_unit(
            user="u",
            group="g",
            groups=(),
            env_file=Path("/e"),
            exec_path=Path("bin/arpi"),
        )


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def test_install_writes_unit_and_private_env_file(tmp_path):
    env_file = tmp_path / "etc" / "arpi" / "arpi.env"
    unit_dir = tmp_path / "systemd"

    result = install_service(
        user=_me(),
        env_file=env_file,
        unit_dir=unit_dir,
        exec_path=Path("/usr/local/bin/arpi"),
        groups=("arpi-no-such-group", grp.getgrgid(os.getgid()).gr_name),
    )

    unit_mode = stat.S_IMODE((unit_dir / "arpi.service").stat().st_mode)
    env_stat = env_file.stat()
    assert unit_mode == 0o644
    assert stat.S_IMODE(env_stat.st_mode) == 0o600
    assert env_stat.st_uid == os.getuid()
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o750
    secret_lines = [
        l for l in env_file.read_text().splitlines() if l.startswith("ARPI_SECRET=")
    ]
    assert len(secret_lines) == 1 and len(secret_lines[0]) == len("ARPI_SECRET=") + 64
    assert result.env_created and result.missing_groups == ("arpi-no-such-group",)
    unit = parse_unit((unit_dir / "arpi.service").read_text())
    assert unit.get("Service", "User") == _me()
    assert "arpi-no-such-group" not in unit.get("Service", "SupplementaryGroups")


def test_install_keeps_existing_secrets_and_fixes_the_mode(tmp_path):
    env_file = tmp_path / "arpi.env"
    env_file.write_text("ARPI_SECRET=keep-me\n")
    env_file.chmod(0o644)

    result = install_service(
        user=_me(),
        env_file=env_file,
        unit_dir=tmp_path / "u",
        exec_path=Path("/usr/local/bin/arpi"),
        groups=(),
    )

    assert not result.env_created
    assert env_file.read_text() == "ARPI_SECRET=keep-me\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_install_refuses_an_unknown_user(tmp_path):
    with pytest.raises(InstallError, match="does not exist"):
        install_service(
            user="arpi-nobody-here",
            env_file=tmp_path / "e",
            unit_dir=tmp_path / "u",
            exec_path=Path("/x/arpi"),
        )
    assert not (tmp_path / "u").exists()


def test_cli_installs_and_reports(tmp_path, capsys):
    code = service_main(
        [
            "install",
            "--user",
            _me(),
            "--env-file",
            str(tmp_path / "env"),
            "--unit-dir",
            str(tmp_path / "units"),
            "--exec",
            "/usr/local/bin/arpi",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / "units" / "arpi.service").exists()
    assert "systemctl daemon-reload" in out
    assert (
        service_main(
            [
                "install",
                "--user",
                "arpi-nobody-here",
                "--unit-dir",
                str(tmp_path / "x"),
                "--env-file",
                str(tmp_path / "y"),
            ]
        )
        == 1
    )
