"""The Langfuse sources: the blob export on S3 against pyarrow alone, and the public API against
its request budget.

    python bench/langfuse_sources.py --traces 1000000 --api-traces 20000 --requests-per-minute 60

1. Export source. A day of N traces as Langfuse v4 blob-export files (hourly `observations_v2`
   Parquet, zstd, each with its manifest; per trace a root SPAN with question, answer and metadata
   incl. `user_consent`, a RETRIEVER with three ~500-character `page_content` documents and a
   GENERATION with the chat messages, a ~1.5 KB answer, the model and the usage) on moto's S3
   server over HTTP, generated with Arrow compute. Then, each in its own process: the anchor
   (every file read with pyarrow alone, all columns, from S3) and ours (`land_day` with
   `LangfuseExportSource` into a local `TraceLake`, as shipped: redaction on). Peak RSS is the
   child's, sampled from /proc/<pid>/statm. The same at N/10 shows whether memory grows with the
   day, and a cProfile of ours at `--profile-traces` (on one thread: the read-ahead thread is
   replaced by a plain loop so the profiler sees it) shows where the time goes. CPU s is the
   child's CPU time (all its threads): above its seconds when more than one core worked. The
   environment variable BENCH_EXPORT_SOURCE_SETTINGS (JSON) passes settings to ours, to compare
   them on the same export.
2. API source. A loopback server (its own process) answering `GET /api/public/v2/observations` as
   Langfuse v4 does (Basic auth, field groups, cursor pages of up to 1,000 observations, newest
   first, `meta.cursor`), each page after `--page-latency-ms`, and 429 with Retry-After when a key
   exceeds `--server-budget` requests in a minute (Langfuse's fixed window); `land_day` with
   `LangfuseApiSource(requests_per_minute=R)` reads a day of M traces. Printed: traces/s, requests,
   the share of R used, and the 429s the server sent.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import asyncio
import base64
import bisect
import contextlib
import cProfile
import io
import json
import math
import multiprocessing
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from loopback_fleet import serve_forever, stop  # noqa: E402  (SIGTERM, then SIGKILL: children we own always end)
from process_memory import resident_bytes  # noqa: E402

from trace_assets.sample_data.langfuse_export import OBSERVATIONS_V2_SCHEMA  # noqa: E402

DAY = date(2026, 4, 18)
DAY_START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
BUCKET = "langfuse-export"
PREFIX = "exports/"
PUBLIC_KEY, SECRET_KEY = "pk-lf-bench", "sk-lf-bench"
MODELS = ["gpt-4o-mini", "Qwen/Qwen3-4B", "glm-5-32b", "gpt-oss-20b"]
SYSTEM_PROMPT = "Answer from the given documents only. / 주어진 문서만으로 답하세요."
QUESTIONS = [
    "What is the difference between EKS Auto Mode and Karpenter node pools?",
    "EKS Auto Mode와 Karpenter의 차이점은 무엇인가요?",
    "How do I rotate the IAM credentials of a managed node group without downtime?",
    "관리형 노드 그룹의 IAM 자격 증명을 중단 없이 교체하려면 어떻게 하나요?",
    "Why does my pod stay Pending after the cluster autoscaler scaled up?",
    "Which add-ons does Auto Mode manage, and which ones stay mine?",
    "클러스터 업그레이드 전에 무엇을 확인해야 하나요?",
    "How are Spot interruptions handled for stateful workloads?",
]
ROWS_PER_ROW_GROUP = 10_000
ANSWER_CHARS, CONTEXT_CHARS, QUESTION_TAIL_CHARS = 1_500, 500, 180
# Spans of a trace start at +0, +1 and +40 ms; the generation ends after 800-3,800 ms.
SPAN_OFFSETS_US = (0, 1_000, 40_000)


# --- realistic text, vectorised ---------------------------------------------------------------

def corpus(size: int = 4 << 20, seed: int = 7) -> np.ndarray:
    """`size` bytes of ASCII prose-like text (words from a 3,000-word vocabulary): slices of it
    are the answers and documents, compressible as text is (about 3x with zstd), not as a
    repeated string is."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
    weights = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0,
                        2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1])
    vocabulary = [
        bytes(rng.choice(letters, size=int(length), p=weights / weights.sum()))
        for length in rng.integers(2, 11, size=3000)
    ]
    # Zipf-Mandelbrot word frequencies: the commonest word about 4% of the text, as "the" is.
    weights = 1 / (np.arange(len(vocabulary)) + 2.7)
    ranks = rng.choice(len(vocabulary), size=size // 4, p=weights / weights.sum())
    text = b" ".join(vocabulary[rank] for rank in ranks)[:size]
    return np.frombuffer(text, dtype=np.uint8)


def slices(text: np.ndarray, starts: np.ndarray, length: int) -> pa.Array:
    """`text[start:start+length]` for each start, as one Arrow string array built from buffers."""
    rows = np.lib.stride_tricks.sliding_window_view(text, length)[starts]
    offsets = np.arange(len(starts) + 1, dtype=np.int32) * length
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows)))


