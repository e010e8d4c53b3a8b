"""GRPO prompts: one row per prompt group, with what reward functions need."""

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from trace_assets.exports.example_pool import Example
from trace_assets.exports.formats import parquet_file, tools_json
from trace_assets.exports.snapshot import ParquetParts

SAME_REWARD_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class PromptGroup:
    group_id: str
    reference: Example  # the best-rewarded answer (then the smallest trace id)
    members: list[Example]

    @property
    def rewards_all_equal(self) -> bool:
        """Two answers or more, all with the same reward: the group cannot tell a better
        completion from a worse one."""
        rewards = [m.reward for m in self.members]
        return len(rewards) > 1 and max(rewards) - min(rewards) <= SAME_REWARD_TOLERANCE


def prompt_groups(examples: list[Example]) -> list[PromptGroup]:
    by_group: dict[str, list[Example]] = {}
    for example in examples:
        by_group.setdefault(example.group_id, []).append(example)
    groups = []
    for group_id in sorted(by_group):
        members = sorted(by_group[group_id], key=lambda e: (-e.reward, e.trace_id))
        groups.append(PromptGroup(group_id, members[0], members))
    return groups


_COMMON = [
    ("contexts", pa.list_(pa.string())),
    ("reference_answer", pa.string()),
    ("reference_reward", pa.float64()),
    ("rewards", pa.list_(pa.float64())),
    ("answers", pa.int64()),
    ("models", pa.list_(pa.string())),
    ("rewards_all_equal", pa.bool_()),
    ("trace_ids", pa.list_(pa.string())),
    ("prompt_group", pa.string()),
]


def _common(group: PromptGroup, answer_text: str, contexts: Mapping[str, list[str] | None]) -> dict:
    return {
        "contexts": contexts.get(group.reference.trace_id) or [],
        "reference_answer": answer_text,
        "reference_reward": group.reference.reward,
        "rewards": [m.reward for m in group.members],
        "answers": len(group.members),
        "models": sorted({m.model for m in group.members if m.model is not None}),
        "rewards_all_equal": group.rewards_all_equal,
        "trace_ids": [m.trace_id for m in group.members],
        "prompt_group": group.group_id,
    }


def standard_file(groups: list[PromptGroup], contexts: Mapping[str, list[str] | None]) -> ParquetParts:
    """`contexts`: trace id -> retrieved contexts, for the groups' reference traces."""

    def row(group: PromptGroup) -> dict:
        conversation = group.reference.conversation
        return {"prompt": conversation.prompt_text, **_common(group, conversation.answer_text, contexts)}

    return parquet_file(groups, row, [("prompt", pa.string()), *_COMMON])


def conversational_file(groups: list[PromptGroup], contexts: Mapping[str, list[str] | None]) -> ParquetParts:
    def row(group: PromptGroup) -> dict:
        conversation = group.reference.conversation
        return {"prompt": conversation.prompt, "tools": tools_json(conversation.tools), **_common(group, conversation.answer_text, contexts)}

    bits = 0
    for group in groups:
        bits |= group.reference.prompt_message_bits
    return parquet_file(groups, row, [("prompt", None), ("tools", pa.string()), *_COMMON], message_columns=("prompt",), message_bits=bits)
