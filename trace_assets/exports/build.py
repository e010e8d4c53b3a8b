"""From the de-duplicated examples to a snapshot's files: each export in its formats and splits,
the manifest and the dataset card."""

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from trace_assets.exports import dpo, grpo, kto
from trace_assets.exports.card import dataset_card
from trace_assets.exports.example_pool import Example
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import MANIFEST, ParquetParts
from trace_assets.exports.splits import SPLITS, split_of

DPO, KTO, GRPO = "dpo_pairs", "kto_examples", "grpo_prompts"
EXPORTS = (DPO, KTO, GRPO)
README = "README.md"


@dataclass
class SnapshotFiles:
    # name -> what publish_snapshot writes: ParquetParts and TextParts, built a part at a time
    # as the file is written (no file is whole in memory); README.md is a zero-argument function
    # building it last, from what the Parquet files recorded; manifest.json is a dict
    files: dict
    counts: dict  # what the manifest's `counts` says this export built
    rows_by_split: dict[str, int]
    rows_by_model: dict[str, int]
    kept_rewards: list[float]
    pairs_by_models: dict[str, int]


def build_snapshot(
    export: str,
    examples: list[Example],
    rules: ExportRules,
    manifest: dict,
    contexts: Mapping[str, list[str] | None] | None = None,
    groups: list[grpo.PromptGroup] | None = None,
) -> SnapshotFiles:
    """The files of `export` built from `examples` (already de-duplicated for it); `manifest`
    holds what the caller knows (window, lineage, pool counts) and is completed here. GRPO:
    `contexts` maps trace id -> retrieved contexts of the prompt groups' reference traces;
    `groups` are `grpo.prompt_groups(examples)` when the caller built them already (to find
    those contexts), so that a week's groups are not held twice."""
    if export == DPO:
        items = dpo.dpo_pairs(examples, rules)
        group_of = lambda pair: pair.chosen.group_id  # noqa: E731
        formats = {"": dpo.standard_file, "conversational_": dpo.conversational_file}
        models = lambda pair: [pair.chosen.model, pair.rejected.model]  # noqa: E731
        rewards = lambda pair: [pair.chosen.reward, pair.rejected.reward]  # noqa: E731
    elif export == KTO:
        items = kto.kto_examples(examples, rules)
        group_of = lambda item: item[0].group_id  # noqa: E731
        formats = {"": kto.standard_file, "conversational_": kto.conversational_file}
        models = lambda item: [item[0].model]  # noqa: E731
        rewards = lambda item: [item[0].reward]  # noqa: E731
    elif export == GRPO:
        items = groups if groups is not None else grpo.prompt_groups(examples)
        group_of = lambda group: group.group_id  # noqa: E731
        formats = {
            "": lambda in_split: grpo.standard_file(in_split, contexts or {}),
            "conversational_": lambda in_split: grpo.conversational_file(in_split, contexts or {}),
        }
        models = lambda group: [m.model for m in group.members]  # noqa: E731
        rewards = lambda group: [m.reward for m in group.members]  # noqa: E731
    else:
        raise ValueError(f"unknown export {export!r}: one of {', '.join(EXPORTS)}")

    by_split = {split: [item for item in items if split_of(group_of(item), rules.test_fraction, rules.split_seed) == split] for split in SPLITS}
    files: dict = {}
    written: dict[str, pa.Table] = {}  # the empty tables of the Parquet files: schemas for the card
    sizes: dict[str, tuple[int, int]] = {}  # rows and Arrow bytes, counted as the parts are written

    def counted(name: str, file: ParquetParts) -> ParquetParts:
        written[name] = file.schema.empty_table()
        sizes[name] = (0, 0)

        def parts():
            sizes[name] = (0, 0)
            for part in file.parts():
                rows, size = sizes[name]
                sizes[name] = (rows + part.num_rows, size + part.nbytes)
                yield part

        return ParquetParts(file.schema, parts)

    for prefix, to_file in formats.items():
        for split in SPLITS:
            name = f"{prefix}{split}.parquet"
            files[name] = counted(name, to_file(by_split[split]))
    if export == DPO:
        for split in SPLITS:  # line i of conversational_<split>.jsonl is row i of conversational_<split>.parquet
            files[f"conversational_{split}.jsonl"] = dpo.preference_jsonl(by_split[split])

    counts = _export_counts(export, items, by_split, rules)
    rows_by_model = Counter(str(model) for item in items for model in models(item))
    pairs_by_models = Counter(f"{p.chosen.model} > {p.rejected.model}" for p in items) if export == DPO else Counter()
    manifest = {
        **manifest,
        "export": export,
        "counts": {**manifest.get("counts", {}), **counts},
        "splits": {split: len(rows) for split, rows in by_split.items()},
        "rows_by_model": dict(sorted(rows_by_model.items())),
        "files": {name: len(by_split[name.removesuffix(".parquet").removesuffix(".jsonl").rsplit("_", 1)[-1]]) for name in files},
    }
    if export == DPO:
        manifest["pairs_by_models"] = dict(sorted(pairs_by_models.items()))
    files[README] = lambda: _card(export, written, sizes, manifest)
    files[MANIFEST] = manifest
    return SnapshotFiles(
        files=files,
        counts=manifest["counts"],
        rows_by_split=manifest["splits"],
        rows_by_model=dict(rows_by_model),
        kept_rewards=[reward for item in items for reward in rewards(item)],
        pairs_by_models=dict(pairs_by_models),
    )


