"""A labeled trace as a conversation: the prompt messages, the answer, the tool definitions.

Where the trace has `messages` (JSON text: an OpenAI-style list, or {"messages": [...],
"tools": [...]}), the prompt is every message before the last assistant turn (system prompts,
earlier turns, tool calls and tool results intact) and the answer is that turn. Without messages,
or when they do not parse, the prompt is one user turn holding `input` and the answer one
assistant turn holding `output`.
"""

import json
from dataclasses import dataclass

# The keys a message keeps: TRL's conversational format and OpenAI's preference JSONL read these;
# everything else (audio, refusal, provider extras) would be rejected or mistyped by Arrow.
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


@dataclass(frozen=True)
class Conversation:
    prompt: list[dict]  # messages, ending with the turn the answer replies to
    answer: dict  # the assistant message
    tools: list | None  # tool definitions (JSON schema objects), when the trace had any
    from_messages: bool  # False: built from input/output

    @property
    def prompt_text(self) -> str:
        """What prompts are grouped by: the text of the non-system turns (a system prompt that
        differs between the arms of an A/B test does not keep their answers from pairing)."""
        return "\n".join(message_text(m) for m in self.prompt if m.get("role") != "system")

    @property
    def answer_text(self) -> str:
        return message_text(self.answer)


def conversation_of(input_text: str | None, output_text: str | None, messages_json: str | None) -> tuple[Conversation, str | None]:
    """The trace's conversation, and why its messages were not used (None when they were, or
    when it had none)."""
    if messages_json:
        try:
            return _from_messages(json.loads(messages_json)), None
        except (ValueError, TypeError, KeyError, AttributeError) as problem:
            fallback = _from_input_output(input_text, output_text)
            return fallback, f"messages not usable ({problem}): built from input/output"
    return _from_input_output(input_text, output_text), None


def _from_input_output(input_text: str | None, output_text: str | None) -> Conversation:
    return Conversation(
        prompt=[{"role": "user", "content": input_text or ""}],
        answer={"role": "assistant", "content": output_text or ""},
        tools=None,
        from_messages=False,
    )


def _from_messages(value) -> Conversation:
    tools = None
    if isinstance(value, dict):
        tools = value.get("tools") or value.get("functions") or None
        value = value["messages"]
    if not isinstance(value, list) or not value:
        raise ValueError("not a non-empty list of messages")
    messages = [_clean(message) for message in value]
    answer_at = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if answer_at is None or answer_at == 0:
        raise ValueError("no assistant answer after a prompt")
    if tools is not None and not isinstance(tools, list):
        raise ValueError("tools is not a list")
    return Conversation(prompt=messages[:answer_at], answer=messages[answer_at], tools=tools, from_messages=True)


def _clean(message) -> dict:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise ValueError(f"a message without a role: {str(message)[:80]!r}")
    cleaned = {"role": message["role"], "content": _content_text(message.get("content"))}
    for key in MESSAGE_KEYS[2:]:
        if message.get(key):
            cleaned[key] = message[key]
    if "tool_calls" in cleaned:
        cleaned["tool_calls"] = [_tool_call(call) for call in cleaned["tool_calls"]]
    return cleaned


def _tool_call(call: dict) -> dict:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    return {
        "id": call.get("id"),
        "type": call.get("type") or "function",
        "function": {
            "name": function.get("name"),
            # OpenAI sends arguments as JSON text; keep one type for Arrow
            "arguments": arguments if isinstance(arguments, str) or arguments is None else json.dumps(arguments, ensure_ascii=False),
        },
    }


def _content_text(content) -> str:
    """Message content as text: parts (OpenAI's [{"type": "text", "text": ...}]) are joined;
    parts that are not text (images, audio) have no place in a text training set."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return json.dumps(content, ensure_ascii=False)


def message_text(message: dict) -> str:
    text = message.get("content") or ""
    if message.get("tool_calls"):
        text += json.dumps(message["tool_calls"], ensure_ascii=False, sort_keys=True)
    return text
