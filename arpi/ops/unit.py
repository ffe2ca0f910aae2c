"""The shipped systemd unit: reading it, fitting it to a machine, installing it.

`parse_unit` reads unit-file syntax the way systemd does (comments, line
continuations, repeated keys accumulate, an empty assignment resets a list);
`render_unit` fills in the user, groups, environment file and program path;
`install_service` writes the unit and the environment file with safe modes.
Nothing here calls systemctl.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = [
    "HARDWARE_GROUPS",
    "InstallError",
    "InstallResult",
    "UnitFile",
    "install_service",
    "parse_unit",
    "render_unit",
    "shipped_env_example",
    "shipped_unit",
]

HARDWARE_GROUPS = ("gpio", "i2c", "spi", "dialout")
UNIT_NAME = "arpi.service"
ENV_EXAMPLE = "arpi.env.example"
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class InstallError(Exception):
    """The service cannot be installed; the message names the problem."""


@dataclass
class UnitFile:
    """A parsed unit: `sections[name][key]` is the list of assigned values in
    order, after systemd's reset rule (an empty assignment clears the list)."""

    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> str | None:
        """The last value of `key` (what systemd uses for a single-value key)."""
        values = self.sections.get(section, {}).get(key)
        return values[-1] if values else None

    def all(self, section: str, key: str) -> list[str]:
        """Every value of a list-valued key, in order."""
        return list(self.sections.get(section, {}).get(key, []))


def parse_unit(text: str) -> UnitFile:
    """Parse unit-file text. Raises ValueError naming the line for syntax errors:
    an assignment outside a section, a line that is neither, a bad section name."""
    unit = UnitFile()
    current: dict[str, list[str]] | None = None
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if pending and line and line[0] in "#;":
            continue  # systemd skips comment lines inside a continuation
        if line.endswith("\\"):
            if not pending:
                start = number
            pending += line[:-1] + " "
            continue
        if pending:
            line, pending = pending + line, ""
        else:
            start = number
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise ValueError(f"line {start}: bad section header {line!r}")
            name = line[1:-1]
            current = unit.sections.setdefault(name, {})
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or " " in key:
            raise ValueError(f"line {start}: not an assignment: {line!r}")
        if current is None:
            raise ValueError(f"line {start}: {key}= outside a section")
        value = value.strip()
        if value == "":
            current[key] = []
        else:
            current.setdefault(key, []).append(value)
    if pending:
        raise ValueError("the file ends inside a line continuation")
    return unit


def shipped_unit() -> str:
    """The text of the unit file in the package (`arpi/systemd/arpi.service`)."""
    return resources.files("arpi").joinpath("systemd", UNIT_NAME).read_text()


def shipped_env_example() -> str:
    """The text of the example environment file in the package."""
    return resources.files("arpi").joinpath("systemd", ENV_EXAMPLE).read_text()


def _replace(text: str, key: str, value: str) -> str:
    pattern = re.compile(rf"^{re.escape(key)}=.*$", re.MULTILINE)
    if not pattern.search(text):
        raise InstallError(f"the shipped unit has no {key}= line")
    return pattern.sub(lambda _: f"{key}={value}", text, count=1)


def _quote_path(path: Path | str) -> str:
    text = str(path)
    if any(c.isspace() or c in "\"'\\;$%" for c in text):
        raise InstallError(
            f"path {text!r}: spaces and quoting characters are not supported"
        )
    return text


def render_unit(
    *,
    user: str,
    group: str,
    groups: tuple[str, ...] | list[str],
    env_file: Path,
    exec_path: Path,
    template: str | None = None,
) -> str:
    """The unit text for this machine. Raises InstallError for unusable values
    (names that are not user names, relative or quoted paths)."""
    for what, name in (
        ("user", user),
        ("group", group),
        *(("groups", g) for g in groups),
    ):
        if not _NAME.match(name):
            raise InstallError(f"{what}: {name!r} is not a valid user or group name")
    for what, path in (("env-file", env_file), ("exec", exec_path)):
        if not Path(path).is_absolute():
            raise InstallError(f"{what}: {path} must be an absolute path")
    text = template if template is not None else shipped_unit()
    text = _replace(text, "User", user)
    text = _replace(text, "Group", group)
    text = _replace(text, "SupplementaryGroups", " ".join(groups))
    text = _replace(text, "EnvironmentFile", _quote_path(env_file))
    text = _replace(text, "ExecStart", _quote_path(exec_path))
    parse_unit(text)  # never write something systemd would not read
    return text


