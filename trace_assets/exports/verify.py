"""What must hold in a published snapshot, checked on its files (the blocking checks call these):
a failure here is a broken pipeline, never a property of the data."""

import json

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trace_assets.exports.conversation import message_text
from trace_assets.exports.prompt_key import normalise
from trace_assets.exports.splits import SPLITS

REWARD_TOLERANCE = 1e-9


def snapshot_tables(fs: pafs.FileSystem, folder: str) -> dict[str, pa.Table]:
    """Every Parquet file of the snapshot folder, by file name."""
    return {
        info.base_name: pq.read_table(info.path, filesystem=fs)
        for info in fs.get_file_info(pafs.FileSelector(folder))
        if info.base_name.endswith(".parquet")
    }


def trace_ids_of(tables: dict[str, pa.Table]) -> set[str]:
    return {i for t in tables.values() for ids in t.column("trace_ids").to_pylist() for i in ids or []}


def groups_in_both_splits(tables: dict[str, pa.Table]) -> list[str]:
    """Prompt groups, and normalised prompts, found in a train file and in a test file."""
    seen: dict[str, dict[str, set[str]]] = {split: {"group": set(), "prompt": set()} for split in SPLITS}
    for name, table in tables.items():
        split = name.removesuffix(".parquet").rsplit("_", 1)[-1]
        if split not in seen:
            continue
        seen[split]["group"].update(table.column("prompt_group").to_pylist())
        seen[split]["prompt"].update(_prompt_key(p) for p in table.column("prompt").to_pylist())
    problems = [f"prompt group {g} in train and test" for g in sorted(seen["train"]["group"] & seen["test"]["group"])]
    problems += [f"prompt {p[:80]!r} in train and test" for p in sorted(seen["train"]["prompt"] & seen["test"]["prompt"])]
    return problems


def _prompt_key(prompt) -> str:
    if isinstance(prompt, list):
        return normalise("\n".join(message_text(m) for m in prompt if m.get("role") != "system"))
    return normalise(prompt)


def bad_pair_sides(tables: dict[str, pa.Table]) -> list[str]:
    """DPO rows with an empty side, or two sides with the same text."""
    problems = []
    for name, table in tables.items():
        for row in table.select(["trace_ids", "chosen", "rejected"]).to_pylist():
            chosen, rejected = _answer(row["chosen"]), _answer(row["rejected"])
            label = f"{name} {row['trace_ids']}"
            if not chosen or not rejected:
                problems.append(f"{label}: empty side")
            elif chosen == rejected:
                problems.append(f"{label}: chosen and rejected are the same text")
    return problems


def _answer(side) -> str:
    if isinstance(side, list):
        return normalise("".join(message_text({k: v for k, v in m.items() if v is not None}) for m in side))
    return normalise(side)


def margin_violations(tables: dict[str, pa.Table], margin: float, rewards: dict[str, float]) -> list[str]:
    """DPO rows whose chosen reward is not at least the rejected one plus the margin, by the
    rewards the rows carry and by the labeled traces' own `rewards` (trace id -> final_reward)."""
    problems = []
    for name, table in tables.items():
        for row in table.select(["trace_ids", "chosen_reward", "rejected_reward"]).to_pylist():
            chosen_id, rejected_id = row["trace_ids"]
            for source, chosen, rejected in (
                ("row", row["chosen_reward"], row["rejected_reward"]),
                ("labeled_traces", rewards.get(chosen_id), rewards.get(rejected_id)),
            ):
                if chosen is None or rejected is None or chosen < rejected + margin - REWARD_TOLERANCE:
                    problems.append(f"{name} {row['trace_ids']}: {source} rewards {chosen} vs {rejected}, margin {margin}")
    return problems


def misaligned_jsonl(fs: pafs.FileSystem, folder: str, tables: dict[str, pa.Table]) -> list[str]:
    """JSONL files whose lines do not match their Parquet file's rows one to one."""
    problems = []
    for info in fs.get_file_info(pafs.FileSelector(folder)):
        if not info.base_name.endswith(".jsonl"):
            continue
        stem = info.base_name.removesuffix(".jsonl")
        with fs.open_input_stream(info.path) as stream:
            lines = [json.loads(line) for line in stream.read().decode("utf-8").splitlines() if line]
        table = tables.get(f"{stem}.parquet")
        if table is None:
            problems.append(f"{info.base_name}: no {stem}.parquet beside it")
            continue
        if len(lines) != table.num_rows:
            problems.append(f"{info.base_name}: {len(lines)} lines, {stem}.parquet has {table.num_rows} rows")
            continue
        for i, (line, row) in enumerate(zip(lines, table.select(["chosen"]).to_pylist())):
            if normalise(line["preferred_output"][0].get("content")) != normalise(row["chosen"][0].get("content")):
                problems.append(f"{info.base_name}: line {i} is not row {i}")
                break
    return problems
