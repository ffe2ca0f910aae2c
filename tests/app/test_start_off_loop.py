"""`Application.start` does its file work (data directory, secrets, TLS) off the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

import arpi.app
from arpi.app import Application, StartupError
from arpi.config import Settings


def test_files_are_prepared_off_the_loop(tmp_path, monkeypatch):
    seen: list[int] = []

    def refuse(settings):
        seen.append(threading.get_ident())
        raise StartupError("stop here")

    monkeypatch.setattr(arpi.app, "_prepare_files", refuse)

    async def main() -> int:
        with pytest.raises(StartupError, match="stop here"):
            await Application(Settings(data_dir=tmp_path / "data")).start()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert seen and loop_thread not in seen


def test_prepare_files_gives_secrets_and_no_tls(tmp_path):
    settings, tls = arpi.app._prepare_files(Settings(data_dir=tmp_path / "data"))
    assert settings.secret and settings.mcp_secret and tls is None
    assert (tmp_path / "data" / "secret").exists()
    assert not (tmp_path / "data" / ".write-test").exists()