def joined(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(*parts, "")


# --- the export --------------------------------------------------------------------------------

def trace_starts_us(traces: int) -> np.ndarray:
    """Trace k starts at k * 86,399 s / N after midnight: every span of the day stays in it."""
    return int(DAY_START.timestamp()) * 1_000_000 + (np.arange(traces, dtype=np.int64) * 86_399_000_000) // traces


def observations(k: np.ndarray, starts_us: np.ndarray, text: np.ndarray, project: str) -> pa.Table:
    """The observations_v2 rows of traces `k` (root, RETRIEVER, GENERATION per trace)."""
    n = len(k)
    rng = np.random.default_rng(int(k[0]) if n else 0)
    key = pa.array(k).cast(pa.string())
    trace_id = pc.utf8_lpad(key, width=32, padding="0")
    ids = [joined(prefix, pc.utf8_lpad(key, width=14, padding="0")) for prefix in ("a0", "b1", "c2")]
    question = joined(pa.array(QUESTIONS).take(k % len(QUESTIONS)), " ", slices(text, rng.integers(0, len(text) - QUESTION_TAIL_CHARS, n), QUESTION_TAIL_CHARS))
    answer = slices(text, rng.integers(0, len(text) - ANSWER_CHARS, n), ANSWER_CHARS)
    documents = [slices(text, rng.integers(0, len(text) - CONTEXT_CHARS, n), CONTEXT_CHARS) for _ in range(3)]
    generation_ms = 800 + k % 3000
    start = [starts_us + offset for offset in SPAN_OFFSETS_US]
    generation_end = start[2] + generation_ms * 1000
    end = [generation_end + 5_000, start[2], generation_end]
    consent = pc.if_else(pa.array(k % 10 != 0), "true", "false")
    feedback = pa.array((k % 5) + 0.5).cast(pa.string())
    metadata_values = pa.concat_arrays([consent, pa.array(["eks-documentation"] * 1).take(np.zeros(n, dtype=np.int64)),
                                        feedback, pa.array(["openai"]).take(np.zeros(n, dtype=np.int64))])
    order = (np.arange(n)[:, None] + np.arange(4) * n).ravel()
    root_metadata = pa.MapArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * 4),
        pa.array(["user_consent", "domain", "feedback_score", "ls_provider"]).take(np.tile(np.arange(4), n)),
        metadata_values.take(order),
    )
    empty_metadata = pa.MapArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()), pa.array([], pa.string()))
    prompt_tokens = 900 + k % 400
    completion_tokens = 300 + k % 200
    usage = pa.MapArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * 3),
        pa.array(["input", "output", "total"]).take(np.tile(np.arange(3), n)),
        pa.array(np.stack([prompt_tokens, completion_tokens, prompt_tokens + completion_tokens], axis=1).ravel().astype(np.uint64)),
    )
    empty_usage = pa.MapArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()), pa.array([], pa.uint64()))
    common = {
        "trace_id": trace_id,
        "project_id": pa.array([project]).take(np.zeros(n, dtype=np.int64)),
        "level": pa.array(["DEFAULT"]).take(np.zeros(n, dtype=np.int64)),
        "environment": pa.array(["production"]).take(np.zeros(n, dtype=np.int64)),
        "version": pa.nulls(n, pa.string()),
        "user_id": joined("user-", pa.array(k % 5000).cast(pa.string())),
        "session_id": joined("session-", pa.array(k % 40000).cast(pa.string())),
        "trace_name": pa.array(["docs-rag"]).take(np.zeros(n, dtype=np.int64)),
        "tags": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), pa.array(["docs-rag"]).take(np.zeros(n, dtype=np.int64))),
        "release": pa.array(["2026.04"]).take(np.zeros(n, dtype=np.int64)),
    }
    no_model = pa.nulls(n, pa.string())
    kinds = [
        # (type, name, parent, input, output, metadata, model, usage)
        ("SPAN", "docs-rag", pa.nulls(n, pa.string()), joined('{"question": "', question, '"}'),
         joined('{"answer": "', answer, '"}'), root_metadata, no_model, empty_usage),
        ("RETRIEVER", "VectorStoreRetriever", ids[0], joined('"', question, '"'),
         joined('[{"page_content": "', documents[0], '", "metadata": {"rank": 0}}, {"page_content": "', documents[1],
                '", "metadata": {"rank": 1}}, {"page_content": "', documents[2], '", "metadata": {"rank": 2}}]'),
         empty_metadata, no_model, empty_usage),
        ("GENERATION", "ChatOpenAI", ids[0],
         joined(f'[{{"role": "system", "content": "{SYSTEM_PROMPT}"}}, {{"role": "user", "content": "', question, '"}]'),
         joined('{"role": "assistant", "content": "', answer, '"}'), empty_metadata,
         pa.array(MODELS).take(k % len(MODELS)), usage),
    ]
    tables = []
    for index, (kind, name, parent, input_, output, metadata, model, usage_details) in enumerate(kinds):
        stamps = {
            "start_time": pa.array(start[index], pa.timestamp("us", tz="UTC")),
            "end_time": pa.array(end[index], pa.timestamp("us", tz="UTC")),
        }
        columns = {
            **common, **stamps, "id": ids[index], "parent_observation_id": parent,
            "type": pa.array([kind]).take(np.zeros(n, dtype=np.int64)), "name": pa.array([name]).take(np.zeros(n, dtype=np.int64)),
            "input": input_, "output": output, "metadata": metadata, "provided_model_name": model,
            "usage_details": usage_details, "created_at": stamps["end_time"], "updated_at": stamps["end_time"],
        }
        tables.append(pa.table({field.name: columns[field.name] for field in OBSERVATIONS_V2_SCHEMA}, schema=OBSERVATIONS_V2_SCHEMA))
    return pa.concat_tables(tables)


