"""The export functions on adversarial data made here: near-duplicate prompts across days, the same
answer from two models, identical rewards, empty and null sides, Korean and very long prompts,
messages with tool calls, an evaluation set; and the snapshot write on disk and on S3 (moto)."""

import json
import random
from datetime import date, datetime, timedelta, timezone

import datasets
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from trl.data_utils import is_conversational

from trace_assets.environments import MissingSettingError, export_settings, export_window_days
from trace_assets.exports.build import DPO, EXPORTS, GRPO, KTO, build_snapshot
from trace_assets.exports.dpo import dpo_pairs
from trace_assets.exports.example_pool import build_pool
from trace_assets.exports.formats import ROWS_PER_PART
from trace_assets.exports.kto import TRL_RATIO_HIGH, TRL_RATIO_LOW, desirable_weight
from trace_assets.exports.near_duplicates import near_duplicate_groups
from trace_assets.exports.prompt_key import jaccard, normalise, shingles
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import ParquetParts, publish_snapshot, read_manifest, snapshot_days
from trace_assets.exports.verify import bad_pair_sides, groups_in_both_splits, margin_violations, misaligned_jsonl
from trace_assets.resources.export_settings import ExportSettings
from trace_assets.tables.labeled import LABELED_SCHEMA

DAY = date(2026, 4, 20)
RULES = ExportRules()
_ids = iter(range(1_000_000))


def labeled(day: date, model: str, prompt: str, answer: str | None, reward: float | None, messages=None) -> dict:
    n = next(_ids)
    return {
        "trace_id": f"trace-{n:05d}",
        "timestamp": datetime(day.year, day.month, day.day, 1, tzinfo=timezone.utc) + timedelta(seconds=n),
        "model": model,
        "input": prompt,
        "output": answer,
        "contexts": [f"context of {prompt[:20]}"],
        "consent": True,
        "ragas_weight": 0.6,
        "judge_weight": 0.4,
        "final_reward": reward,
        "preference": None,
        "labeled_at": datetime.now(timezone.utc),
        "messages": json.dumps(messages) if messages is not None else None,
    }


def pool_of(rows: list[dict], rules: ExportRules = RULES, days=None, eval_prompts=None):
    table = pa.Table.from_pylist(rows, schema=LABELED_SCHEMA)
    window = days or {row["timestamp"].date() for row in rows}
    return build_pool(table, window, rules, eval_prompts)


def test_prompt_keys_fold_unicode_case_and_whitespace():
    assert normalise("  Ｗｈａｔ   is\tKARPENTER?\n") == "what is karpenter?"
    assert normalise("카르펜터란  무엇인가요?") == "카르펜터란 무엇인가요?"
    assert shingles("what is karpenter", 2).size == 2 and shingles("What is, karpenter", 2).size == 2
    assert jaccard(shingles("what is karpenter", 2), shingles("what is karpenter", 2)) == 1.0
    assert shingles("karpenter", 2).size == 1  # a one-word prompt still compares
    assert len(shingles("什么是节点", 2)) == 4  # Han characters count one by one


def test_near_duplicate_prompts_group_and_different_questions_do_not():
    base = "please explain step by step how i can enable object versioning on an existing s3 bucket from the console"
    texts = [
        base,
        base + " thanks",  # one word more: Jaccard 19/20
        "how do i disable versioning on an s3 bucket?",  # vs the next: 6 of 10 bigrams shared
        "how do i enable versioning on an s3 bucket?",
        "카르펜터와 eks auto mode의 차이점은 무엇인가요 자세히 설명해 주세요",
        "카르펜터와 eks auto mode의 차이점은 무엇인가요 자세히 설명해 주세요 감사합니다",
        "what is karpenter?",
    ]
    roots = near_duplicate_groups(texts, 0.8, 128, 2)
    assert roots[0] == roots[1] and len({roots[0], roots[2], roots[3]}) == 3
    assert roots[4] == roots[5] and roots[6] not in (roots[0], roots[4])
    assert jaccard(shingles(texts[2], 2), shingles(texts[3], 2)) == 0.6


