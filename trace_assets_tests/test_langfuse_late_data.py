"""The late-data sensor on the Langfuse sources: a late trace on the API, a new export run."""

from datetime import date, datetime, time, timedelta, timezone

import dagster as dg
import pyarrow.fs as pafs

from trace_assets.assets.raw_traces import raw_traces
from trace_assets.automation.late_data_sensor import build_late_data_sensor
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets_tests.langfuse_api_server import LangfuseApiServer
from trace_assets_tests.langfuse_export_files import export_day
from trace_assets_tests.langfuse_traces import day_of_traces
from trace_assets_tests.materialize import materialize_days


def day_ago(days: int) -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=days)


class Sensor:
    def __init__(self, source, local_resources):
        self.source = source
        self.resources = local_resources(source)
        self.instance = dg.DagsterInstance.ephemeral()
        self.sensor = build_late_data_sensor(lookback_days=7)
        self.cursor = None

    def land(self, day: date) -> None:
        materialize_days(self.resources, day.isoformat(), assets=[raw_traces], instance=self.instance)

    def tick(self) -> list[dg.RunRequest]:
        from trace_assets.definitions import defs

        # A context manager: the API source closes its HTTP client when the tick ends.
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"trace_source": self.source},
            repository_def=defs.get_repository_def(),
        ) as context:
            data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data.run_requests


def test_a_late_trace_on_the_api_reruns_its_day(local_resources):
    day = day_ago(2)
    with LangfuseApiServer(day_of_traces(day, 20, seed=31, edge_cases=False), api_version="v4") as server:
        source = LangfuseApiSource(host=server.base_url, public_key=server.public_key, secret_key=server.secret_key,
                                   requests_per_minute=6000)
        sensor = Sensor(source, local_resources)
        sensor.land(day)
        assert sensor.tick() == []
        server.add_traces(day_of_traces(day, 1, seed=32, edge_cases=False))
        [request] = sensor.tick()
        assert request.partition_key == day.isoformat()
        assert sensor.tick() == [], "the same late trace is requested once"


def test_a_new_export_run_touching_a_landed_day_reruns_it(local_resources, tmp_path):
    day = day_ago(3)
    writer = export_day(pafs.LocalFileSystem(), str(tmp_path / "bucket"), day_of_traces(day, 20, seed=33), day)
    sensor = Sensor(LangfuseExportSource(export_uri=writer.uri), local_resources)
    sensor.land(day)
    assert sensor.tick() == []
    start = datetime.combine(day, time(12), tzinfo=timezone.utc)
    writer.run(day_of_traces(day, 2, seed=34, edge_cases=False), start, start + timedelta(minutes=7))
    [request] = sensor.tick()
    assert request.partition_key == day.isoformat()