def write_export(fs: pafs.FileSystem, traces: int, project: str) -> dict:
    """The day as 24 hourly export runs under `{BUCKET}/{PREFIX}{project}`: each an
    observations_v2 Parquet file (zstd) and, written after it, its manifest (window both ends
    inclusive, as Langfuse writes it). Returns the rows and bytes written."""
    text = corpus()
    starts = trace_starts_us(traces)
    root = f"{BUCKET}/{PREFIX}{project}"
    gap_us = 86_399_000_000 / max(traces, 1)
    reach_back = int(math.ceil(SPAN_OFFSETS_US[-1] / gap_us)) + 1
    written = {"rows": 0, "bytes": 0, "files": 0}
    for hour in range(24):
        window_start = DAY_START + timedelta(hours=hour)
        window_end = window_start + timedelta(hours=1)
        low_us, high_us = int(window_start.timestamp()) * 1_000_000, int(window_end.timestamp()) * 1_000_000
        first = max(int(np.searchsorted(starts, low_us)) - reach_back, 0)
        last = int(np.searchsorted(starts, high_us))
        k = np.arange(first, last, dtype=np.int64)
        table = observations(k, starts[first:last], text, project)
        span_starts = table.column("start_time").cast(pa.int64())
        table = table.filter(pc.and_(pc.greater_equal(span_starts, int(low_us)), pc.less(span_starts, int(high_us))))
        stamp = window_end.strftime("%Y-%m-%dT%H-%M-%S")
        path = f"{root}/observations_v2/{stamp}.parquet"
        pq.write_table(table, path, filesystem=fs, compression="zstd", row_group_size=ROWS_PER_ROW_GROUP)
        size = fs.get_file_info(path).size
        manifest = {
            "version": 1, "projectId": project, "exportSource": "EVENTS",
            "window": {"minTimestamp": window_start.isoformat().replace("+00:00", ".000Z"),
                       "maxTimestamp": window_end.isoformat().replace("+00:00", ".000Z")},
            "createdAt": (window_end + timedelta(minutes=21)).isoformat().replace("+00:00", ".000Z"),
            "tables": ["observations_v2"],
            "files": [{"key": f"{PREFIX}{project}/observations_v2/{stamp}.parquet", "table": "observations_v2",
                       "fileType": "PARQUET", "compressed": False, "sizeBytes": size, "rowCount": table.num_rows}],
        }
        with fs.open_output_stream(f"{root}/manifests/{stamp}.json") as out:
            out.write(json.dumps(manifest).encode())
        written["rows"] += table.num_rows
        written["bytes"] += size
        written["files"] += 1
    return written