def test_duplicates_keep_the_best_reward_and_every_filter_is_counted():
    question = "How do I rotate the access keys of an IAM user without downtime?"
    same = "Create a second key, switch the applications to it, then deactivate and delete the first key."
    rows = [
        labeled(DAY, "model-a", question, same, 0.7),
        labeled(DAY, "model-b", question, same, 0.9),  # the same answer from another model, a better reward
        labeled(DAY - timedelta(days=3), "model-c", question + "  ", same + " ", 0.4),  # again, days earlier
        labeled(DAY, "model-a", question, same.replace("second", "new second"), 0.5),  # a near-duplicate answer
        labeled(DAY, "model-a", "Is this scored?", "Yes.", None),
        labeled(DAY, "model-a", "Empty answer?", "   ", 0.9),
        labeled(DAY, "model-a", "긴 질문 " * 3000, "답", 0.9),  # 15,000 Korean characters: over 8192 estimated tokens
    ]
    pool = pool_of(rows)
    kept, removed = pool.published(set())
    assert [e.trace_id for e in kept] == [rows[1]["trace_id"]]
    assert removed == {"exact_duplicates": 2, "near_duplicates": 1}
    assert pool.counts["without_final_reward"] == 1
    assert pool.counts["empty_prompt_or_answer"] == 1
    assert pool.counts["over_max_tokens"] == 1
    assert pool.counts["read"] == 7 and pool.counts["candidates"] == 4


def test_dpo_pairs_are_different_texts_apart_by_the_margin_from_the_preferred_band():
    question = "Which instance types does Karpenter pick for a GPU workload?"
    rows = [
        labeled(DAY, "model-a", question, "It picks from the g and p families that match the requests.", 0.95),
        labeled(DAY, "model-b", question, "Any instance type at all.", 0.1),
        labeled(DAY, "model-b", question, "The cheapest instance type.", 0.3),
        labeled(DAY, "model-c", question, "It uses the NodePool requirements and the pod's GPU requests.", 0.85),
        labeled(DAY, "model-c", question, "It uses the NodePool requirements and GPU requests of the pods.", 0.75),
        labeled(DAY, "model-a", "What is a NodePool?", "A NodePool constrains the nodes Karpenter creates.", 0.5),
        labeled(DAY, "model-b", "What is a NodePool?", "NodePools are Karpenter's templates for nodes.", 0.5),
    ]
    examples, _ = pool_of(rows).published(set())
    pairs = dpo_pairs(examples, RULES)
    assert len(pairs) == 3  # max_pairs_per_prompt; the NodePool answers score the same: no pair
    for pair in pairs:
        assert pair.chosen.reward >= 0.8 and pair.margin >= 0.2 - 1e-12
        assert normalise(pair.chosen.conversation.answer_text) != normalise(pair.rejected.conversation.answer_text)
    assert len({(p.chosen.trace_id, p.rejected.trace_id) for p in pairs}) == 3
    shuffled = examples[:]
    random.Random(7).shuffle(shuffled)
    assert [(p.chosen.trace_id, p.rejected.trace_id) for p in dpo_pairs(shuffled, RULES)] == [
        (p.chosen.trace_id, p.rejected.trace_id) for p in pairs
    ]
    assert not dpo_pairs(examples, ExportRules(margin=0.9))


def test_kto_weight_puts_trls_ratio_in_range():
    for desirable, undesirable in ((10, 90), (90, 10), (1, 1), (7, 3)):
        weight = desirable_weight(desirable, undesirable)
        assert TRL_RATIO_LOW <= weight * desirable / undesirable <= TRL_RATIO_HIGH
    assert desirable_weight(0, 5) is None


