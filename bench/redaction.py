"""Redaction at landing: land_day with TRACE_REDACT_PII on vs off, the candidate engines
(Hyperscan, RE2) on the same texts, and our detectors vs presidio-analyzer's pattern recognizers
on look-alikes, Korean text and speed.

    python bench/redaction.py --rows 1000000 --repeat 3
    python bench/redaction.py --rows 1000000 --repeat 3 --baseline 4b286be
    pip install --target /tmp/hyperscan-0.9.1 hyperscan==0.9.1
    python bench/redaction.py --rows 1000000 --repeat 5 --baseline-path /tmp/hyperscan-0.9.1
    python bench/redaction.py --rows 2000        (a smoke run: under a minute)
    python bench/redaction.py --rows 50000 --versions 0812f9d
                    (only redact_landed_batch of those commits against this checkout's)

Landing: the day of bench/extraction.py (input ~300 chars, output ~1.5 KB, metadata with three
~500-char contexts, four models, 10% without consent) in its own scratch database, with personal
data added to 5% of the traces (an e-mail and a Korean mobile number in the input, a card
number in the output); each landing runs in its own process, alternating off, on, off, on, ...
`--repeat` times each (on a shared machine one landing of each is worth little). The comparison
prints every landing's wall and CPU seconds (the landing process's, all its threads; the machine
is shared: wall seconds depend on what else runs, CPU seconds much less) with the load average
after it, then the medians of each setting and the share redaction adds, median on against
median off (target: <= 30%). `--baseline COMMIT` lands with that commit's trace_assets too
(extracted from git, first on the children's path), alternating with this checkout's in the
same rounds: before and after measured under the same load; `--baseline-path FOLDER` puts a
folder first on the baseline children's path instead (another python-hyperscan, as above).
The engines: `redact_landed_batch` on the day's first 50,000
traces (5% with personal data, as the whole day) in this process, in landing's batches of 2,000, CPU seconds a
million traces, with Hyperscan and with RE2.

`--versions`: `redact_landed_batch` of older commits (their trace_assets/governance/ modules read
from git) against this checkout's, interleaved in one process on the same batches, best of 11
rounds each: on a shared machine one landing run of each is worth little.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from datetime import datetime, timezone

import psycopg

import extraction



def use_database(rows: int) -> None:
    """A scratch database per size, so a smoke run never drops a larger run's database."""
    extraction.BENCH_DB = f"trace_assets_bench_redaction_{rows}"
    extraction.BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{extraction.BENCH_DB}"


def fill(rows: int) -> None:
    extraction.fill(rows)
    with psycopg.connect(extraction.BENCH_URL, autocommit=True) as db:
        db.execute(
            "UPDATE traces SET input = input || ' 제 메일은 kim.minji@example.com, 전화 010-2345-6789 입니다', "
            "output = output || ' 카드 4111 1111 1111 1111 로 결제' WHERE latency_ms % 20 = 1"
        )
        db.execute("VACUUM ANALYZE traces")


def filled(rows: int) -> bool:
    """Whether the scratch database already holds the day of `rows` traces (`--keep-database`)."""
    try:
        with psycopg.connect(extraction.BENCH_URL) as db:
            return db.execute("SELECT count(*) FROM traces").fetchone()[0] == rows
    except psycopg.Error:
        return False


def land(out: str, redact: bool) -> dict:
    from trace_assets.assets.raw_traces import land_day
    from trace_assets.resources.postgres_source import PostgresTraceSource
    from trace_assets.resources.trace_lake import TraceLake

    landing = land_day(PostgresTraceSource(database_url=extraction.BENCH_URL), TraceLake(uri=out, redact_pii=redact), extraction.DAY)
    return {"rows": landing.files.rows, "redactions": dict(landing.redactions)}


def child(setting: str, out: str) -> None:
    import trace_assets.assets.raw_traces  # noqa: F401  (imports are not what is measured)

    started, cpu_started = time.perf_counter(), time.process_time()
    result = land(out, setting == "on")
    result["seconds"] = time.perf_counter() - started
    # This process's CPU, all threads (the source's prefetch thread too; not PostgreSQL's).
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["code"] = os.path.dirname(os.path.dirname(trace_assets.assets.raw_traces.__file__))
    from trace_assets.governance import candidate_scan

    result["hyperscan"] = candidate_scan.hyperscan.__version__ if candidate_scan.available() else "none"
    print(json.dumps(result))


