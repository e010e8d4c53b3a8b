"""The bundled sample traces: deterministic, and as varied as the demo promises."""

import gzip
import json
from collections import Counter

from trace_assets.sample_data import SAMPLE_TRACES_PATH
from trace_assets.sample_data.generate import generate_sample_traces, sample_traces_bytes


def sample_rows() -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(SAMPLE_TRACES_PATH.read_bytes()).splitlines()]


def test_the_bundled_file_is_what_the_generator_writes():
    assert sample_traces_bytes(generate_sample_traces()) == SAMPLE_TRACES_PATH.read_bytes()


def test_the_sample_covers_what_the_demo_needs():
    rows = sample_rows()
    days = Counter(row["timestamp"][:10] for row in rows if row["timestamp"])
    assert len(rows) >= 500 and len([d for d, n in days.items() if n >= 100]) >= 3
    models = {row["model"] for row in rows}
    assert len(models) >= 3 and any("/" in m for m in models)
    without_consent = sum(1 for row in rows if row["user_consent"] is not True) / len(rows)
    assert 0.15 <= without_consent <= 0.25
    assert any(row["user_consent"] is None for row in rows) and any(row["user_consent"] is False for row in rows)
    assert any(any("\uac00" <= ch <= "\ud7a3" for ch in row["input"]) for row in rows), "Korean questions"
    assert any(row["input"].isascii() for row in rows), "English questions"
    with_contexts = [row for row in rows if isinstance(row["metadata"], dict) and row["metadata"].get("contexts")]
    assert len(with_contexts) > len(rows) / 2
    assert any(isinstance(row["metadata"], dict) and "feedback_score" in row["metadata"] for row in rows)
    assert any(row["output"] == "" for row in rows) and any(len(row["input"]) > 20_000 for row in rows)
    assert any(row["timestamp"] and row["timestamp"].endswith("00:00:00.000000") for row in rows)
