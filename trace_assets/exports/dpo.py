"""DPO pairs: two different answers of one prompt group whose rewards differ by the margin."""

from dataclasses import dataclass

import pyarrow as pa

from trace_assets.exports.example_pool import EMPTY_ANSWER, Example
from trace_assets.exports.formats import jsonl_file, parquet_file, preference_line, tools_json
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import ParquetParts, TextParts


@dataclass(frozen=True, slots=True)
class Pair:
    chosen: Example
    rejected: Example

    @property
    def margin(self) -> float:
        return self.chosen.reward - self.rejected.reward


def dpo_pairs(examples: list[Example], rules: ExportRules) -> list[Pair]:
    """Per prompt group, at most `max_pairs_per_prompt` pairs, deterministically: the chosen
    side from the preferred band when the group has an answer there, rewards at least `margin`
    apart, never two equal answers or an empty side. Pairs of two models first, then the widest
    margins, preferring answers not used by a pair already taken."""
    by_group: dict[str, list[Example]] = {}
    for example in examples:
        by_group.setdefault(example.group_id, []).append(example)
    pairs = []
    for group_id in sorted(by_group):
        members = sorted(by_group[group_id], key=lambda e: (-e.reward, e.trace_id))
        preferred = [m for m in members if m.reward >= rules.preferred_at_least]
        candidates = [
            Pair(chosen, rejected)
            for chosen in (preferred or members)
            for rejected in members
            if chosen.reward - rejected.reward >= rules.margin - 1e-12 and _different(chosen, rejected)
        ]
        candidates.sort(key=lambda p: (p.chosen.model == p.rejected.model, -p.margin, p.chosen.trace_id, p.rejected.trace_id))
        taken: list[Pair] = []
        used: set[str] = set()
        for fresh_only in (True, False):
            for pair in candidates:
                if len(taken) == rules.max_pairs_per_prompt:
                    break
                if pair in taken or (fresh_only and {pair.chosen.trace_id, pair.rejected.trace_id} & used):
                    continue
                taken.append(pair)
                used |= {pair.chosen.trace_id, pair.rejected.trace_id}
        pairs += taken
    return pairs


def _different(chosen: Example, rejected: Example) -> bool:
    """Two non-empty answers whose normalised texts differ (by their hashes)."""
    a, b = chosen.answer_key, rejected.answer_key
    return a != EMPTY_ANSWER and b != EMPTY_ANSWER and a != b


_COMMON = [
    ("trace_ids", pa.list_(pa.string())),
    ("prompt_group", pa.string()),
    ("chosen_reward", pa.float64()),
    ("rejected_reward", pa.float64()),
    ("chosen_model", pa.string()),
    ("rejected_model", pa.string()),
]


def _common(pair: Pair) -> dict:
    return {
        "trace_ids": [pair.chosen.trace_id, pair.rejected.trace_id],
        "prompt_group": pair.chosen.group_id,
        "chosen_reward": pair.chosen.reward,
        "rejected_reward": pair.rejected.reward,
        "chosen_model": pair.chosen.model,
        "rejected_model": pair.rejected.model,
    }


def standard_file(pairs: list[Pair]) -> ParquetParts:
    def row(pair: Pair) -> dict:
        chosen, rejected = pair.chosen.conversation, pair.rejected.conversation
        return {"prompt": chosen.prompt_text, "chosen": chosen.answer_text, "rejected": rejected.answer_text, **_common(pair)}

    return parquet_file(pairs, row, [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()), *_COMMON])


def conversational_file(pairs: list[Pair]) -> ParquetParts:
    def row(pair: Pair) -> dict:
        chosen, rejected = pair.chosen.conversation, pair.rejected.conversation
        return {
            "prompt": chosen.prompt,
            "chosen": [chosen.answer],
            "rejected": [rejected.answer],
            "tools": tools_json(chosen.tools),
            **_common(pair),
        }

    bits = 0
    for p in pairs:
        bits |= p.chosen.prompt_message_bits | p.chosen.answer_message_bits | p.rejected.answer_message_bits
    fixed = [("prompt", None), ("chosen", None), ("rejected", None), ("tools", pa.string()), *_COMMON]
    return parquet_file(pairs, row, fixed, message_columns=("prompt", "chosen", "rejected"), message_bits=bits)


def preference_jsonl(pairs: list[Pair]) -> TextParts:
    """OpenAI/Together preference JSONL, line i from pair i (as conversational_file's row i)."""

    def line(pair: Pair) -> str:
        chosen, rejected = pair.chosen.conversation, pair.rejected.conversation
        return preference_line(chosen.prompt, chosen.answer, rejected.answer, chosen.tools)

    return jsonl_file(pairs, line)