def measure(setting: str, rows: int, code: str | None = None) -> dict:
    """One landing in its own process; `code`: a folder first on its path, holding the
    trace_assets to land with or other libraries (this checkout's and the venv's when None)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(
            [sys.executable, __file__, "--child", setting, "--out", out, "--rows", str(rows)], capture_output=True, text=True, env=env
        )
    if run.returncode != 0:
        raise RuntimeError(f"landing with redaction {setting} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if code is not None and os.path.isdir(f"{code}/trace_assets") and os.path.realpath(result["code"]) != os.path.realpath(f"{code}/trace_assets"):
        raise RuntimeError(f"the landing child ran the code in {result['code']}, not {code}: is trace_assets installed non-editable?")
    result["load_after"] = os.getloadavg()[0]
    return result


def extract_code(commit: str, folder: str) -> str:
    """`commit`'s trace_assets package, extracted into `folder` from git."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    archive = subprocess.run(["git", "archive", commit, "trace_assets"], cwd=root, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def compare_landings(rows: int, repeat: int, baseline: str | None, baseline_path: str | None = None) -> None:
    """Landings alternating off, on (and the baseline's off, on) `repeat` times; medians."""
    with tempfile.TemporaryDirectory() as old_code:
        codes = {"this checkout": None}
        if baseline:
            codes = {baseline: extract_code(baseline, old_code), **codes}
        if baseline_path:
            codes = {os.path.basename(os.path.normpath(baseline_path)): baseline_path, **codes}
        runs = {(code, setting): [] for code in codes for setting in ("off", "on")}
        print(f"\nN = {rows:,} traces; landings alternating, each in its own process (1-minute load {os.getloadavg()[0]:.1f} before, 2 cores)")
        print(f"  {'code':<16}{'TRACE_REDACT_PII':<18}{'seconds':>9}{'CPU seconds':>13}{'peak RSS MB':>13}{'load after':>12}")
        for _ in range(repeat):
            for code, folder in codes.items():
                for setting in ("off", "on"):
                    result = measure(setting, rows, folder)
                    runs[(code, setting)].append(result)
                    print(
                        f"  {code:<16}{setting:<18}{result['seconds']:>9.1f}{result['cpu_seconds']:>13.1f}"
                        f"{result['peak_rss_mb']:>13,.0f}{result['load_after']:>12.1f}",
                        flush=True,
                    )
    on = runs[(list(codes)[-1], "on")][-1]
    print(f"  ({on['rows']:,} landed, redaction counts {on['redactions']})")
    print(f"\n  medians of {repeat}:  {'':<18}{'off s (CPU s)':>16}{'on s (CPU s)':>16}  redaction adds, wall / CPU (target <= 30%)")
    medians = {
        code: [
            statistics.median(run[key] for run in runs[(code, setting)])
            for setting, key in (("off", "seconds"), ("off", "cpu_seconds"), ("on", "seconds"), ("on", "cpu_seconds"))
        ]
        for code in codes
    }
    for code, (off_wall, off_cpu, on_wall, on_cpu) in medians.items():
        print(
            f"  {code:<18}{'hyperscan ' + runs[(code, 'on')][-1]['hyperscan']:<18}{off_wall:>8.1f} ({off_cpu:>5.1f}){on_wall:>8.1f} ({on_cpu:>5.1f})"
            f"  {100 * (on_wall / off_wall - 1):+.0f}% / {100 * (on_cpu / off_cpu - 1):+.0f}%"
        )
    off_wall, off_cpu, on_wall, on_cpu = medians["this checkout"]
    print(f"  this checkout: redaction adds {100 * (on_wall / off_wall - 1):.0f}% to landing (target <= 30%)")
    print(f"  this checkout: redaction adds {100 * (on_cpu / off_cpu - 1):.0f}% to landing's CPU seconds")


def day_batches(limit: int) -> list:
    """The day's first `limit` traces' texts in landing's batches of 2,000."""
    import pyarrow as pa

    with psycopg.connect(extraction.BENCH_URL) as db:
        rows = db.execute("SELECT input, output, metadata::text FROM traces ORDER BY timestamp LIMIT %s", (limit,)).fetchall()
    schema = pa.schema([("input", pa.large_string()), ("output", pa.large_string()), ("metadata_json", pa.large_string())])
    return [
        pa.RecordBatch.from_arrays([pa.array([row[i] for row in rows[first : first + 2_000]], pa.large_string()) for i in range(3)], schema=schema)
        for first in range(0, len(rows), 2_000)
    ]


