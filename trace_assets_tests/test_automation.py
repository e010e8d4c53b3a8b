"""The daily schedule, the late-data sensor against the real PostgreSQL, and the judge pool."""

import json
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import yaml

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.raw_traces import raw_traces
from trace_assets.automation.daily_schedule import daily_refresh_schedule
from trace_assets.automation.late_data_sensor import build_late_data_sensor
from trace_assets.assets.raw_traces import SOURCE_FINGERPRINTS
from trace_assets.automation.pools import JUDGE_POOL
from trace_assets.resources.trace_source import EMPTY_DAY
from trace_assets.dagster_home import prepare_dagster_home
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import materialize_days


def day_ago(days: int) -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=days)


def at(day: date, clock: str) -> str:
    return f"{day.isoformat()} {clock}"


def test_the_daily_schedule_runs_yesterday_at_six_utc():
    from trace_assets.definitions import defs

    schedule = defs.resolve_schedule_def(daily_refresh_schedule.name)
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone in (None, "UTC")
    tick = datetime(2026, 4, 19, 6, 0, tzinfo=timezone.utc)
    with dg.DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    [request] = data.run_requests
    assert request.partition_key == "2026-04-18"
    assert request.tags["trace_assets/reason"] == "daily_schedule"


def test_the_daily_run_and_late_data_reruns_publish_the_days_training_sets_after_its_labeled_dataset():
    from trace_assets.definitions import defs

    job = defs.resolve_schedule_def(daily_refresh_schedule.name).job
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert {"labeled_dataset", "dpo_pairs", "kto_examples", "grpo_prompts"} <= selected
    assert build_late_data_sensor().job_name == job.name, "a late-data rerun of a day runs the same graph"
    # the exports' step waits for the day's labeled_dataset and its blocking checks
    upstream = {output.node_name for output in job.graph.dependency_structure.all_upstream_outputs_from_node("training_exports")}
    assert "labeled_dataset" in upstream
    assert any(name.startswith("labeled_dataset_") for name in upstream), "and its checks"
    assert job.backfill_policy == dg.BackfillPolicy.multi_run(1), "a backfill exports one day per run"


class LateData:
    """A Langfuse database, days landed through raw_traces on one instance, and sensor ticks."""

    def __init__(self, database, local_resources):
        self.database = database
        self.source = PostgresTraceSource(database_url=database.database_url)
        self.resources = local_resources(self.source)
        self.instance = dg.DagsterInstance.ephemeral()
        self.sensor = build_late_data_sensor(lookback_days=7)
        self.cursor = None

    def land(self, day: date) -> None:
        materialize_days(self.resources, day.isoformat(), assets=[raw_traces], instance=self.instance)

    def tick(self) -> list[dg.RunRequest]:
        from trace_assets.definitions import defs

        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"trace_source": self.source},
            repository_def=defs.get_repository_def(),
        )
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data.run_requests


def test_the_sensor_reruns_exactly_the_days_that_changed(langfuse_database, local_resources):
    late = LateData(langfuse_database, local_resources)
    changed, quiet = day_ago(2), day_ago(3)
    langfuse_database.insert([trace(at(changed, "08:00:00")), trace(at(quiet, "09:00:00"))])
    late.land(changed)
    late.land(quiet)

    assert late.tick() == [], "nothing changed since the days landed"

    langfuse_database.insert([trace(at(changed, "23:59:59"))])
    [request] = late.tick()
    assert request.partition_key == changed.isoformat()
    assert request.tags["trace_assets/reason"] == "late_data"
    assert request.tags["trace_assets/old_fingerprint"].startswith("1:")
    assert request.tags["trace_assets/new_fingerprint"].startswith("2:")
    assert request.run_key == f"late-data:{changed.isoformat()}:{request.tags['trace_assets/new_fingerprint']}"

    assert late.tick() == [], "the cursor remembers what was requested"
    assert json.loads(late.cursor)[changed.isoformat()] == request.tags["trace_assets/new_fingerprint"]

    langfuse_database.insert([trace(at(changed, "12:00:00"))])
    [second] = late.tick()
    assert second.partition_key == changed.isoformat() and second.run_key != request.run_key


