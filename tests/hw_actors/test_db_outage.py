"""Hardware-side actors that read the database while running ride out an outage:
a reload that cannot reach PostgreSQL keeps what they hold and is retried."""

from __future__ import annotations

from structlog.testing import capture_logs

from arpi.actors import Ping
from arpi.actors.outputs import OutputsActor
from arpi.actors.sensor_bank import SensorBankActor
from arpi.bus import ConfigChanged
from tests.hw_actors.conftest import add_sensor, make_rig
from tests.hw_actors.test_sensor_bank import scan

NAMES = ("sensors0", "outputs")


def _incarnations(rig) -> dict[str, int]:
    directory = rig.ctx.directory
    return {n: directory.address(n).ask(Ping(), timeout=10).incarnation for n in NAMES}


def _count(logs: list[dict], event: str) -> int:
    return sum(1 for e in list(logs) if e["event"] == event)


def test_reloads_during_an_outage_keep_running_and_retry(pg_server) -> None:
    rig = make_rig(pg_server.create_database())
    try:
        rig.probe("alarm")
        first = add_sensor(rig.db, 0)
        rig.start(SensorBankActor, "sensors0", bank=0)
        rig.start(OutputsActor, "outputs")
        before = _incarnations(rig)
        assert set(scan(rig)) == {first}

        pg_server.stop()
        with capture_logs() as logs:
            for _ in range(3):
                rig.ctx.bus.publish(ConfigChanged(frozenset({"sensors", "outputs"})))
                rig.step(1.0, *NAMES)
            for _ in range(10):  # their own retries, all failing
                rig.step(2.0, *NAMES)
            assert _incarnations(rig) == before  # no crash, no restart
            assert _count(logs, "sensor_bank_database_unavailable") == 1
            assert _count(logs, "outputs_database_unavailable") == 1
            assert set(scan(rig)) == {first}  # scanning goes on with what it held

            pg_server.start()
            second = add_sensor(rig.db, 1)
            for _ in range(20):  # the retry delay is at most 30 s
                if _count(logs, "sensor_bank_reloaded") and _count(
                    logs, "outputs_reloaded"
                ):
                    break
                rig.step(2.0, *NAMES)
            assert _count(logs, "sensor_bank_database_available") == 1
            assert _count(logs, "outputs_database_available") == 1
        assert set(scan(rig)) == {first, second}
        assert _incarnations(rig) == before
    finally:
        for ref in reversed(rig.started):
            if ref.is_alive():
                ref.stop(block=True, timeout=5)
        rig.factory.close()
