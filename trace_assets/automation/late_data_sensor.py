"""The late-data sensor: reruns exactly the past days whose traces changed at the source."""

import json
from datetime import date, datetime, time, timedelta, timezone

import dagster as dg

from trace_assets.assets.raw_traces import SOURCE_FINGERPRINTS
from trace_assets.automation.run_reasons import LATE_DATA, NEW_FINGERPRINT_TAG, OLD_FINGERPRINT_TAG, REASON_TAG
from trace_assets.jobs import refresh_traces_job
from trace_assets.resources.trace_source import EMPTY_DAY, TraceSource

DEFAULT_LOOKBACK_DAYS = 7


def build_late_data_sensor(lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> dg.SensorDefinition:
    """Every tick, fingerprint the last `lookback_days` complete UTC days at the source (one
    GROUP BY query) and request the whole graph for each landed day whose fingerprint matches
    neither its last materialization nor the sensor's last request. The run key holds the new
    fingerprint, so a second late arrival runs the day again; the cursor keeps the fingerprints
    last requested, so unchanged days stay quiet. Days never landed are left to the schedule
    and backfills."""

    @dg.sensor(
        name="late_traces",
        job=refresh_traces_job,
        minimum_interval_seconds=300,
        description=f"Reruns days of the last {lookback_days} whose traces changed at the source.",
    )
    def late_traces(context: dg.SensorEvaluationContext, trace_source: TraceSource) -> dg.SensorResult:
        today = datetime.now(timezone.utc).date()
        days = [today - timedelta(days=offset) for offset in range(lookback_days, 0, -1)]
        start = datetime.combine(days[0], time(0), tzinfo=timezone.utc)
        current = trace_source.day_fingerprints(start, datetime.combine(today, time(0), tzinfo=timezone.utc))
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        run_requests = []
        for day in days:
            key = day.isoformat()
            landed = _landed_fingerprint(context.instance, day)
            if landed is None:
                continue
            now = current.get(day, EMPTY_DAY)
            if now in (landed, requested.get(key)):
                continue
            run_requests.append(
                dg.RunRequest(
                    run_key=f"late-data:{key}:{now}",
                    partition_key=key,
                    tags={REASON_TAG: LATE_DATA, OLD_FINGERPRINT_TAG: requested.get(key, landed), NEW_FINGERPRINT_TAG: now},
                )
            )
            requested[key] = now
        window = {day.isoformat() for day in days}
        cursor = {key: value for key, value in requested.items() if key in window}
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(cursor, sort_keys=True))

    return late_traces


def _landed_fingerprint(instance: dg.DagsterInstance, day: date) -> str | None:
    """The source fingerprint the latest raw_traces materialization of `day` recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_traces"), asset_partitions=[day.isoformat()]), limit=1
    ).records
    if not records:
        return None
    fingerprints = records[0].asset_materialization.metadata.get(SOURCE_FINGERPRINTS)
    return fingerprints.value.get(day.isoformat()) if fingerprints is not None else None
