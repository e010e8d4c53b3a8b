"""Bundled sample traces: the embedded default source's data (see generate.py)."""

from pathlib import Path

SAMPLE_TRACES_PATH = Path(__file__).with_name("traces.jsonl.gz")

# DuckDB's read_json column types for the sample file: the seed's `traces` table.
SAMPLE_TRACES_DUCKDB_COLUMNS = (
    "{id: 'VARCHAR', timestamp: 'TIMESTAMP', user_id: 'VARCHAR', session_id: 'VARCHAR', "
    "input: 'VARCHAR', output: 'VARCHAR', model: 'VARCHAR', latency_ms: 'INTEGER', "
    "token_count: 'INTEGER', metadata: 'JSON', user_consent: 'BOOLEAN'}"
)

# The same traces as a Langfuse v4 blob-storage export (see langfuse_export.py): what
# LANGFUSE_EXPORT_URI points at to run the demo from Langfuse's own format.
SAMPLE_LANGFUSE_PROJECT = "sample-project"
SAMPLE_LANGFUSE_EXPORT_DIR = Path(__file__).with_name("langfuse-export") / SAMPLE_LANGFUSE_PROJECT