def compare_engines(limit: int) -> None:
    """CPU seconds of redact_landed_batch a million traces, Hyperscan vs RE2, on the day's texts
    in landing's batches (the contexts lifted out of the metadata, as landing does)."""
    from trace_assets.governance import candidate_scan
    from trace_assets.governance.redaction import redact_landed_batch

    batches = day_batches(limit)
    traces = sum(batch.num_rows for batch in batches)
    megabytes = sum(batch.nbytes for batch in batches) / 1e6
    engines = {"hyperscan": candidate_scan.hyperscan, "re2 (pyarrow)": None}
    print(f"\nredact_landed_batch on {traces:,} of the day's traces ({megabytes:,.0f} MB of text), CPU seconds:")
    try:
        for name, module in engines.items():
            if name == "hyperscan" and module is None:
                print("  hyperscan         not installed here")
                continue
            candidate_scan.hyperscan = module
            redact_landed_batch(batches[0].slice(0, 10), Counter(), contexts_in_metadata=True)  # compile first
            counts = Counter()
            started = time.process_time()
            for batch in batches:
                redact_landed_batch(batch, counts, contexts_in_metadata=True)
            seconds = time.process_time() - started
            print(f"  {name:<16}{seconds:>7.2f} s = {seconds / traces * 1e6:>5.1f} s a million traces, {megabytes / seconds:>6.0f} MB/s  {dict(counts)}")
    finally:
        candidate_scan.hyperscan = engines["hyperscan"]


REDACTION_MODULES = ("pii_detectors", "candidate_scan", "redaction")


def redaction_at(commit: str):
    """`redact_landed_batch` as `commit` had it: its three governance modules executed from their
    text in git, this checkout's left in place."""
    import trace_assets.governance.redaction  # noqa: F401  (this checkout's, to put back)

    names = [f"trace_assets.governance.{name}" for name in REDACTION_MODULES]
    current = {name: sys.modules[name] for name in names}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        for name, short in zip(names, REDACTION_MODULES):
            path = f"trace_assets/governance/{short}.py"
            source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True, check=True).stdout
            module = types.ModuleType(name)
            module.__file__ = f"{commit}:{path}"
            sys.modules[name] = module
            exec(compile(source, module.__file__, "exec"), module.__dict__)
        return sys.modules[names[-1]].redact_landed_batch
    finally:
        sys.modules.update(current)


def compare_versions(limit: int, commits: list[str], rounds: int = 11) -> None:
    from trace_assets.governance.redaction import redact_landed_batch

    batches = day_batches(limit)
    rows = sum(batch.num_rows for batch in batches)
    versions = {commit: redaction_at(commit) for commit in commits}
    versions["this checkout"] = redact_landed_batch
    outputs = {name: [redact(batch, Counter(), contexts_in_metadata=True) for batch in batches[:5]] for name, redact in versions.items()}
    expected = outputs["this checkout"]
    for name, output in outputs.items():
        if not all(mine.equals(theirs) for mine, theirs in zip(output, expected)):
            print(f"  {name} redacts differently from this checkout")
    best = dict.fromkeys(versions, float("inf"))
    for _ in range(rounds):
        for name, redact in versions.items():
            started = time.process_time()
            for batch in batches:
                redact(batch, Counter(), contexts_in_metadata=True)
            best[name] = min(best[name], time.process_time() - started)
    print(f"\nredact_landed_batch on {rows:,} of the day's traces, interleaved, best of {rounds}, CPU seconds a million traces"
          f" (1-minute load average {os.getloadavg()[0]:.1f}):")
    for name, seconds in best.items():
        print(f"  {name:<16}{seconds / rows * 1e6:>7.2f}")


