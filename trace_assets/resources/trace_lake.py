"""TraceLake: the data lake the traces land in, a local folder or an S3 prefix."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pydantic import Field, PrivateAttr

from trace_assets.ingest.hive_day import (
    LANDED_TRACES,
    DayFiles,
    FileLayout,
    HiveTable,
    read_day,
    replace_day,
    scan_batches,
)
from trace_assets.resources.uri_filesystem import open_uri

TRACES_PREFIX = "langfuse-traces"


class TraceLake(dg.ConfigurableResource):
    """Where and how traces land (TRACE_LAKE_URI).

    S3 is reached through pyarrow's S3 filesystem with the standard AWS credential chain
    (environment variables, profiles, IRSA / Pod Identity); `s3_endpoint_url` comes from
    AWS_ENDPOINT_URL_S3 for S3-compatible stores.
    """

    uri: str = Field(description="Lake root: an absolute local folder, or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint, e.g. http://127.0.0.1:9000.")
    s3_region: str | None = Field(default=None, description="S3 region (AWS_REGION).")
    land_non_consented: bool = Field(
        default=False,
        description="Also land traces without consent, under consent=false. They never reach the Iceberg "
        "table's consented reads, scoring or a dataset either way.",
    )
    max_field_bytes: int = Field(
        default=64 << 20,
        gt=0,
        description="A trace whose input, output, metadata or other text field is larger is rejected. The lake "
        "is the system of record: a long trace lands (what no judge can read is a decision for scoring, "
        "`exceeds_judge_context`); the cap only keeps one row from exhausting a step's memory.",
    )
    max_rows_per_file: int = Field(default=1_000_000, gt=0, description="Rows per Parquet file at most.")
    redact_pii: bool = Field(
        default=True,
        description="Replace e-mail addresses, phone numbers, card numbers, resident registration numbers, IP "
        "addresses and secrets by typed placeholders before anything lands (TRACE_REDACT_PII).",
    )
    erasure_salt: str | None = Field(
        default=None,
        description="Secret salt of the erased users' hashes in training_data.erasures (TRACE_ERASURE_SALT): "
        "landing hashes user ids with it to keep erased users out. Pass it as an EnvVar.",
    )

    _filesystem: pafs.FileSystem | None = PrivateAttr(default=None)
    _root: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        self._filesystem, self._root = self._open()

    def _open(self) -> tuple[pafs.FileSystem, str]:
        return open_uri(self.uri, self.s3_endpoint_url, self.s3_region, "TRACE_LAKE_URI")

    @property
    def filesystem(self) -> pafs.FileSystem:
        if self._filesystem is None:
            self._filesystem, self._root = self._open()
        return self._filesystem

    @property
    def root(self) -> str:
        if self._root is None:
            self._filesystem, self._root = self._open()
        return self._root

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    @property
    def traces_root(self) -> str:
        return f"{self.root}/{TRACES_PREFIX}"

    def location(self, path: str) -> str:
        """`path` inside the lake as a user would type it (s3://... or a local path)."""
        return path if self.is_local else f"s3://{path}"

    def replace_day(self, prefix: str, table: HiveTable, day: date, batches) -> DayFiles:
        """Replace `day` of the lake table under `{lake}/{prefix}/` by `batches`."""
        layout = FileLayout(max_rows_per_file=self.max_rows_per_file)
        return replace_day(self.filesystem, f"{self.root}/{prefix}", day, batches, table, layout)

    def read_day(self, prefix: str, table: HiveTable, day: date) -> ds.Dataset:
        return read_day(self.filesystem, f"{self.root}/{prefix}", day, table)

    def replace_traces_day(self, day: date, landed_batches) -> DayFiles:
        return self.replace_day(TRACES_PREFIX, LANDED_TRACES, day, landed_batches)

    def traces_day(self, day: date) -> ds.Dataset:
        return self.read_day(TRACES_PREFIX, LANDED_TRACES, day)

    def traces_day_batches(self, day: date, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """`columns` of the day's landed traces, a bounded batch at a time."""
        return scan_batches(self.traces_day(day), columns)
