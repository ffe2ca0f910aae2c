"""Process settings: defaults, then a TOML file, then environment, then flags.

Every value is validated once, here; a bad value raises `ConfigError` naming the key,
and the program logs that one line and exits non-zero.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "default_data_dir", "load_settings"]


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


def default_data_dir() -> Path:
    """The per-user data directory: `$XDG_DATA_HOME/arpi` or `~/.local/share/arpi`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "arpi"


DEFAULT_CORS = (
    "https://arpi.local",
    "http://arpi.local",
    "https://*.arpi.local",
    "http://*.arpi.local",
    "https://app.arpi-security.info",
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Field names are the TOML keys; `ARPI_<NAME>` (upper
    case) is the environment variable, except `database_url` (`DATABASE_URL`)."""

    simulate: bool = False
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # Hardware: "sim" (simulated buses), "2" or "3" (ArPI board version).
    board: str = "sim"
    input_number: int = 15
    output_number: int = 8
    sample_rate: int = 20
    # The board a "sim" panel imitates (its channel map and output chip).
    simulated_board: int = 3
    rtc_chip: str = "ds1307"
    gsm_pin: str | None = None
    gsm_port: str = "/dev/ttyAMA0"
    gsm_baud: int = 9600
    i2c_bus: int = 1
    secret: str = ""
    # Signs the MCP tokens of `POST /api/user/<id>/mcp_token`; empty = kept in
    # `<data_dir>/mcp_secret` (see `ensure_secret`).
    mcp_secret: str = ""
    # The authorized_keys file the SSH key endpoints manage.
    ssh_authorized_keys: Path = field(
        default_factory=lambda: Path.home() / ".ssh" / "authorized_keys"
    )
    cors_origins: tuple[str, ...] = DEFAULT_CORS
    log_format: str = "json"
    log_level: str = "info"
    webui_dir: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    clock: str = "real"
    keypad_arm_needs_code: bool = True
    shutdown_deadline: float = 10.0
    # How often the embedded PostgreSQL is checked (and restarted if it died).
    db_watch_interval: float = 5.0
    commit: str = "0000000"
    location_name: str = "arpi"

    def validate(self) -> Settings:
        """Return self if every value is acceptable; raise ConfigError otherwise."""
        if self.board not in ("sim", "2", "3"):
            raise ConfigError(f"board must be sim, 2 or 3, got {self.board!r}")
        _check_range("port", self.port, 0, 65535)
        _check_range("simulated_board", self.simulated_board, 2, 3)
        if self.rtc_chip not in ("ds1307", "ds3231"):
            raise ConfigError(
                f"rtc_chip must be ds1307 or ds3231, got {self.rtc_chip!r}"
            )
        _check_range("input_number", self.input_number, 1, 16)
        _check_range("output_number", self.output_number, 1, 8)
        _check_range("sample_rate", self.sample_rate, 1, 200)
        _check_range("gsm_baud", self.gsm_baud, 1200, 921600)
        if self.log_format not in ("json", "console"):
            raise ConfigError(
                f"log_format must be json or console, got {self.log_format!r}"
            )
        if self.log_level not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log_level is not a level name: {self.log_level!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        if not self.db_watch_interval > 0:
            raise ConfigError("db_watch_interval must be positive")
        if not self.shutdown_deadline > 0:
            raise ConfigError("shutdown_deadline must be positive")
        if self.database_url is not None and not self.database_url.startswith(
            ("postgres://", "postgresql://")
        ):
            raise ConfigError(
                "DATABASE_URL must start with postgresql:// (got something else)"
            )
        return self

    @property
    def version(self) -> str:
        from arpi import __version__

        return f"v{__version__}:{self.commit}"


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


def _convert(name: str, raw: Any, target: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or raise ConfigError."""
    text_type = str(target)
    try:
        if raw is None:
            return None
        if "bool" in text_type:
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "tuple" in text_type:
            if isinstance(raw, list | tuple):
                return tuple(str(x) for x in raw)
            return tuple(x.strip() for x in str(raw).split(",") if x.strip())
        if "Path" in text_type:
            return Path(str(raw)).expanduser() if str(raw) else None
        if "float" in text_type:
            return float(raw)
        if "int" in text_type:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} has an unusable value: {raw!r}") from None


def load_settings(
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build validated settings. Raises ConfigError naming the bad key or file."""
    env = dict(os.environ if env is None else env)
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}

    config_file = config_file or (
        Path(env["ARPI_CONFIG"]) if env.get("ARPI_CONFIG") else None
    )
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}")
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[key] = _convert(key, raw, known[key].type)

    for name, spec in known.items():
        var = "DATABASE_URL" if name == "database_url" else f"ARPI_{name.upper()}"
        if env.get(var):
            values[name] = _convert(var, env[var], spec.type)

    for key, raw in (overrides or {}).items():
        if raw is None:
            continue
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _convert(key, raw, known[key].type)

    settings = Settings(**values)
    return settings.validate()


def ensure_secret(settings: Settings) -> Settings:
    """Give the settings their signing secrets: `secret` (JWT) and `mcp_secret`,
    each the configured one or one kept in the data directory (`secret`,
    `mcp_secret`; created on first use, readable only by this user). Blocks on
    file I/O; raises OSError when the data directory cannot be used."""
    changes = {
        name: _stored_secret(settings.data_dir / name)
        for name in ("secret", "mcp_secret")
        if not getattr(settings, name)
    }
    return replace(settings, **changes) if changes else settings


def _stored_secret(path: Path) -> str:
    """The secret kept in `path`, created (64 hex chars, mode 0600) if absent."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
        path.unlink()
    value = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
