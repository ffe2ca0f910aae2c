"""The front's view of the process settings, with the defaults it falls back to."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arpi import __version__
from arpi.http.origins import DEFAULT_ORIGINS

__all__ = ["FrontSettings"]


@dataclass(frozen=True)
class FrontSettings:
    secret: str
    cors_origins: tuple[str, ...] = DEFAULT_ORIGINS
    board_version: int = 3
    input_number: int = 15
    output_number: int = 8
    version: str = f"v{__version__}:unknown"
    max_body: int = 64 * 1024
    ask_timeout: float = 5.0
    read_pool_size: int = 8
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    bcrypt_rounds: int = 12

    @classmethod
    def from_settings(cls, settings: Any) -> FrontSettings:
        """Read the known names from `ctx.settings`; absent ones keep defaults.

        Raises ValueError when there is no secret: tokens would be forgeable.
        """

        def get(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            return default if value is None else value

        secret = get("secret", "")
        if not isinstance(secret, str) or not secret:
            raise ValueError("settings.secret is required to sign tokens")
        origins = get("cors_origins", DEFAULT_ORIGINS)
        if isinstance(origins, str):
            origins = tuple(o.strip() for o in origins.split(",") if o.strip())
        board = str(get("board", "3"))
        version = get("version", None)
        return cls(
            secret=secret,
            cors_origins=tuple(origins),
            board_version=int(board) if board in ("2", "3") else 3,
            input_number=int(get("input_number", 15)),
            output_number=int(get("output_number", 8)),
            version=str(version) if isinstance(version, str) else _version_string(),
            max_body=int(get("max_body", 64 * 1024)),
            ask_timeout=float(get("ask_timeout", 5.0)),
            read_pool_size=int(get("read_pool_size", 8)),
            bcrypt_rounds=int(get("bcrypt_rounds", 12)),
        )


def _version_string() -> str:
    """``vX.Y.Z:<commit>``; the commit from git when run from a checkout."""
    commit = "unknown"
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                commit = out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return f"v{__version__}:{commit}"
