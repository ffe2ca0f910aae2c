"""PostgreSQL fixtures: one embedded server per xdist worker, a fresh database per test.

- `db`: a `Database` on a new database created (CREATE DATABASE ... TEMPLATE, a
  file copy) from a template that was migrated and seeded once per worker. Dropped
  after the test.
- `pg_server`: a private embedded server (`PgServer`) for tests that stop, kill or
  restart PostgreSQL; it never touches the shared server.
- `pg_cluster`: a directory path whose `pgdata` is a fresh, never started cluster
  (a copy, so no initdb wait), for tests that drive `EmbeddedPostgres` themselves.

initdb runs once per worker; every server starts from a copy of that cluster. The
clusters live in temporary directories (on /dev/shm when there is one: the copies
are then instant) removed at the end; every server is stopped so that no postgres
process outlives the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arpi.db import Database, EmbeddedPostgres, migrate

TEMPLATE = "arpi_template"

# Surviving an OS crash is worthless for throw-away test clusters. Not flushing to
# disk (fsync) still survives a killed server, as the OS keeps the writes; an
# asynchronous commit would not, so only the shared server (never killed) uses it.
TEST_SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
SHARED_SERVER_SETTINGS = {**TEST_SERVER_SETTINGS, "synchronous_commit": "off"}

_FAST_TMP = Path("/dev/shm")


def temp_root(prefix: str = "arpi-t-") -> Path:
    """A new private directory with a short path (the unix socket limit is 107
    bytes); the caller removes it."""
    base = _FAST_TMP if _FAST_TMP.is_dir() else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def copy_cluster(source: Path, target: Path) -> None:
    """Copy a stopped cluster keeping owners and modes (the server's user owns it)."""
    target.parent.chmod(0o711)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)


class PgServer:
    """A private embedded server for one test: start, stop, kill and restart it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = EmbeddedPostgres(root / "pgdata", settings=TEST_SERVER_SETTINGS)

    def url(self, database: str = "postgres") -> str:
        """The URL of `database`; stays the same across restarts."""
        return self.server.url(database)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        """SIGKILL every server process (a crash); `start()` recovers the cluster."""
        self.server.kill()

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def create_database(self, name: str = "arpi", *, migrated: bool = True) -> Database:
        """Create `name` on this server (migrated and seeded unless told otherwise)."""
        db = Database(self.url(name))
        db.create()
        if migrated:
            migrate(db)
        return db


@pytest.fixture(scope="session")
def _pristine_cluster() -> Iterator[Path]:
    """A cluster made by initdb once per worker and never started: copy it."""
    root = temp_root("arpi-pristine-")
    try:
        EmbeddedPostgres(root / "pgdata", sync_initdb=False).initialise()
        yield root / "pgdata"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_shared(_pristine_cluster: Path) -> Iterator[EmbeddedPostgres]:
    """The worker's embedded server with the migrated, seeded template database."""
    root = temp_root("arpi-pg-")
    server = EmbeddedPostgres(root / "pgdata", settings=SHARED_SERVER_SETTINGS)
    try:
        copy_cluster(_pristine_cluster, root / "pgdata")
        server.start()
        template = Database(server.url(TEMPLATE))
        template.create()
        migrate(template)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db(_pg_shared: EmbeddedPostgres) -> Iterator[Database]:
    """A fresh, migrated and seeded database on the worker's server."""
    database = Database(_pg_shared.url(f"test_{uuid.uuid4().hex[:16]}"))
    database.create(template=TEMPLATE)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def pg_cluster(_pristine_cluster: Path) -> Iterator[Path]:
    """A private directory holding `pgdata`, a fresh cluster never started; removed
    afterwards. The test must stop any server it starts there."""
    root = temp_root("arpi-pgc-")
    try:
        copy_cluster(_pristine_cluster, root / "pgdata")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_server(pg_cluster: Path) -> Iterator[PgServer]:
    """A started embedded server of the test's own, stopped and removed afterwards."""
    handle = PgServer(pg_cluster)
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()