# Personal data (must go) and look-alikes (must stay), the cases of trace_assets_tests/test_redaction.py.
MUST_GO = {
    "카드번호4111111111111111로 결제": "4111111111111111",
    "card 4111 1111 1111 1111": "4111 1111 1111 1111",
    "주민번호는9001011234568이고": "9001011234568",
    "주민번호 900101-1234568 입니다": "900101-1234568",
    "서버10.0.0.1접속": "10.0.0.1",
    "server 10.0.0.1 down": "10.0.0.1",
    "전화번호는01012345678입니다": "01012345678",
    "+82 10 1234 5678 로 전화": "+82 10 1234 5678",
    "휴대폰 010-1234-5678 입니다": "010-1234-5678",
    "고객hong@example.com님께": "hong@example.com",
    "key AKIAIOSFODNN7EXAMPLE here": "AKIAIOSFODNN7EXAMPLE",
}
MUST_STAY = [
    "uuid 4111-1111-1111-1111-111111111111",
    "uuid 41111111-1111-1111-1111-111111111111",
    "order 1234567812345678",
    "2026-11-27 13:34:31",
    "epoch 1732712345678",
    "version 1.2.3.4",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


def presidio_redactor():
    """presidio-analyzer's predefined pattern recognizers, without an NLP model (AnalyzerEngine
    itself, and EmailRecognizer's domain check through tldextract, reach the network here)."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IpRecognizer,
        KrRrnRecognizer,
        PhoneRecognizer,
    )

    # (presidio 2.2.366 has no recognizer for AWS keys or other secrets.)
    recognizers = [CreditCardRecognizer(), KrRrnRecognizer(), IpRecognizer(), PhoneRecognizer(supported_regions=("KR", "US"))]

    def redact(text: str) -> str:
        spans = []
        for recognizer in recognizers:
            spans.extend(recognizer.analyze(text, recognizer.supported_entities))
        for span in sorted(spans, key=lambda s: s.start, reverse=True):
            text = text[: span.start] + f"<{span.entity_type}>" + text[span.end :]
        return text

    return redact


def _presidio_lacks(text: str) -> bool:
    """Cases presidio is not asked about: e-mail (its EmailRecognizer fetches the public-suffix
    list at run time, which fails here) and secrets (it has no recognizer for them)."""
    return "@" in text or "AKIA" in text


def compare_libraries(sample_texts: list[str]) -> None:
    from trace_assets.governance.redaction import redact_text

    redactors = {"ours (governance/)": redact_text}
    try:
        redactors["presidio pattern recognizers"] = presidio_redactor()
    except Exception as error:  # noqa: BLE001
        print(f"presidio could not be constructed offline: {error}")
    print(f"\n{'':32}{'PII missed':>12}{'look-alikes changed':>22}{'MB/s':>8}")
    for name, redact in redactors.items():
        cases = {t: v for t, v in MUST_GO.items() if name.startswith("ours") or not _presidio_lacks(t)}
        missed = [text for text, value in cases.items() if value in redact(text)]
        changed = [text for text in MUST_STAY if redact(text) != text]
        started = time.perf_counter()
        for text in sample_texts:
            redact(text)
        seconds = time.perf_counter() - started
        megabytes = sum(len(t.encode()) for t in sample_texts) / 1e6
        print(f"  {name:<30}{len(missed):>6} of {len(cases):<4}{len(changed):>12} of {len(MUST_STAY):<8}{megabytes / seconds:>8.1f}")
        for text in missed:
            print(f"      missed:  {text}")
        for text in changed:
            print(f"      changed: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child")
    parser.add_argument("--out")
    parser.add_argument("--versions", help="commits (comma-separated) whose redaction to compare with this checkout's")
    parser.add_argument("--repeat", type=int, default=1, help="landings of each setting, alternating off, on, off, on, ...")
    parser.add_argument("--baseline", help="a commit whose trace_assets lands in the same rounds (before/after)")
    parser.add_argument(
        "--baseline-path",
        help="a folder first on the children's path in baseline rounds, e.g. another python-hyperscan "
        "(pip install --target /tmp/hyperscan-0.9.1 hyperscan==0.9.1)",
    )
    parser.add_argument("--landings-only", action="store_true", help="skip the engine and presidio comparisons")
    parser.add_argument("--keep-database", action="store_true", help="reuse the scratch database if filled, and keep it")
    args = parser.parse_args()
    use_database(args.rows)
    if args.child:
        child(args.child, args.out)
        return
    print(f"redaction benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    if not (args.keep_database and filled(args.rows)):
        fill(args.rows)
    try:
        if args.versions:
            compare_versions(min(args.rows, 50_000), args.versions.split(","))
            return
        with psycopg.connect(extraction.BENCH_URL) as db:
            outputs = [row[0] for row in db.execute("SELECT input || ' ' || output FROM traces LIMIT 2000").fetchall()]
        compare_landings(args.rows, args.repeat, args.baseline, args.baseline_path)
        if not args.landings_only:
            compare_engines(min(args.rows, 50_000))
            compare_libraries(outputs)
    finally:
        if not args.keep_database:
            with psycopg.connect(extraction.ADMIN_URL, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {extraction.BENCH_DB} WITH (FORCE)")

if __name__ == "__main__":
    main()