# --- the measured children ---------------------------------------------------------------------

def s3(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=endpoint.split("://", 1)[1], scheme="http", region="us-east-1",
                             access_key="bench", secret_key="bench")


def run_anchor(endpoint: str, project: str, out: str) -> dict:
    """pyarrow alone: every export file of the day, all columns, in batches as ours reads them."""
    fs = s3(endpoint)
    rows = nbytes = 0
    selector = pafs.FileSelector(f"{BUCKET}/{PREFIX}{project}/observations_v2")
    for info in sorted(fs.get_file_info(selector), key=lambda info: info.path):
        with fs.open_input_file(info.path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=5_000):
                rows += batch.num_rows
                nbytes += batch.nbytes
    return {"spans": rows, "arrow_bytes": nbytes}


def run_ours(endpoint: str, project: str, out: str) -> dict:
    from trace_assets.assets.raw_traces import land_day
    from trace_assets.resources.langfuse_export_source import LangfuseExportSource
    from trace_assets.resources.trace_lake import TraceLake

    settings = json.loads(os.environ.get("BENCH_EXPORT_SOURCE_SETTINGS", "{}"))  # e.g. {"spool_memory_limit": "512MB"}
    source = LangfuseExportSource(export_uri=f"s3://{BUCKET}/{PREFIX}{project}", s3_endpoint_url=endpoint, s3_region="us-east-1",
                                  **settings)
    landing = land_day(source, TraceLake(uri=out), DAY)
    return {"traces": landing.files.rows, "without_consent": landing.without_consent_not_landed,
            "rejected": landing.rejections.total, "source_notes": landing.source_notes.total}


# Where ours spends its time: (label, module path suffix, function name, cumulative or own time).
STAGES = [
    ("read files: S3, Parquet, to spans", "langfuse/export_files.py", "read_spans", "cum"),
    ("  Parquet rows to spans (Arrow compute)", "langfuse/arrow_spans.py", "spans_from_export", "cum"),
    ("spool: spans into hash buckets on disk", "langfuse/span_spool.py", "add", "cum"),
    ("group: read, sort and dedupe each bucket (Arrow)", "langfuse/span_spool.py", "_sorted_buckets", "cum"),
    ("assemble common-shape traces (Arrow compute)", "langfuse/columnar_assembly.py", "assemble_columns", "cum"),
    ("  metadata and consent", "langfuse/columnar_assembly.py", "_metadata_and_consent", "cum"),
    ("  contexts (Arrow's JSON reader)", "langfuse/columnar_assembly.py", "_contexts", "cum"),
    ("assemble_trace (other traces, Python)", "langfuse/assembly.py", "assemble_trace", "cum"),
    ("landing rules (clean_batch)", "ingest/landing.py", "clean_batch", "cum"),
    ("redaction (redact_landed_batch)", "governance/redaction.py", "redact_landed_batch", "cum"),
    ("write the lake's files", "ingest/hive_day.py", "add", "cum"),
]


def run_profile(endpoint: str, project: str, out: str) -> dict:
    import trace_assets.assets.raw_traces as raw_traces

    import trace_assets.langfuse.trace_rows as trace_rows
    import trace_assets.resources.langfuse_export_source as export_source

    # cProfile sees one thread: read on this one (the shipped code reads ahead on others).
    raw_traces.prefetched = trace_rows.prefetched = export_source.prefetched = lambda items, depth=1: iter(items)
    profiler = cProfile.Profile()
    profiler.enable()
    result = run_ours(endpoint, project, out)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(entry[3] for entry in stats.stats.values())
    stages = []
    for label, module, name, kind in STAGES:
        seconds = sum(entry[3 if kind == "cum" else 2] for (filename, _, function), entry in stats.stats.items()
                      if function == name and filename.endswith(module))
        stages.append([label, seconds])
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("tottime").print_stats(14)
    result.update(profile_total_s=total, stages=stages, top=listing.getvalue())
    return result


