"""raw_traces: each UTC day of traces, consent-gated, landed as hive-partitioned Parquet."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.assets.summaries import rows_by_day_model_consent, window_text
from trace_assets.governance.denylist import Denylist
from trace_assets.governance.erasure_log import ERASURES_TABLE, read_denylist
from trace_assets.governance.lake_erasure import erase_from_file
from trace_assets.governance.redaction import REDACTION_VERSION, redact_landed_batch
from trace_assets.ingest.hive_day import DayFiles, day_dir
from trace_assets.ingest.landing import LandingRules, clean_batch
from trace_assets.ingest.prefetch import prefetched
from trace_assets.ingest.rejections import RejectionLog
from trace_assets.partitions import daily_partitions, days_in
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
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
    erased_not_landed: int = 0  # rows of users (or traces) in the erasure denylist
    redactions: Counter = field(default_factory=Counter)  # placeholder -> values replaced
    # What the source left out that is not a landing rejection (Langfuse's evaluator traces,
    # unreadable export files...).
    source_notes: RejectionLog = field(default_factory=RejectionLog)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"parquet"},
    group_name="traces",
)
def raw_traces(
    context: dg.AssetExecutionContext, trace_source: TraceSource, trace_lake: TraceLake, iceberg: IcebergWarehouse
) -> dg.MaterializeResult:
    """The day's traces from the Langfuse database, landed as
    `{lake}/langfuse-traces/date=YYYY-MM-DD/model=<model>/consent=<bool>/part-N.parquet`.
    Each day is replaced whole; rejected rows are counted and named, never dropped silently.
    Erased users never land (the denylist in training_data.erasures); personal data is replaced
    by typed placeholders before anything is written (TRACE_REDACT_PII)."""
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
        landing = land_day(trace_source, trace_lake, day, lambda: erasure_denylist(iceberg, trace_lake))
        context.log.info(
            f"{day}: landed {landing.files.rows} traces in {len(landing.files.paths)} files "
            f"({landing.without_consent_not_landed} without consent, {landing.erased_not_landed} of erased users "
            f"not landed; redacted {sum(landing.redactions.values())} values)"
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


def erasure_denylist(iceberg: IcebergWarehouse, lake: TraceLake) -> Denylist:
    catalog = iceberg.catalog()
    table = catalog.load_table(ERASURES_TABLE) if catalog.table_exists(ERASURES_TABLE) else None
    return read_denylist(table, lake.erasure_salt)


def land_day(source: TraceSource, lake: TraceLake, day: date, denylist_now=None) -> DayLanding:
    """Read one UTC day from `source` and replace that day in `lake`. `denylist_now()` returns
    the current erasure denylist (none when not given)."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    rules = LandingRules(window_start=start, window_end=end, max_field_bytes=lake.max_field_bytes)
    rejections = RejectionLog()
    gated = Counter()
    redactions = Counter()
    denylist = denylist_now() if denylist_now is not None else Denylist()
    erased = Counter()

    def landed_batches():
        source_rows = 0
        for batch in prefetched(source.read_window(start, end, consented_only=not lake.land_non_consented)):
            landed = clean_batch(batch, rules, rejections, first_row_number=source_rows)
            source_rows += batch.num_rows
            landed, denied = denylist.drop_denied(landed)
            erased["rows"] += denied
            if not lake.land_non_consented:
                # The gate, whatever the source: one that cannot filter by consent while reading
                # (Langfuse keeps consent in metadata or tags) hands every trace to it.
                without_consent = landed.filter(pc.invert(landed.column("consent")))
                gated.update(without_consent.column("model").to_pylist())
                landed = landed.filter(landed.column("consent"))
            if lake.redact_pii:
                # After the gates (nothing is redacted that will not land), before the writer.
                landed = redact_landed_batch(landed, redactions, contexts_in_metadata="contexts" not in batch.schema.names)
                index = landed.schema.get_field_index("redaction")
                landed = landed.set_column(
                    index,
                    landed.schema.field(index),
                    pa.array([REDACTION_VERSION] * landed.num_rows, landed.schema.field(index).type),
                )
            yield landed

    files = lake.replace_traces_day(day, landed_batches())
    if denylist_now is not None:
        erased["rows"] += _erase_late_denials(lake, day, files, denylist, denylist_now())
    if lake.land_non_consented:
        not_landed = 0
    else:
        not_landed = sum(gated.values()) + sum(source.count_without_consent(start, end).values())
    return DayLanding(
        day,
        files,
        Counter(files.rows_by_partition),  # the writer's folders are (model, consent)
        rejections,
        not_landed,
        erased_not_landed=erased["rows"],
        redactions=redactions,
        source_notes=source.read_notes(start, end) or RejectionLog(),
    )


def _erase_late_denials(lake: TraceLake, day: date, files: DayFiles, before: Denylist, after: Denylist) -> int:
    """An erasure that started while the day was landing: its users leave the day's new files
    now (the erasure itself may have passed the lake before they were moved in)."""
    if after.user_hashes <= before.user_hashes and after.trace_hashes <= before.trace_hashes:
        return 0
    removed_total = 0
    folder = day_dir(lake.traces_root, day)
    for relative in list(files.paths):
        removed, _, deleted = erase_from_file(lake.filesystem, f"{folder}/{relative}", after.mask)
        removed_total += removed
        files.rows -= removed
        if deleted:
            files.paths.remove(relative)
    return removed_total


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
        "erased_not_landed": sum(landing.erased_not_landed for landing in landings),
        "redaction": REDACTION_VERSION if lake.redact_pii else "off",
        # Counts per type and day, never the values.
        "redactions_by_day": dg.MetadataValue.json(
            {landing.day.isoformat(): dict(sorted(landing.redactions.items())) for landing in landings}
        ),
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
