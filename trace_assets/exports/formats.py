"""The two shapes TRL reads, as Arrow: standard (text) and conversational (messages), and
OpenAI/Together's preference JSONL line.

Messages are structs of role and content, plus `name`, `tool_calls` and `tool_call_id` only when
some message of the file has them (a chat template given `tool_calls: None` on every turn is
asking for trouble). Tool definitions go in a `tools` column as JSON text, which TRL's trainers
parse (their schemas differ from tool to tool; as Arrow structs every tool would grow every other
tool's parameters as nulls).
"""

import json

import pyarrow as pa

_TOOL_CALL = pa.struct(
    [("id", pa.string()), ("type", pa.string()), ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())]))]
)
_OPTIONAL_MESSAGE_FIELDS = {"name": pa.string(), "tool_calls": pa.list_(_TOOL_CALL), "tool_call_id": pa.string()}


def message_type(messages_lists) -> pa.DataType:
    """The struct type of the messages in `messages_lists` (an iterable of lists of messages)."""
    present = {key for messages in messages_lists for message in messages for key in message}
    fields = [("role", pa.string()), ("content", pa.string())]
    fields += [(key, kind) for key, kind in _OPTIONAL_MESSAGE_FIELDS.items() if key in present]
    return pa.struct(fields)


def tools_json(tools: list | None) -> str | None:
    return json.dumps(tools, ensure_ascii=False) if tools else None


def table(rows: list[dict], fixed: list[tuple[str, pa.DataType]], message_columns: tuple[str, ...] = ()) -> pa.Table:
    """`rows` as a table: `fixed` columns with their types, then message columns typed by the
    messages they hold. Zero rows still give every column."""
    kind = message_type(row[column] for row in rows for column in message_columns) if message_columns else None
    fields = []
    for name, data_type in fixed:
        fields.append(pa.field(name, pa.list_(kind) if name in message_columns else data_type))
    schema = pa.schema(fields)
    return pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()


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
