"""TRL's own trainers take two steps on each export, on the CPU: DPOTrainer (standard and
conversational with a system prompt, tool calls and tool definitions), KTOTrainer and
GRPOTrainer, on files published by the export code and loaded with `datasets.load_dataset`. The
model is a randomly initialised one-layer Llama and the tokenizer is trained here on the files'
own words: nothing is downloaded."""

import copy
import json
import math
from datetime import date, datetime, timedelta, timezone

import datasets
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, KTOConfig, KTOTrainer

from trace_assets.exports.build import DPO, GRPO, KTO, build_snapshot
from trace_assets.exports.example_pool import build_pool
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import publish_snapshot, read_manifest
from trace_assets.tables.labeled import LABELED_SCHEMA

DAY = date(2026, 4, 20)
RULES = ExportRules(test_fraction=0.2)
SPECIAL = ["[PAD]", "[UNK]", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- if tools %}<|im_start|>tools {{ tools | tojson }}<|im_end|>{% endif -%}"
    "{%- for message in messages %}<|im_start|>{{ message['role'] }} {{ message['content'] or '' }}"
    "{% if message.tool_calls %} {{ message.tool_calls | tojson }}{% endif %}<|im_end|>{% endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant{% endif -%}"
)
TOOLS = [{"type": "function", "function": {"name": "search_docs", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]


def labeled_rows() -> list[dict]:
    rows, n = [], 0
    for i in range(12):
        question = f"How many pods fit on node type {i} with prefix delegation?"
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "search_docs", "arguments": json.dumps({"q": f"type {i}"})}}
        prompt = [
            {"role": "system", "content": "Answer from the EKS documentation."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": f"Type {i} allows {20 + i} pods."},
        ]
        for model, answer, reward in (
            ("model-a", f"Type {i} fits {20 + i} pods with prefix delegation.", 0.9),
            ("model-b", f"I do not know about type {i}.", 0.1 + 0.01 * i),
        ):
            n += 1
            messages = {"messages": [*prompt, {"role": "assistant", "content": answer}], "tools": TOOLS} if i % 2 else None
            rows.append({
                "trace_id": f"trace-{n:03d}", "timestamp": datetime(2026, 4, 20, tzinfo=timezone.utc) - timedelta(days=i % 3, minutes=n),
                "model": model, "input": question, "output": answer, "contexts": [f"Type {i} allows {20 + i} pods."],
                "consent": True, "ragas_weight": 0.6, "judge_weight": 0.4, "final_reward": reward, "preference": None,
                "labeled_at": datetime.now(timezone.utc), "messages": json.dumps(messages) if messages else None,
            })
    return rows


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """Each export published as the asset publishes it, from a window with tool-using traces."""
    root = tmp_path_factory.mktemp("exports")
    rows = labeled_rows()
    pool = build_pool(pa.Table.from_pylist(rows, schema=LABELED_SCHEMA), {DAY - timedelta(days=d) for d in range(3)}, RULES)
    examples, _ = pool.published(set())
    contexts = {row["trace_id"]: row["contexts"] for row in rows}
    base = {"snapshot": DAY.isoformat(), "built_at": "now", "counts": dict(pool.counts),
            "window": {"first_day": "2026-04-18", "last_day": "2026-04-20", "source_days": [], "missing_days": []}}
    folders = {}
    for export in (DPO, KTO, GRPO):
        folders[export] = root / export
        publish_snapshot(pafs.LocalFileSystem(), str(folders[export]), build_snapshot(export, examples, RULES, base, contexts).files)
    return folders


def tiny_model_and_tokenizer(datasets_: list[datasets.Dataset]):
    words = []
    for dataset in datasets_:
        for row in dataset:
            words.append(json.dumps(row, ensure_ascii=False, default=str))
    words.append(json.dumps(TOOLS))
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(words, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    wrapped.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(wrapped), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, pad_token_id=wrapped.pad_token_id,
        eos_token_id=wrapped.eos_token_id, bos_token_id=wrapped.bos_token_id,
    )
    return LlamaForCausalLM(config), wrapped


COMMON = {"max_steps": 2, "per_device_train_batch_size": 2, "report_to": [], "use_cpu": True, "save_strategy": "no", "logging_steps": 1}


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("config", ["standard", "conversational"])
def test_dpo_trainer_takes_two_steps(snapshots, config, tmp_path):
    data = datasets.load_dataset(str(snapshots[DPO]), config)
    if config == "conversational":
        with_tools = [row for row in data["train"] if row["tools"]]
        assert with_tools and json.loads(with_tools[0]["tools"]) == TOOLS
        assert with_tools[0]["prompt"][0]["role"] == "system" and with_tools[0]["prompt"][2]["tool_calls"]
    model, tokenizer = tiny_model_and_tokenizer([data["train"]])
    args = DPOConfig(output_dir=str(tmp_path), max_length=96, **COMMON)
    # the reference model is given: TRL would otherwise load it again by the model's name, from the Hub
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=data["train"], processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2 and losses(trainer) and all(math.isfinite(x) for x in losses(trainer))


def test_kto_trainer_takes_two_steps_with_the_manifests_weight(snapshots, tmp_path):
    data = datasets.load_dataset(str(snapshots[KTO]), "conversational")
    weight = read_manifest(pafs.LocalFileSystem(), str(snapshots[KTO]))["counts"]["desirable_weight"]
    model, tokenizer = tiny_model_and_tokenizer([data["train"]])
    args = KTOConfig(output_dir=str(tmp_path), max_length=96, desirable_weight=weight, **COMMON)
    trainer = KTOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=data["train"], processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2 and all(math.isfinite(x) for x in losses(trainer))


def overlap_with_reference(completions, reference_answer, contexts, **_) -> list[float]:
    """A reward function fed by the export's columns: words shared with the reference answer."""
    assert all(isinstance(c, list) for c in contexts)
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [len(set(t.split()) & set(r.split())) / len(set(r.split())) for t, r in zip(texts, reference_answer)]


@pytest.mark.parametrize("config", ["standard", "conversational"])
def test_grpo_trainer_takes_two_steps(snapshots, config, tmp_path):
    data = datasets.load_dataset(str(snapshots[GRPO]), config)
    model, tokenizer = tiny_model_and_tokenizer([data["train"]])
    args = GRPOConfig(output_dir=str(tmp_path), num_generations=2, max_completion_length=8, **COMMON)
    trainer = GRPOTrainer(model=model, reward_funcs=overlap_with_reference, args=args, train_dataset=data["train"], processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2 and all(math.isfinite(x) for x in losses(trainer))
