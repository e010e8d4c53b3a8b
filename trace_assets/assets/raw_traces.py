"""raw_traces: each UTC day of traces, consent-gated, landed as hive-partitioned Parquet."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.assets.summaries import rows_by_day_model_consent, window_text
from trace_assets.ingest.hive_day import DayFiles, day_dir
from trace_assets.ingest.landing import LandingRules, clean_batch
from trace_assets.ingest.prefetch import prefetched
from trace_assets.ingest.rejections import RejectionLog
from trace_assets.partitions import daily_partitions, days_in
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.resources.trace_source import EMPTY_DAY, TraceSource

# raw_traces metadata: each landed day's fingerprint at the source, read by the late-data sensor.
SOURCE_FINGERPRINTS = "source_fingerprints"


@dataclass
class DayLanding:
    """What landing one day did."""

    day: date
    files: DayFiles
    rows_by_model_consent: Counter = field(default_factory=Counter)
    rejections: RejectionLog = field(default_factory=RejectionLog)
    without_consent_not_landed: int = 0
    # What the source left out that is not a landing rejection (Langfuse's evaluator traces,
    # unreadable export files...).
    source_notes: RejectionLog = field(default_factory=RejectionLog)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"parquet"},
    group_name="traces",
)
def raw_traces(context: dg.AssetExecutionContext, trace_source: TraceSource, trace_lake: TraceLake) -> dg.MaterializeResult:
    """The day's traces from the Langfuse database, landed as
    `{lake}/langfuse-traces/date=YYYY-MM-DD/model=<model>/consent=<bool>/part-N.parquet`.
    Each day is replaced whole; rejected rows are counted and named, never dropped silently."""
    window = context.partition_time_window
    # Taken before reading: a trace that arrives while the day lands changes the source's
    # fingerprint, so the late-data sensor sees it even if this run already read it.
    fingerprints = trace_source.day_fingerprints(window.start, window.end)
    untimed = RejectionLog()
    count, sample_ids = trace_source.rows_without_timestamp(consented_only=not trace_lake.land_non_consented)
    if count:
        untimed.add_many("missing_timestamp", count, sample_ids)
        context.log.warning(f"the source holds {count} traces with a NULL timestamp, in no day: {untimed.describe()}")
    landings = []
    for day in days_in(window):
        landing = land_day(trace_source, trace_lake, day)
        context.log.info(
            f"{day}: landed {landing.files.rows} traces in {len(landing.files.paths)} files "
            f"({landing.without_consent_not_landed} without consent not landed)"
        )
        if landing.rejections.total:
            context.log.warning(f"{day}: rejected {landing.rejections.total} rows: {landing.rejections.describe()}")
        if landing.source_notes.total:
            context.log.warning(f"{day}: the source left out {landing.source_notes.describe()}")
        landings.append(landing)
    metadata = landing_metadata(window, landings, untimed, trace_lake)
    metadata[SOURCE_FINGERPRINTS] = dg.MetadataValue.json(
        {landing.day.isoformat(): fingerprints.get(landing.day, EMPTY_DAY) for landing in landings}
    )
    return dg.MaterializeResult(metadata=metadata)


def land_day(source: TraceSource, lake: TraceLake, day: date) -> DayLanding:
    """Read one UTC day from `source` and replace that day in `lake`."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    rules = LandingRules(window_start=start, window_end=end, max_field_bytes=lake.max_field_bytes)
    rejections = RejectionLog()
    rows = Counter()
    gated = Counter()

    def landed_batches():
        source_rows = 0
        for batch in prefetched(source.read_window(start, end, consented_only=not lake.land_non_consented)):
            landed = clean_batch(batch, rules, rejections, first_row_number=source_rows)
            source_rows += batch.num_rows
            if not lake.land_non_consented:
                # The gate, whatever the source: one that cannot filter by consent while reading
                # (Langfuse keeps consent in metadata or tags) hands every trace to it.
                without_consent = landed.filter(pc.invert(landed.column("consent")))
                gated.update(without_consent.column("model").to_pylist())
                landed = landed.filter(landed.column("consent"))
            for group in pa.table(landed).group_by(["model", "consent"]).aggregate([([], "count_all")]).to_pylist():
                rows[(group["model"], group["consent"])] += group["count_all"]
            yield landed

    files = lake.replace_traces_day(day, landed_batches())
    if lake.land_non_consented:
        not_landed = 0
    else:
        not_landed = sum(gated.values()) + sum(source.count_without_consent(start, end).values())
    return DayLanding(day, files, rows, rejections, not_landed, source.read_notes(start, end) or RejectionLog())


def landing_metadata(window: dg.TimeWindow, landings: list[DayLanding], untimed: RejectionLog, lake: TraceLake) -> dict:
    rows = Counter()
    rejections = RejectionLog()
    rejections.merge(untimed)
    for landing in landings:
        rows.update({(landing.day, model, consent): n for (model, consent), n in landing.rows_by_model_consent.items()})
        rejections.merge(landing.rejections)
    total = sum(landing.files.rows for landing in landings)
    return {
        "window": window_text(window),
        "dagster/row_count": total,
        "rows_by_day_model_consent": rows_by_day_model_consent(rows),
        "rows_rejected": rejections.total,
        "rejections": dg.MetadataValue.json(rejections.as_dict()),
        "without_consent_not_landed": sum(landing.without_consent_not_landed for landing in landings),
        "source_notes": dg.MetadataValue.json(_merged([landing.source_notes for landing in landings]).as_dict()),
        "files_written": sum(len(landing.files.paths) for landing in landings),
        "bytes_written": sum(landing.files.bytes for landing in landings),
        "location": dg.MetadataValue.path(lake.location(day_dir(lake.traces_root, landings[0].day)).rsplit("/", 1)[0]),
        "days": dg.MetadataValue.json(
            {
                landing.day.isoformat(): {"rows": landing.files.rows, "files": landing.files.paths}
                for landing in landings
            }
        ),
    }


def _merged(logs: list[RejectionLog]) -> RejectionLog:
    merged = RejectionLog()
    for log in logs:
        merged.merge(log)
    return merged
