"""Langfuse's blob-storage export (LANGFUSE_EXPORT_URI) as a TraceSource."""

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

import pyarrow.compute as pc
from pydantic import Field

from trace_assets.ingest.prefetch import prefetched
from trace_assets.ingest.rejections import RejectionLog
from trace_assets.langfuse.export_files import (
    SPAN_TABLES,
    ExportFileError,
    expected_arrow_bytes,
    file_path,
    read_manifests,
    read_spans,
)
from trace_assets.langfuse.span_spool import SpanSpool
from trace_assets.resources.langfuse_source import LangfuseSource, fingerprints_of
from trace_assets.resources.uri_filesystem import open_uri


class LangfuseExportSource(LangfuseSource):
    """Reads the export files (Parquet, JSONL, CSV; v3's `traces` + `observations` or v4's
    `observations_v2`) listed by the manifests whose windows touch the day and its reach. A
    file no manifest lists is not read (its run may be in progress); a listed file that is
    missing or unreadable is named in the run's notes and the rest of the day lands."""

    export_uri: str = Field(description="The export's project folder: s3://bucket/prefix/<projectId> or a local folder.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (AWS_ENDPOINT_URL_S3).")
    s3_region: str | None = Field(default=None, description="S3 region (AWS_REGION).")

    def _open(self):
        return open_uri(self.export_uri, self.s3_endpoint_url, self.s3_region, "LANGFUSE_EXPORT_URI")

    def spool_window(self, spool: SpanSpool, reach_start, reach_end, start, end, notes: RejectionLog) -> None:
        fs, root = self._open()
        project_id = None
        to_read = {}
        for manifest in read_manifests(fs, root):
            project_id = manifest.project_id
            if not manifest.overlaps(reach_start, reach_end):
                continue
            for file in manifest.files:
                path = file_path(root, manifest, file)
                if file.table in SPAN_TABLES and path not in to_read:
                    to_read[path] = file
        spool.expect(expected_arrow_bytes(fs, to_read))
        for path, file in to_read.items():
            try:
                # Read and converted on a second thread while this one spools.
                for spans in prefetched(read_spans(fs, path, file, columnar=self.columnar)):
                    starts = spans.column("start_time")
                    inside = pc.fill_null(pc.and_(pc.greater_equal(starts, reach_start), pc.less(starts, reach_end)), True)
                    # A filter copies every column: most batches lie wholly inside the reach.
                    spool.add(spans if pc.all(inside).as_py() else spans.filter(inside))
            except ExportFileError as error:
                notes.add("export_file_unreadable", str(error), 0)
        return project_id

    def day_fingerprints(self, start: datetime, end: datetime) -> dict[date, str]:
        """Per day, the manifests whose windows touch the day's reach: a new export run with
        spans of the day (late data, a consent change Langfuse re-exported) changes it."""
        fs, root = self._open()
        manifests = read_manifests(fs, root)
        identities = defaultdict(list)
        day = start.date()
        while datetime.combine(day, time(0), tzinfo=timezone.utc) < end:
            day_start = datetime.combine(day, time(0), tzinfo=timezone.utc)
            for manifest in manifests:
                if manifest.overlaps(day_start - self.grace, day_start + timedelta(days=1) + self.grace):
                    identities[day].append(json.dumps([manifest.key, [file.key for file in manifest.files]]))
            day += timedelta(days=1)
        return fingerprints_of(identities)