CHILDREN = {"anchor": run_anchor, "ours": run_ours, "profile": run_profile}


def child(method: str, endpoint: str, project: str, out: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if method != "anchor":  # imports are not what is measured (nor the anchor's RSS)
        import trace_assets.assets.raw_traces  # noqa: F401
        import trace_assets.resources.langfuse_export_source  # noqa: F401

    started, cpu_started = time.perf_counter(), _cpu_seconds()
    result = CHILDREN[method](endpoint, project, out)
    result["seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = _cpu_seconds() - cpu_started
    print(json.dumps(result))


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of any children it has waited for."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime for usage in
               (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def measure(method: str, endpoint: str, project: str) -> dict:
    """One child process: its result, wall time and peak RSS (sampled every 50 ms from
    /proc/<pid>/statm). It is SIGKILLed if this process leaves early, whatever its signal
    dispositions."""
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", method, "--endpoint", endpoint, "--project", project, "--out", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        peak = 0
        sampler_done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not sampler_done.is_set():
                peak = max(peak, resident_bytes(process.pid))
                sampler_done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            stdout, stderr = process.communicate()
        finally:
            sampler_done.set()
            sampler.join()
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{method} failed ({process.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_s3():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def export_part(traces: int, profile_traces: int) -> None:
    sizes = [max(traces // 10, 1), traces] if traces >= 10 else [traces]
    print(f"\n1. Export source: a day of Langfuse v4 observations_v2 files on moto S3 (HTTP)")
    results = {}
    with moto_s3() as endpoint:
        fs = s3(endpoint)
        for size in sizes:
            project = f"bench-{size}"
            started = time.perf_counter()
            written = write_export(fs, size, project)
            print(f"\n  N = {size:,} traces: {written['rows']:,} spans in {written['files']} hourly files, "
                  f"{written['bytes'] / 1e6:,.0f} MB (zstd), written in {time.perf_counter() - started:.0f} s", flush=True)
            print(f"  {'method':<38}{'seconds':>9}{'traces/s':>11}{'spans/s':>11}{'peak RSS MB':>13}{'CPU s':>8}", flush=True)
            measured = []
            # Each line as soon as its child ends: a long run never loses a finished figure.
            for method, label in (("anchor", "pyarrow alone (the anchor)"), ("ours", "ours: land_day(LangfuseExportSource)")):
                result = measure(method, endpoint, project)
                measured.append(result)
                seconds = result["seconds"]
                print(f"  {label:<38}{seconds:>9.1f}{size / seconds:>11,.0f}{written['rows'] / seconds:>11,.0f}"
                      f"{result['peak_rss_mb']:>13,.0f}{result['cpu_seconds']:>8.1f}", flush=True)
            anchor, ours = measured
            results[size] = (anchor, ours)
            print(f"  landed {ours['traces']:,} consented traces ({ours['without_consent']:,} without consent not landed, "
                  f"{ours['rejected']} rejected, {ours['source_notes']} source notes); anchor read {anchor['spans']:,} spans, "
                  f"{anchor['arrow_bytes'] / 1e9:.1f} GB as Arrow")
            print(f"  ours / anchor: {anchor['seconds'] / ours['seconds']:.2f} of the anchor's throughput (target >= 0.7)")
        if len(sizes) > 1:
            small, large = sizes
            rss_small, rss_large = results[small][1]["peak_rss_mb"], results[large][1]["peak_rss_mb"]
            print(f"\n  our peak RSS: {rss_small:,.0f} MB at N={small:,}, {rss_large:,.0f} MB at N={large:,} "
                  f"(x{rss_large / rss_small:.2f}; target <= 512 MB and flat)")
        if profile_traces:
            project = f"bench-profile-{profile_traces}"
            write_export(fs, profile_traces, project)
            profile = measure("profile", endpoint, project)
            print(f"\n  where ours spends its time (cProfile, N = {profile_traces:,}, one thread, "
                  f"{profile['profile_total_s']:.1f} s under the profiler; cumulative, indented lines are part of the line above):")
            for label, seconds in profile["stages"]:
                print(f"    {label:<46}{seconds:>8.1f} s{100 * seconds / profile['profile_total_s']:>6.0f}%")
            print("\n  top functions by own time:")
            lines = profile["top"].splitlines()
            start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
            for line in lines[start:start + 15]:
                print(f"    {line[:150]}")


# --- the API part --------------------------------------------------------------------------------

V2_PATH = "/api/public/v2/observations"
FIELD_GROUPS = ("core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context")


def _iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso_us(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e6)


class ObservationStore:
    """A day of M traces (3 observations each) rendered on demand, newest first, as Langfuse v4's
    v2 observations endpoint gives them; nothing is held but the start times."""

    def __init__(self, traces: int, project: str = "bench-api"):
        self.traces = traces
        self.project = project
        self.text = corpus().tobytes().decode()
        starts = trace_starts_us(traces).tolist()
        # Position j (newest first): trace M-1-j//3, part 2-j%3 (GENERATION, RETRIEVER, root).
        self.neg_starts = [-(starts[traces - 1 - j // 3] + SPAN_OFFSETS_US[2 - j % 3]) for j in range(3 * traces)]

    def range_of(self, from_us: int | None, to_us: int | None) -> tuple[int, int]:
        """Positions of observations with from <= start < to."""
        low = 0 if to_us is None else bisect.bisect_right(self.neg_starts, -to_us)
        high = len(self.neg_starts) if from_us is None else bisect.bisect_right(self.neg_starts, -from_us)
        return low, high

    def _slice(self, k: int, salt: int, length: int) -> str:
        offset = (k * 2654435761 + salt * 40503) % (len(self.text) - length)
        return self.text[offset:offset + length]

    def item(self, j: int, groups: set[str], expand_metadata: bool) -> str:
        k, part = self.traces - 1 - j // 3, 2 - j % 3
        start = -self.neg_starts[j]
        trace_start = start - SPAN_OFFSETS_US[part]
        generation_end = trace_start + SPAN_OFFSETS_US[2] + (800 + k % 3000) * 1000
        end = (generation_end + 5000, trace_start + SPAN_OFFSETS_US[2], generation_end)[part]
        trace_id = f"{k:032d}"
        ids = [f"{prefix}{k:014d}" for prefix in ("a0", "b1", "c2")]
        question = f"{QUESTIONS[k % len(QUESTIONS)]} {self._slice(k, 1, QUESTION_TAIL_CHARS)}"
        answer = self._slice(k, 2, ANSWER_CHARS)
        item = {"id": ids[part], "traceId": trace_id, "startTime": _iso_us(start), "projectId": self.project,
                "parentObservationId": None if part == 0 else ids[0], "type": ("SPAN", "RETRIEVER", "GENERATION")[part],
                "endTime": _iso_us(end), "latency": (end - start) / 1e6}
        if "basic" in groups:
            item.update(name=("docs-rag", "VectorStoreRetriever", "ChatOpenAI")[part], level="DEFAULT", statusMessage=None,
                        version=None, environment="production", userId=f"user-{k % 5000}", sessionId=f"session-{k % 40000}")
        if "time" in groups:
            item.update(completionStartTime=None, createdAt=_iso_us(end), updatedAt=_iso_us(end))
        if "io" in groups:
            if part == 0:
                io_ = (json.dumps({"question": question}, ensure_ascii=False), json.dumps({"answer": answer}))
            elif part == 1:
                documents = [{"page_content": self._slice(k, 3 + rank, CONTEXT_CHARS), "metadata": {"rank": rank}} for rank in range(3)]
                io_ = (json.dumps(question, ensure_ascii=False), json.dumps(documents))
            else:
                messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
                io_ = (json.dumps(messages, ensure_ascii=False), json.dumps({"role": "assistant", "content": answer}))
            item.update(input=io_[0], output=io_[1])
        if "metadata" in groups:
            metadata = {"user_consent": k % 10 != 0, "domain": "eks-documentation", "feedback_score": k % 5 + 0.5,
                        "ls_provider": "openai"} if part == 0 else {}
            if not expand_metadata:  # Langfuse cuts each value at 200 characters without expandMetadata
                metadata = {key: value[:200] if isinstance(value, str) else value for key, value in metadata.items()}
            item["metadata"] = metadata
        if "model" in groups:
            item.update(model=MODELS[k % len(MODELS)] if part == 2 else None, internalModelId=None, modelParameters=None)
        if "usage" in groups:
            prompt, completion = (900 + k % 400, 300 + k % 200) if part == 2 else (0, 0)
            usage = {"input": prompt, "output": completion, "total": prompt + completion} if part == 2 else {}
            item.update(usageDetails=usage, inputUsage=prompt, outputUsage=completion, totalUsage=prompt + completion,
                        costDetails={}, inputCost=None, outputCost=None, totalCost=None)
        if "trace_context" in groups:
            item.update(tags=["docs-rag"], release="2026.04", traceName="docs-rag")
        return json.dumps(item, ensure_ascii=False)

    def cursor_of(self, j: int) -> str:
        """Langfuse's cursor (base64 JSON of the last item's start, trace and id)."""
        k, part = self.traces - 1 - j // 3, 2 - j % 3
        last = {"lastStartTimeTo": _iso_us(-self.neg_starts[j]), "lastTraceId": f"{k:032d}",
                "lastId": f"{('a0', 'b1', 'c2')[part]}{k:014d}"}
        return base64.b64encode(json.dumps(last).encode()).decode()

    def position_after(self, cursor: str) -> int:
        last = json.loads(base64.b64decode(cursor))
        return bisect.bisect_right(self.neg_starts, -_parse_iso_us(last["lastStartTimeTo"]))


def _serve_api(port: int, traces: int, budget_per_minute: int, latency_s: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from aiohttp import web

    store = ObservationStore(traces)
    expected = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    stats = {"requests": 0, "pages": 0, "answered_429": 0, "first_s": None, "last_s": None}
    window = {"start": None, "count": 0}

    def refused(request: web.Request) -> web.Response | None:
        """Counts the request; 401 for other keys, 429 beyond the budget of the public API's
        minute (Langfuse's rate limiter: a fixed 60 s window per key from its first request)."""
        now = time.monotonic()
        stats["requests"] += 1
        stats["first_s"] = now if stats["first_s"] is None else stats["first_s"]
        stats["last_s"] = now
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Invalid credentials. Confirm that you've configured the correct host."}, status=401)
        if window["start"] is None or now >= window["start"] + 60:
            window["start"], window["count"] = now, 0
        window["count"] += 1
        if window["count"] > budget_per_minute:
            stats["answered_429"] += 1
            remaining = window["start"] + 60 - now
            return web.json_response({"message": "Rate limit exceeded"}, status=429, headers={
                "Retry-After": str(max(1, math.ceil(remaining))), "X-RateLimit-Limit": str(budget_per_minute),
                "X-RateLimit-Remaining": "0"})
        return None

    async def projects(request: web.Request) -> web.Response:
        """The keys' project (what the source asks for its trace links)."""
        answer = refused(request) or web.json_response(
            {"data": [{"id": store.project, "name": "bench", "metadata": {}, "retentionDays": None}]})
        await asyncio.sleep(latency_s)
        return answer

    async def observations_page(request: web.Request) -> web.Response:
        answer = refused(request)
        if answer is not None:
            return answer
        query = request.query
        limit = int(query.get("limit", "50"))
        if not 0 <= limit <= 1000:
            return web.json_response({"message": "limit must be between 0 and 1000"}, status=400)
        groups = {g.strip() for g in query.get("fields", "core,basic").split(",") if g.strip() in FIELD_GROUPS}
        from_us = _parse_iso_us(query["fromStartTime"]) if "fromStartTime" in query else None
        to_us = _parse_iso_us(query["toStartTime"]) if "toStartTime" in query else None
        low, high = store.range_of(from_us, to_us)
        if "cursor" in query:
            try:
                low = max(low, store.position_after(query["cursor"]))
            except (ValueError, KeyError):
                return web.json_response({"message": "Invalid cursor format"}, status=400)
        page_end = min(low + limit, high)
        expand = query.get("expandMetadata") == "true"
        body = ",".join(store.item(j, groups, expand) for j in range(low, page_end))
        meta = {"cursor": store.cursor_of(page_end - 1)} if page_end < high and page_end > low else {}
        await asyncio.sleep(latency_s)
        stats["pages"] += 1
        return web.Response(text='{"data":[' + body + '],"meta":' + json.dumps(meta) + "}", content_type="application/json")

    async def bench_stats(request: web.Request) -> web.Response:
        return web.json_response({**stats, "read_span_s": (stats["last_s"] - stats["first_s"]) if stats["first_s"] else 0})

    async def main() -> None:
        app = web.Application()
        app.router.add_get(V2_PATH, observations_page)
        app.router.add_get("/api/public/projects", projects)
        app.router.add_get("/bench/stats", bench_stats)
        await serve_forever(app, port)

    asyncio.run(main())


@contextlib.contextmanager
def api_server(traces: int, budget_per_minute: int, latency_s: float):
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve_api, args=(port, traces, budget_per_minute, latency_s), daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            if not server.is_alive():
                raise RuntimeError(f"the loopback Langfuse API exited with code {server.exitcode} before listening")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the loopback Langfuse API did not listen on port {port} within 120 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def api_part(traces: int, requests_per_minute: float, server_budget: int, latency_ms: float) -> None:
    import httpx

    from trace_assets.assets.raw_traces import land_day
    from trace_assets.resources.langfuse_api_source import LangfuseApiSource
    from trace_assets.resources.trace_lake import TraceLake

    pages = math.ceil(3 * traces / 1000)
    print(f"\n2. API source: a day of {traces:,} traces ({3 * traces:,} observations, {pages} pages of 1,000) from a "
          f"loopback Langfuse v4 API answering in {latency_ms:.0f} ms a page, 429 beyond {server_budget} requests a minute")
    with api_server(traces, server_budget, latency_ms / 1000) as host, tempfile.TemporaryDirectory(prefix="bench-lake-") as out:
        source = LangfuseApiSource(host=host, public_key=PUBLIC_KEY, secret_key=SECRET_KEY, requests_per_minute=requests_per_minute)
        started = time.perf_counter()
        landing = land_day(source, TraceLake(uri=out), DAY)
        seconds = time.perf_counter() - started
        client = source.api().stats
        server = httpx.get(f"{host}/bench/stats").json()
    read_s = server["read_span_s"]
    print(f"  LangfuseApiSource(requests_per_minute={requests_per_minute:g}): {seconds:.1f} s, "
          f"{traces / seconds:,.0f} traces/s; landed {landing.files.rows:,} consented traces "
          f"({landing.without_consent_not_landed:,} without consent not landed)")
    print(f"  requests: {client.requests} sent by the client, {server['requests']} seen by the server "
          f"({server['pages']} pages of observations; client retries: {client.retries or 'none'})")
    # n paced requests use the budget of n intervals: the first to the last start, plus one interval.
    interval = 60 / requests_per_minute
    print(f"  budget used while reading: {100 * server['requests'] * interval / (read_s + interval):.0f}% "
          f"({server['requests']} requests in {read_s:.1f} s from the first to the last; target >= 90%)")
    print(f"  budget used over the whole run (incl. assembling and landing after the last page): "
          f"{100 * server['requests'] * interval / seconds:.0f}%")
    print(f"  429 answers: {server['answered_429']} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000, help="traces in the export day (also measured at N/10)")
    parser.add_argument("--profile-traces", type=int, default=10_000, help="traces of the profiled run (0: none)")
    parser.add_argument("--api-traces", type=int, default=20_000, help="traces in the API day (0: no API part)")
    parser.add_argument("--requests-per-minute", type=float, default=60, help="LangfuseApiSource's configured budget (its default)")
    parser.add_argument("--server-budget", type=int, help="the server's limit a minute (default: --requests-per-minute)")
    parser.add_argument("--page-latency-ms", type=float, default=50)
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--endpoint")
    parser.add_argument("--project")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.endpoint, args.project, args.out)
        return
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured
    # The children (and pyarrow here) find moto's dummy credentials where AWS's tools look.
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    print(f"Langfuse sources benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_export:
        export_part(args.traces, args.profile_traces)
    if not args.skip_api and args.api_traces > 0:
        api_part(args.api_traces, args.requests_per_minute, args.server_budget or int(args.requests_per_minute), args.page_latency_ms)


if __name__ == "__main__":
    main()