def many_groups(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        question = f"How do I size the node group number {i} for a batch job with {i + 2} workers?"
        rows += [
            labeled(DAY - timedelta(days=i % 3), "model-a", question, f"Use {i + 2} vCPUs per worker and spread over zones {i}.", 0.9),
            labeled(DAY, "model-b", question + " Thanks!", f"No idea about {i}.", 0.2),
        ]
    return rows


def test_a_split_without_rows_is_left_out_of_the_card_so_datasets_loads_the_other(tmp_path):
    examples, _ = pool_of(many_groups(3)).published(set())
    snapshot = build_snapshot(KTO, examples, ExportRules(test_fraction=0.0), manifest_base(), {})
    publish_snapshot(pafs.LocalFileSystem(), str(tmp_path / "kto"), snapshot.files)
    assert pq.read_table(tmp_path / "kto" / "test.parquet").num_rows == 0
    loaded = datasets.load_dataset(str(tmp_path / "kto"))
    assert set(loaded) == {"train"} and loaded["train"].num_rows == 6


def test_no_prompt_group_lands_in_both_splits_and_files_are_consistent(tmp_path):
    rules = ExportRules(test_fraction=0.3)
    examples, _ = pool_of(many_groups(40), rules).published(set())
    for export in EXPORTS:
        snapshot = build_snapshot(export, examples, rules, manifest_base(), {})
        tables = {name: file.table() for name, file in snapshot.files.items() if name.endswith(".parquet")}
        assert snapshot.rows_by_split["train"] > 0 and snapshot.rows_by_split["test"] > 0
        assert groups_in_both_splits(tables) == []
        for table in tables.values():
            assert "trace_ids" in table.column_names
        if export == DPO:
            assert bad_pair_sides(tables) == []
            assert margin_violations(tables, 0.2, {e.trace_id: e.reward for e in examples}) == []
            folder = tmp_path / "dpo"
            publish_snapshot(pafs.LocalFileSystem(), str(folder), snapshot.files)
            assert misaligned_jsonl(pafs.LocalFileSystem(), str(folder), tables) == []
            for line in (folder / "conversational_train.jsonl").read_text().splitlines():
                assert set(json.loads(line)) == {"input", "preferred_output", "non_preferred_output"}


def test_a_file_longer_than_a_part_is_written_part_by_part_in_order_with_its_jsonl_aligned(tmp_path):
    rng = random.Random(5)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 8))) for _ in range(5_000)]

    def text(length: int) -> str:
        return " ".join(rng.choices(words, k=length))

    questions = [text(12) + "?" for _ in range(ROWS_PER_PART + 300)]  # distinct prompts: one pair each
    rows = [labeled(DAY, model, q, text(20), reward) for q in questions for model, reward in (("model-a", 0.9), ("model-b", 0.2))]
    pool = pool_of(rows, ExportRules(test_fraction=0.0))
    examples, _ = pool.published(set())
    snapshot = build_snapshot(DPO, examples, ExportRules(test_fraction=0.0), manifest_base(), {})
    folder = tmp_path / "dpo"
    publish_snapshot(pafs.LocalFileSystem(), str(folder), snapshot.files)
    parquet = pq.ParquetFile(folder / "conversational_train.parquet")
    assert parquet.metadata.num_row_groups == 2 and parquet.metadata.num_rows == len(questions)
    table = parquet.read()
    lines = [json.loads(line) for line in (folder / "conversational_train.jsonl").read_text().splitlines()]
    assert [line["preferred_output"][0]["content"] for line in lines] == [c[0]["content"] for c in table.column("chosen").to_pylist()]
    assert table.column("prompt_group").to_pylist() == sorted(table.column("prompt_group").to_pylist())
    assert read_manifest(pafs.LocalFileSystem(), str(folder))["splits"] == {"train": len(questions), "test": 0}
    card = (folder / "README.md").read_text()
    assert f"num_examples: {len(questions)}" in card
    pool.close()


def test_the_checks_find_what_a_broken_export_would_publish():
    leaking = {
        "train.parquet": pa.table({"prompt": ["What is EKS?"], "prompt_group": ["g1"]}),
        "test.parquet": pa.table({"prompt": ["what is  EKS?"], "prompt_group": ["g2"]}),
    }
    assert groups_in_both_splits(leaking) == ["prompt 'what is eks?' in train and test"]
    pairs = {
        "train.parquet": pa.table(
            {
                "trace_ids": [["a", "b"], ["c", "d"], ["e", "f"]],
                "chosen": ["Same answer", "", "Fine"],
                "rejected": ["same  answer", "x", "Poor"],
                "chosen_reward": [0.9, 0.9, 0.5],
                "rejected_reward": [0.1, 0.1, 0.4],
            }
        )
    }
    assert len(bad_pair_sides(pairs)) == 2
    rewards = {"a": 0.9, "b": 0.1, "c": 0.9, "d": 0.1, "e": 0.5, "f": 0.4}
    assert len(margin_violations(pairs, 0.2, rewards)) == 2  # by the row and by labeled_traces
    assert len(margin_violations(pairs, 0.2, {**rewards, "a": None})) == 3  # a trace without a reward