def test_a_consent_change_reruns_its_day(langfuse_database, local_resources):
    late = LateData(langfuse_database, local_resources)
    day = day_ago(1)
    revoked = trace(at(day, "10:00:00"))
    langfuse_database.insert([revoked, trace(at(day, "11:00:00"))])
    late.land(day)
    assert late.tick() == []
    langfuse_database.execute("UPDATE traces SET user_consent = false WHERE id = %s", (revoked["id"],))
    [request] = late.tick()
    assert request.partition_key == day.isoformat()


def test_changes_outside_the_look_back_window_and_days_never_landed_are_ignored(langfuse_database, local_resources):
    late = LateData(langfuse_database, local_resources)
    old, never_landed = day_ago(10), day_ago(4)
    langfuse_database.insert([trace(at(old, "08:00:00"))])
    late.land(old)
    assert late.tick() == []
    langfuse_database.insert([trace(at(old, "09:00:00")), trace(at(never_landed, "09:00:00"))])
    assert late.tick() == []


def test_the_look_back_is_the_last_n_complete_days_and_the_cursor_forgets_older_ones(langfuse_database, local_resources):
    late = LateData(langfuse_database, local_resources)  # a look-back of 7 days
    today, edge, beyond = day_ago(0), day_ago(7), day_ago(8)
    langfuse_database.insert([trace(at(edge, "08:00:00")), trace(at(beyond, "08:00:00"))])
    late.land(edge)
    late.land(beyond)
    # Today's partition does not exist yet; record a landing of it anyway, as an early run would,
    # with a fingerprint today's traces will never match.
    late.instance.report_runless_asset_event(dg.AssetMaterialization(
        "raw_traces", partition=today.isoformat(), metadata={SOURCE_FINGERPRINTS: {today.isoformat(): "1:stale"}}
    ))
    late.cursor = json.dumps({day_ago(30).isoformat(): "1:forgotten"})
    assert late.tick() == []
    assert json.loads(late.cursor) == {}, "a day older than the look-back stays in the cursor"

    langfuse_database.insert([trace(at(day, "09:00:00")) for day in (today, edge, beyond)])
    assert [request.partition_key for request in late.tick()] == [edge.isoformat()], (
        "only the seventh day back: not the eighth, and not today's incomplete day"
    )


def test_a_day_whose_traces_all_vanished_is_rerun(langfuse_database, local_resources):
    late = LateData(langfuse_database, local_resources)
    day = day_ago(2)
    gone = [trace(at(day, "08:00:00")), trace(at(day, "09:00:00"))]
    langfuse_database.insert(gone)
    late.land(day)
    langfuse_database.execute("DELETE FROM traces WHERE id = ANY(%s)", ([row["id"] for row in gone],))
    [request] = late.tick()
    assert request.partition_key == day.isoformat() and request.tags["trace_assets/new_fingerprint"] == EMPTY_DAY


def test_the_scoring_steps_share_the_judge_pool_and_the_instance_limits_it(tmp_path):
    assert judge_scores.op.pool == JUDGE_POOL and ragas_scores.op.pool == JUDGE_POOL
    config = prepare_dagster_home(tmp_path, {"TRACE_JUDGE_POOL_LIMIT": "3"})
    assert yaml.safe_load(config.read_text()) == {"concurrency": {"pools": {"granularity": "op", "default_limit": 3}}}
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 3 and str(pools.pool_granularity).endswith("OP")


def test_backfills_land_a_range_in_one_run_and_score_it_one_day_per_run():
    """A month's backfill of ingestion is one run; of scoring, one run per day, so the judge
    fleet is never handed a month of traces by one step (the pool bounds how many such runs)."""
    from trace_assets.definitions import defs

    policies = {node.key.to_user_string(): node.backfill_policy for node in defs.resolve_asset_graph().asset_nodes}
    assert policies["raw_traces"] == policies["iceberg_table"] == dg.BackfillPolicy.single_run()
    for name in ("judge_scores", "ragas_scores", "labeled_dataset"):
        assert policies[name] == dg.BackfillPolicy.multi_run(max_partitions_per_run=1), name
    assert defs.resolve_job_def("ingest_traces").backfill_policy == dg.BackfillPolicy.single_run()
    assert defs.resolve_job_def("label_traces").backfill_policy == dg.BackfillPolicy.multi_run(1)
    assert defs.resolve_job_def("refresh_traces").backfill_policy == dg.BackfillPolicy.multi_run(1)