def _export_counts(export: str, items: list, by_split: dict, rules: ExportRules) -> dict:
    if export == DPO:
        return {"pairs": len(items), "prompt_groups_with_pairs": len({p.chosen.group_id for p in items})}
    if export == KTO:
        counts = {}
        for split, rows in by_split.items():
            desirable = sum(1 for _, label in rows if label)
            undesirable = len(rows) - desirable
            counts[f"{split}_desirable"] = desirable
            counts[f"{split}_undesirable"] = undesirable
        counts["desirable_weight"] = kto.desirable_weight(counts["train_desirable"], counts["train_undesirable"])
        return counts
    return {
        "prompt_groups": len(items),
        "groups_with_rewards_all_equal": sum(1 for g in items if g.rewards_all_equal),
        "groups_with_one_answer": sum(1 for g in items if len(g.members) == 1),
    }


_WHAT = {
    DPO: (
        "DPO preference pairs",
        ["dpo", "trl", "preference"],
        "Columns `prompt`, `chosen`, `rejected` (TRL's DPOTrainer): two different answers to one prompt group whose "
        "final rewards differ by at least the margin.",
    ),
    KTO: (
        "KTO examples",
        ["kto", "trl"],
        "Columns `prompt`, `completion`, `label` (TRL's KTOTrainer): answers in the preferred band labelled true, in the "
        "dispreferred band false; neutral answers are left out.",
    ),
    GRPO: (
        "GRPO prompts",
        ["grpo", "trl", "reinforcement-learning"],
        "Column `prompt` (TRL's GRPOTrainer), one row per prompt group; every other column reaches the reward functions "
        "as a keyword argument: `contexts`, `reference_answer` and its `reference_reward`, the recorded `rewards`, and "
        "`rewards_all_equal` (two or more answers that all scored the same: the group tells nothing apart).",
    ),
}


def _card(export: str, tables: dict[str, pa.Table], sizes: dict[str, tuple[int, int]], manifest: dict) -> bytes:
    title, tags, what = _WHAT[export]
    # `datasets` refuses a split without rows ("corresponds to no data"), so an empty split's file
    # is written (and named in the manifest) but left out of the configs
    present = [s for s in SPLITS if manifest["splits"][s]]
    configs = [
        {"config_name": "standard", "default": True, "data_files": {s: f"{s}.parquet" for s in present}},
        {"config_name": "conversational", "data_files": {s: f"conversational_{s}.parquet" for s in present}},
    ] if present else []
    counts = manifest["counts"]
    lines = [
        what,
        "",
        f"Snapshot {manifest['snapshot']} of the labeled traces of {manifest['window']['first_day']} .. "
        f"{manifest['window']['last_day']} (UTC), built {manifest['built_at']}.",
        f"Days used: {', '.join(manifest['window']['source_days']) or 'none'}; "
        f"days without a labeled dataset: {', '.join(manifest['window']['missing_days']) or 'none'}.",
        "",
        "| split | rows |",
        "|---|---:|",
        *[f"| {split} | {rows} |" for split, rows in manifest["splits"].items()],
        "",
    ]
    if not sum(manifest["splits"].values()):
        lines += ["**This snapshot has no rows**: the window held no example that passes the rules below.", ""]
    lines += [
        "- `standard`: plain text (`prompt` is the text of the user turns).",
        "- `conversational`: lists of `{role, content}` messages with system prompts, tool calls and results intact; "
        "`tools` holds the tool definitions as JSON text (TRL parses it).",
    ]
    if export == DPO:
        lines.append(
            "- `conversational_<split>.jsonl`: OpenAI's and Together's DPO fine-tuning format (`input.messages`, "
            "`preferred_output`, `non_preferred_output`), to upload as it is; line i is row i of "
            "`conversational_<split>.parquet`. Not a config above (the Hub reads one file format per dataset): "
            "`load_dataset(\"json\", data_files=\"conversational_train.jsonl\")` reads it."
        )
    if export == KTO:
        weight = counts.get("desirable_weight")
        lines += [
            "",
            f"Train: {counts['train_desirable']} desirable, {counts['train_undesirable']} undesirable. "
            + (
                f"Set `desirable_weight={weight}` (with `undesirable_weight=1`) to keep TRL's "
                "desirable/undesirable ratio in [1, 4/3]."
                if weight is not None
                else "One side is empty: KTO needs both."
            ),
        ]
    lines += [
        "",
        "Every row names the labeled traces it was built from (`trace_ids`). Train and test never share a prompt "
        "group (`prompt_group`: equal or near-duplicate prompts). `manifest.json` has the rules, the lineage and the "
        "count at each filtering step:",
        "",
        "```json",
        _compact(counts),
        "```",
        "",
    ]
    return dataset_card(title, configs, tables, sizes, "\n".join(lines), tags)


def _compact(counts: dict) -> str:
    return json.dumps(counts, indent=1, sort_keys=True)