def test_conversational_exports_keep_system_prompts_and_tools():
    tools = [{"type": "function", "function": {"name": "search_docs", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    call = {"id": "call_1", "type": "function", "function": {"name": "search_docs", "arguments": "{\"q\": \"karpenter\"}"}}
    prompt = [
        {"role": "system", "content": "You answer from the EKS docs."},
        {"role": "user", "content": "What is Karpenter?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Karpenter is a node autoscaler."},
    ]
    good = {"role": "assistant", "content": "Karpenter is an open-source node autoscaler."}
    bad = {"role": "assistant", "content": "I cannot say."}
    rows = [
        labeled(DAY, "model-a", "What is Karpenter?", good["content"], 0.9, messages={"messages": [*prompt, good], "tools": tools}),
        labeled(DAY, "model-b", "What is Karpenter?", bad["content"], 0.1, messages={"messages": [*prompt, bad], "tools": tools}),
        labeled(DAY, "model-c", "What is Karpenter?", "Karpenter scales nodes.", 0.85, messages="not json at all"),
    ]
    pool = pool_of(rows)
    assert pool.notes["messages_not_usable"] == 1
    examples, _ = pool.published(set())
    snapshot = build_snapshot(DPO, examples, ExportRules(test_fraction=0.0), manifest_base(), {})
    row = next(r for r in snapshot.files["conversational_train.parquet"].table().to_pylist() if r["chosen_model"] == "model-a")
    assert row["prompt"][0] == {"role": "system", "content": "You answer from the EKS docs.", "tool_calls": None, "tool_call_id": None}
    assert row["prompt"][2]["tool_calls"] == [call] and row["prompt"][3]["tool_call_id"] == "call_1"
    assert json.loads(row["tools"]) == tools
    assert is_conversational(row)
    lines = [json.loads(line) for line in snapshot.files["conversational_train.jsonl"].bytes().decode().splitlines()]
    line = lines[snapshot.files["conversational_train.parquet"].table().column("chosen_model").to_pylist().index("model-a")]
    assert line["input"]["tools"] == tools and line["input"]["messages"][2]["tool_calls"] == [call]
    assert line["preferred_output"] == [good] and "tool_calls" not in line["input"]["messages"][0]
    standard = snapshot.files["train.parquet"].table().to_pylist()
    assert all(isinstance(r["prompt"], str) and r["chosen"] and r["rejected"] for r in standard)


def test_grpo_flags_groups_whose_answers_all_score_the_same():
    rows = [
        labeled(DAY, "model-a", "Which regions have EKS Auto Mode?", "All commercial regions.", 0.5),
        labeled(DAY, "model-b", "Which regions have EKS Auto Mode?", "Only us-east-1.", 0.5),
        labeled(DAY, "model-a", "What is a Pod?", "The smallest deployable unit.", 0.9),
        labeled(DAY, "model-b", "What is a Pod?", "A container.", 0.4),
        labeled(DAY, "model-a", "What is a Node?", "A worker machine.", 0.6),
    ]
    examples, _ = pool_of(rows).published(set())
    contexts = {r["trace_id"]: r["contexts"] for r in rows}
    table = build_snapshot(GRPO, examples, ExportRules(test_fraction=0.0), manifest_base(), contexts).files["train.parquet"].table()
    by_prompt = {r["prompt"]: r for r in table.to_pylist()}
    assert by_prompt["Which regions have EKS Auto Mode?"]["rewards_all_equal"] is True
    pod = by_prompt["What is a Pod?"]
    assert pod["rewards_all_equal"] is False and pod["reference_answer"] == "The smallest deployable unit."
    assert pod["contexts"] == ["context of What is a Pod?"] and pod["answers"] == 2 and len(pod["trace_ids"]) == 2
    assert by_prompt["What is a Node?"]["rewards_all_equal"] is False  # one answer: nothing to compare


def test_an_evaluation_set_decontaminates_every_export(tmp_path):
    rows = many_groups(6)
    eval_parquet, eval_jsonl = tmp_path / "eval.parquet", tmp_path / "eval.jsonl"
    pq.write_table(pa.table({"prompt": ["how do I size the node group number 2 for a batch job with 4 workers"]}), eval_parquet)
    eval_jsonl.write_text(json.dumps({"prompt": [{"role": "user", "content": "How do I size the node group number 3 for a batch job with 5 workers?"}]}) + "\n")
    prompts = ExportSettings(eval_set=str(eval_parquet)).eval_prompts() + ExportSettings(eval_set=str(eval_jsonl)).eval_prompts()
    pool = pool_of(rows, eval_prompts=prompts)
    assert pool.counts["in_eval_set"] == 4  # both answers of groups 2 and 3
    examples, _ = pool.published(set())
    assert not any("number 2 " in e.prompt_key or "number 3 " in e.prompt_key for e in examples)
    with pytest.raises(ValueError, match="TRACE_EXPORT_EVAL_SET='.*missing.parquet'"):
        ExportSettings(eval_set=str(tmp_path / "missing.parquet")).eval_prompts()


def test_an_empty_window_gives_files_and_a_card_that_say_so(tmp_path):
    rows = [labeled(DAY, "model-a", "What is EKS?", "Kubernetes on AWS.", 0.5)]  # neutral, alone: nothing to export
    examples, _ = pool_of(rows).published(set())
    snapshot = build_snapshot(DPO, examples, RULES, manifest_base(), {})
    folder = tmp_path / "snapshot=2026-04-20"
    publish_snapshot(pafs.LocalFileSystem(), str(folder), snapshot.files)
    card = (folder / "README.md").read_text()
    assert "This snapshot has no rows" in card and "configs: []" in card
    train = pq.read_table(folder / "train.parquet")
    assert train.num_rows == 0 and {"prompt", "chosen", "rejected", "trace_ids"} <= set(train.column_names)
    assert (folder / "conversational_train.jsonl").read_text() == ""


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_snapshot_is_replaced_whole_and_a_failed_write_leaves_the_old_one(where, tmp_path, request):
    if where == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_endpoint")
        fs = pafs.S3FileSystem(endpoint_override=endpoint.removeprefix("http://"), scheme="http", region="us-east-1",
                               access_key="test-key", secret_key="test-secret")
        root = f"{bucket}/exports/dpo_pairs"
    else:
        fs, root = pafs.LocalFileSystem(), str(tmp_path / "exports" / "dpo_pairs")
    folder = f"{root}/snapshot=2026-04-20"
    first = {"train.parquet": pa.table({"trace_ids": [["a"]]}), "old.parquet": pa.table({"trace_ids": [["b"]]}), "manifest.json": {"v": 1}}
    publish_snapshot(fs, folder, first)
    broken = {"train.parquet": pa.table({"trace_ids": [["c"]]}), "bad.bin": 42, "manifest.json": {"v": 2}}
    with pytest.raises(TypeError):
        publish_snapshot(fs, folder, broken)
    assert read_manifest(fs, folder) == {"v": 1}
    assert pq.read_table(f"{folder}/old.parquet", filesystem=fs).num_rows == 1
    schema = pa.schema([("trace_ids", pa.list_(pa.string()))])

    def dies_in_the_middle():  # a file written a part at a time whose run dies after its first part
        yield pa.table({"trace_ids": [["d"]]}, schema=schema)
        raise MemoryError("the run pod ran out of memory")

    with pytest.raises(MemoryError):
        publish_snapshot(fs, folder, {"train.parquet": ParquetParts(schema, dies_in_the_middle), "manifest.json": {"v": 2}})
    assert read_manifest(fs, folder) == {"v": 1}
    assert pq.read_table(f"{folder}/train.parquet", filesystem=fs).column("trace_ids").to_pylist() == [["a"]]
    publish_snapshot(fs, folder, {"train.parquet": pa.table({"trace_ids": [["c"]]}), "manifest.json": {"v": 3}})
    names = {info.base_name for info in fs.get_file_info(pafs.FileSelector(folder))}
    assert names == {"train.parquet", "manifest.json"} and read_manifest(fs, folder) == {"v": 3}
    assert snapshot_days(fs, root) == [date(2026, 4, 20)]  # the staging folder is not a snapshot


def test_settings_are_checked_naming_the_variable():
    assert export_window_days({}) == 7 and export_window_days({"TRACE_EXPORT_WINDOW_DAYS": "14"}) == 14
    with pytest.raises(MissingSettingError, match="TRACE_EXPORT_WINDOW_DAYS='0'"):
        export_window_days({"TRACE_EXPORT_WINDOW_DAYS": "0"})
    settings = export_settings({"TRACE_EXPORT_MARGIN": "0.3", "TRACE_EXPORT_EVAL_SET": "/data/eval.jsonl"})
    assert settings.margin == 0.3 and settings.eval_set == "/data/eval.jsonl"
    for name, value in (("TRACE_EXPORT_MARGIN", "wide"), ("TRACE_EXPORT_TEST_FRACTION", "1.5"),
                        ("TRACE_EXPORT_MISSING_DAYS", "ignore"), ("TRACE_EXPORT_MAX_TOKENS", "-1"),
                        ("TRACE_EXPORT_JACCARD", "0"), ("TRACE_EXPORT_MAX_PAIRS_PER_PROMPT", "zero")):
        with pytest.raises(MissingSettingError, match=name):
            export_settings({name: value})
    with pytest.raises(ValueError, match="dispreferred_at_most=0.9 is not below preferred_at_least=0.8"):
        ExportRules(dispreferred_at_most=0.9)


def manifest_base() -> dict:
    return {
        "snapshot": DAY.isoformat(),
        "built_at": "2026-04-21T00:00:00+00:00",
        "window": {"first_day": "2026-04-14", "last_day": "2026-04-20", "source_days": ["2026-04-20"], "missing_days": []},
        "counts": {},
    }