def installed_program() -> Path:
    """The `arpi` console script of this installation. Raises InstallError."""
    beside = Path(sys.executable).parent / "arpi"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = shutil.which("arpi")
    if found:
        return Path(found).absolute()
    raise InstallError("cannot find the installed `arpi` program; pass --exec PATH")


@dataclass(frozen=True)
class InstallResult:
    unit_path: Path
    env_path: Path
    env_created: bool
    missing_groups: tuple[str, ...]


def _write_atomic(path: Path, data: str, mode: int, uid: int, gid: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, gid)
        with os.fdopen(fd, "w") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_service(
    *,
    user: str = "arpi",
    env_file: Path = Path("/etc/arpi/arpi.env"),
    unit_dir: Path = Path("/etc/systemd/system"),
    exec_path: Path | None = None,
    groups: tuple[str, ...] = HARDWARE_GROUPS,
) -> InstallResult:
    """Write `<unit_dir>/arpi.service` (0644) and, if absent, the environment file
    (0600, owned by `user`, with a fresh ARPI_SECRET). An existing environment
    file keeps its content (it holds the secrets); its owner and mode are fixed.

    Groups that do not exist on this machine are left out of
    `SupplementaryGroups=` (systemd would refuse to start the unit) and returned
    in `missing_groups`. Raises InstallError naming the problem (unknown user,
    unwritable directory, ...). Blocks on file I/O; calls no systemctl.
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise InstallError(
            f"user {user!r} does not exist; create it first, e.g. "
            f"`useradd --system --home-dir /var/lib/arpi --shell /usr/sbin/nologin "
            f"{user}`"
        ) from None
    group = grp.getgrgid(entry.pw_gid).gr_name
    present, missing = [], []
    for name in groups:
        try:
            grp.getgrnam(name)
            present.append(name)
        except KeyError:
            missing.append(name)
    exec_path = Path(exec_path) if exec_path is not None else installed_program()
    env_file = Path(env_file)
    unit_dir = Path(unit_dir)
    text = render_unit(
        user=user,
        group=group,
        groups=tuple(present),
        env_file=env_file,
        exec_path=exec_path,
    )

    try:
        # The folder of the secrets: root-owned, only the service's group may enter.
        if not env_file.parent.exists():
            env_file.parent.mkdir(mode=0o750, parents=True)
            os.chown(env_file.parent, -1, entry.pw_gid)
        created = False
        if env_file.exists():
            os.chown(env_file, entry.pw_uid, entry.pw_gid)
            os.chmod(env_file, 0o600)
        else:
            content = shipped_env_example().replace(
                "\nARPI_SECRET=\n", f"\nARPI_SECRET={secrets.token_hex(32)}\n", 1
            )
            # O_EXCL with mode 0600: the secret is never readable by others, not
            # even for a moment.
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                os.fchmod(handle.fileno(), 0o600)
                os.fchown(handle.fileno(), entry.pw_uid, entry.pw_gid)
                handle.write(content)
            created = True
        unit_dir.mkdir(parents=True, exist_ok=True)
        unit_path = unit_dir / UNIT_NAME
        # Root writes a root-owned unit; anyone else (tests) keeps its own ids.
        _write_atomic(unit_path, text, 0o644, os.geteuid(), os.getegid())
    except PermissionError as exc:
        raise InstallError(
            f"cannot write {exc.filename}: permission denied (run as root)"
        ) from None
    except OSError as exc:
        raise InstallError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return InstallResult(unit_path, env_file, created, tuple(missing))
