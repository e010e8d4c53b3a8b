"""KTO examples: preferred answers labelled True, dispreferred False, neutral left out."""

import pyarrow as pa

from trace_assets.exports.example_pool import Example
from trace_assets.exports.formats import parquet_file, tools_json
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import ParquetParts

# TRL warns unless desirable_weight * n_desirable / (undesirable_weight * n_undesirable) is in [1, 4/3].
TRL_RATIO_LOW, TRL_RATIO_HIGH = 1.0, 4 / 3


def kto_examples(examples: list[Example], rules: ExportRules) -> list[tuple[Example, bool]]:
    labelled = []
    for example in examples:
        if example.reward >= rules.preferred_at_least:
            labelled.append((example, True))
        elif example.reward <= rules.dispreferred_at_most:
            labelled.append((example, False))
    return labelled


def desirable_weight(desirable: int, undesirable: int) -> float | None:
    """The desirable_weight (undesirable_weight 1) that puts TRL's ratio in the middle of
    [1, 4/3]; None when a side is empty (no weight balances it)."""
    if desirable == 0 or undesirable == 0:
        return None
    return round((TRL_RATIO_LOW + TRL_RATIO_HIGH) / 2 * undesirable / desirable, 4)


_COMMON = [("trace_ids", pa.list_(pa.string())), ("prompt_group", pa.string()), ("reward", pa.float64()), ("model", pa.string())]


def _common(example: Example) -> dict:
    return {"trace_ids": [example.trace_id], "prompt_group": example.group_id, "reward": example.reward, "model": example.model}


def standard_file(labelled: list[tuple[Example, bool]]) -> ParquetParts:
    def row(item: tuple[Example, bool]) -> dict:
        example, label = item
        conversation = example.conversation
        return {"prompt": conversation.prompt_text, "completion": conversation.answer_text, "label": label, **_common(example)}

    return parquet_file(labelled, row, [("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_()), *_COMMON])


def conversational_file(labelled: list[tuple[Example, bool]]) -> ParquetParts:
    def row(item: tuple[Example, bool]) -> dict:
        example, label = item
        conversation = example.conversation
        return {
            "prompt": conversation.prompt,
            "completion": [conversation.answer],
            "label": label,
            "tools": tools_json(conversation.tools),
            **_common(example),
        }

    bits = 0
    for example, _ in labelled:
        bits |= example.prompt_message_bits | example.answer_message_bits
    fixed = [("prompt", None), ("completion", None), ("label", pa.bool_()), ("tools", pa.string()), *_COMMON]
    return parquet_file(labelled, row, fixed, message_columns=("prompt", "completion"), message_bits=bits)
