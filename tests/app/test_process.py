"""The whole process as a user starts it: `arpi-simulate` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env.update(env or {})
    full_env["ARPI_LOG_FORMAT"] = "json"
    return subprocess.Popen(
        [sys.executable, str(REPO / "bin" / "arpi-simulate"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
        text=True,
    )


def _records(output: str) -> list[dict]:
    records = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def _postgres_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any(str(data_dir) in part for part in cmdline):
            found.append(proc)
    return found


def test_simulator_starts_serves_and_stops_cleanly_on_sigint(tmp_path):
    port = _free_port()
    data_dir = tmp_path / "data"
    proc = _start(tmp_path, "--data-dir", str(data_dir), "--port", str(port))
    try:

        def version():
            try:
                return _get(f"http://127.0.0.1:{port}/api/version")
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                return None

        status, body = wait_for(version, timeout=60, what="the simulator to answer")

        assert status == 200
        assert body.decode().startswith("v")
        assert ":" in body.decode()
        assert _postgres_of(data_dir)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, output
    events = [r.get("event") for r in _records(output)]
    assert "arpi_ready" in events
    assert events[-1] == "arpi_stopped"
    assert not _postgres_of(data_dir)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_url", "DATABASE_URL"),
        ("unreachable", "reach"),
        ("data_dir_not_writable", "data directory"),
        ("port_in_use", "already in use"),
    ],
)
def test_startup_problems_end_with_one_clear_line(tmp_path, case, expected):
    data_dir = tmp_path / "data"
    args = ["--data-dir", str(data_dir), "--port", str(_free_port())]
    env: dict[str, str] = {}
    blocker = None
    if case == "bad_url":
        env["DATABASE_URL"] = "mysql://nobody@nowhere/db"
    elif case == "unreachable":
        env["DATABASE_URL"] = f"postgresql://arpi@127.0.0.1:{_free_port()}/arpi"
    elif case == "data_dir_not_writable":
        blocker_file = tmp_path / "a-file"
        blocker_file.write_text("not a directory")
        args[1] = str(blocker_file / "data")
    elif case == "port_in_use":
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        args[3] = str(blocker.getsockname()[1])
    try:
        proc = _start(tmp_path, *args, env=env)
        output, _ = proc.communicate(timeout=60)
    finally:
        if blocker is not None:
            blocker.close()

    assert proc.returncode != 0
    assert "Traceback" not in output, output
    errors = [r for r in _records(output) if r.get("level") in ("error", "critical")]
    assert len(errors) == 1, output
    assert expected.lower() in json.dumps(errors[0]).lower(), output
    assert not _postgres_of(data_dir)


def test_https_with_a_configured_certificate(tmp_path):
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    data_dir = tmp_path / "data"
    proc = _start(
        tmp_path,
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--no-console",
        env={"ARPI_TLS_CERT": str(cert_file), "ARPI_TLS_KEY": str(key_file)},
    )
    context = ssl.create_default_context(cafile=str(cert_file))
    context.check_hostname = False
    try:

        def version():
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/api/version", timeout=5, context=context
                ) as response:
                    return response.status
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                return None

        assert wait_for(version, timeout=60, what="HTTPS to answer") == 200
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output


def test_embedded_postgres_that_dies_is_started_again(tmp_path):
    port = _free_port()
    data_dir = tmp_path / "data"
    proc = _start(
        tmp_path,
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--no-console",
        env={"ARPI_DB_WATCH_INTERVAL": "0.2"},
    )
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:

        def health():
            try:
                status, body = _get(f"http://127.0.0.1:{port}/api/health")
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                return None
            report = json.loads(body)
            return report if report["database"]["status"] == "ok" else None

        wait_for(health, timeout=60, what="a healthy start")
        first = int(pid_file.read_text().split()[0])

        os.kill(first, signal.SIGINT)  # the server stops (fast shutdown)

        def restarted():
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
            return pid if pid != first and psutil.pid_exists(pid) else None

        wait_for(restarted, timeout=60, what="a new postmaster")
        wait_for(health, timeout=60, what="the database to answer again")
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, output
    events = [r.get("event") for r in _records(output)]
    assert "embedded_postgres_down" in events
    assert events.count("embedded_postgres_started") == 2, events
    assert not _postgres_of(data_dir)
