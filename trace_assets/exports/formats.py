"""The two shapes TRL reads, as Arrow: standard (text) and conversational (messages), and
OpenAI/Together's preference JSONL line.

Messages are structs of role and content, plus `name`, `tool_calls` and `tool_call_id` only when
some message of the file has them (the examples record which, so a file's type is known before
its first row is built; a chat template given `tool_calls: None` on every turn is
asking for trouble). Tool definitions go in a `tools` column as JSON text, which TRL's trainers
parse (their schemas differ from tool to tool; as Arrow structs every tool would grow every other
tool's parameters as nulls).
"""

import json
from collections.abc import Callable, Sequence

import pyarrow as pa

from trace_assets.exports.snapshot import ParquetParts, TextParts

_TOOL_CALL = pa.struct(
    [("id", pa.string()), ("type", pa.string()), ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())]))]
)
_OPTIONAL_MESSAGE_FIELDS = {"name": pa.string(), "tool_calls": pa.list_(_TOOL_CALL), "tool_call_id": pa.string()}


ROWS_PER_PART = 2_000  # rows built (and written as one row group) at a time


def message_key_bits(messages: list[dict]) -> int:
    """Which optional keys (`name`, `tool_calls`, `tool_call_id`) some of `messages` have, as bits."""
    return sum(1 << bit for bit, key in enumerate(_OPTIONAL_MESSAGE_FIELDS) if any(key in message for message in messages))


def message_type(key_bits: int) -> pa.DataType:
    """The struct type of messages whose optional keys are `key_bits` (message_key_bits, or-ed
    over every message of a file)."""
    fields = [("role", pa.string()), ("content", pa.string())]
    fields += [(key, kind) for bit, (key, kind) in enumerate(_OPTIONAL_MESSAGE_FIELDS.items()) if key_bits >> bit & 1]
    return pa.struct(fields)


def tools_json(tools: list | None) -> str | None:
    return json.dumps(tools, ensure_ascii=False) if tools else None


def parquet_file(
    items: Sequence, to_row: Callable[[object], dict], fixed: list[tuple[str, pa.DataType | None]],
    message_columns: tuple[str, ...] = (), message_bits: int = 0,
) -> ParquetParts:
    """A Parquet file of one row per item, built ROWS_PER_PART rows at a time as it is written:
    `fixed` columns with their types, message columns (type None in `fixed`) as lists of the
    messages whose optional keys are `message_bits`. Zero items still give every column."""
    kind = message_type(message_bits)
    schema = pa.schema([pa.field(name, pa.list_(kind) if name in message_columns else data_type) for name, data_type in fixed])

    def parts():
        for start in range(0, len(items), ROWS_PER_PART):
            yield pa.Table.from_pylist([to_row(item) for item in items[start : start + ROWS_PER_PART]], schema=schema)

    return ParquetParts(schema, parts)


def jsonl_file(items: Sequence, to_line: Callable[[object], str]) -> TextParts:
    """A JSONL file, line i from item i, built ROWS_PER_PART lines at a time as it is written."""

    def parts():
        for start in range(0, len(items), ROWS_PER_PART):
            yield "".join(to_line(item) + "\n" for item in items[start : start + ROWS_PER_PART]).encode("utf-8")

    return TextParts(parts)


def preference_line(prompt: list[dict], chosen: dict, rejected: dict, tools: list | None) -> str:
    """One line of OpenAI's (and Together's) DPO JSONL: the three keys they accept, messages
    without keys they would reject."""
    request = {"messages": [_clean(message) for message in prompt]}
    if tools:
        request["tools"] = tools
    line = {"input": request, "preferred_output": [_clean(chosen)], "non_preferred_output": [_clean(rejected)]}
    return json.dumps(line, ensure_ascii=False)


def _clean(message: dict) -> dict:
    return {key: value for key, value in message.items() if value not in (None, "", [])} | {"content": message.get("content") or ""}
