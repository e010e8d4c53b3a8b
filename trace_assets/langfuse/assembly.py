"""Trace assembly: one Langfuse trace (its spans, see spans.py) becomes one row of the seed's
columns plus `messages` and `contexts` (README.md, "Connect your Langfuse", has the rules).

- The trace: a v3 trace record, else the root observation (no parent; the earliest if several).
  `timestamp` is its timestamp / start; user, session, metadata, tags, environment, release and
  version come from it (v4: from any span that carries them when the root does not).
- The answer: the LAST generation (by start, then end) produced it: `model` and `latency_ms`
  are that generation's; `token_count` sums the usage of every generation of the trace.
- `input` / `output`: the trace's input/output as text (a JSON string value becomes the string;
  chat messages give the last user turn / the assistant's answer), else the answering
  generation's. `messages`: the chat messages (the answering generation's input, else the
  trace's) with the answer appended, as JSON text, system prompts and tool calls intact.
- `contexts`, first rule that finds any: RETRIEVER observations' documents (`page_content`),
  a span named `retrieval` with `output.contexts`, OpenInference
  `retrieval.documents.N.document.content` attributes, documents (`page_content`) an agent's
  TOOL returned, the trace's `metadata.contexts` (or `retrieved_contexts`). Contexts that exist
  only as text inside the prompt's messages are not taken apart.
- Consent: metadata key `consent_key` is true, "true", 1 or "1", or the trace has `consent_tag`.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from trace_assets.langfuse.spans import TRACE_KIND

CONSENT_VALUES = (True, "true", 1, "1")
# The metadata key that holds a landed trace's page in Langfuse's UI.
TRACE_URL_KEY = "langfuse_trace_url"
# Langfuse's own evaluator traces (LLM-as-a-judge runs) live in environments named langfuse-*.
LANGFUSE_INTERNAL_ENVIRONMENT = "langfuse-"
_QUESTION_KEYS = ("question", "query", "input", "user_input", "prompt", "text", "content")
_ANSWER_KEYS = ("content", "output", "answer", "response", "text", "result")
_CONTEXT_TEXT_KEYS = ("page_content", "content", "text")
_OPENINFERENCE_DOCUMENT = re.compile(r"(?:^|\.)retrieval\.documents\.(\d+)\.document\.content$")


@dataclass(frozen=True)
class AssemblyRules:
    """What makes a trace landable: its timestamp in [window_start, window_end), its
    environment, and where consent is recorded."""

    window_start: datetime
    window_end: datetime
    consent_key: str = "user_consent"
    consent_tag: str | None = None
    environments: frozenset[str] | None = None


@dataclass(frozen=True)
class Skipped:
    """A trace that is not a row of this window, and why (`reason`)."""

    trace_id: str
    reason: str


def assemble_trace(trace_id: str, spans: list[dict], rules: AssemblyRules) -> dict | Skipped:
    """The landed row of one trace, or why it has none. `spans` are the trace's spans (dicts
    with spans.SPAN_SCHEMA's keys), each id once, in any order."""
    spans = sorted(spans, key=_chronological)
    root = _root(spans)
    if root is None:
        return Skipped(trace_id, "trace_without_root_in_window")
    timestamp = root["start_time"]
    if timestamp is None or not rules.window_start <= timestamp < rules.window_end:
        return Skipped(trace_id, "trace_outside_window")
    environment = _first(spans, "environment", root)
    if environment and environment.startswith(LANGFUSE_INTERNAL_ENVIRONMENT):
        return Skipped(trace_id, "langfuse_evaluator_trace")
    if rules.environments is not None and (environment or "default") not in rules.environments:
        return Skipped(trace_id, "environment_not_selected")

    generations = [span for span in spans if span["type"] == "GENERATION"]
    answering = generations[-1] if generations else None
    trace_input, trace_output = _parsed(root["input"]), _parsed(root["output"])
    generation_input = _parsed(answering["input"]) if answering else None
    generation_output = _parsed(answering["output"]) if answering else None

    input_text = _question(trace_input)
    if input_text is None:
        input_text = _question(generation_input)
    output_text = _answer(trace_output)
    if output_text is None:
        output_text = _answer(generation_output)
    tags = tags_of(_first(spans, "tags", root))
    metadata = trace_metadata(
        _first(spans, "metadata", root), tags, environment, _first(spans, "release", root), _first(spans, "version", root)
    )
    consent = has_consent(metadata, tags, rules)
    totals = [span["total_tokens"] for span in generations if span["total_tokens"] is not None]
    return {
        "id": trace_id,
        "timestamp": timestamp,
        "user_id": _first(spans, "user_id", root),
        "session_id": _first(spans, "session_id", root),
        "input": input_text,
        "output": output_text,
        "model": answering["model"] if answering else None,
        "latency_ms": _latency_ms(answering) if answering else None,
        "token_count": sum(totals) if totals else None,
        "metadata": json.dumps(metadata, ensure_ascii=False),
        "user_consent": bool(consent),
        "messages": _messages(
            generation_input, trace_input, generation_output, trace_output, _tool_definitions(answering)
        ),
        "contexts": _contexts(spans, metadata),
    }


def _chronological(span: dict):
    return (span["start_time"] is None, span["start_time"] or 0, span["end_time"] is None, span["end_time"] or 0)


def _root(spans: list[dict]) -> dict | None:
    for span in spans:
        if span["type"] == TRACE_KIND:
            return span
    for span in spans:
        if not span["parent_observation_id"]:
            return span
    return None


def _first(spans: list[dict], key: str, root: dict):
    """The root's value of `key`, else the first span's that has one (v4 puts trace-level
    attributes on the root span, and on children only when the application propagated them)."""
    if root.get(key) not in (None, ""):
        return root[key]
    for span in spans:
        if span.get(key) not in (None, ""):
            return span[key]
    return None


def _parsed(raw):
    """Langfuse's raw text as a value: JSON text parsed (a JSON string value becomes the
    string), anything that does not parse kept as the text it is."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _is_chat(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _chat_of(value) -> list[dict] | None:
    if _is_chat(value):
        return value
    if isinstance(value, dict) and _is_chat(value.get("messages")):
        return value["messages"]
    return None


def _text_of(content) -> str | None:
    """A message's content as text: OpenAI content parts keep their text parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        if parts:
            return "\n".join(parts)
    return json.dumps(content, ensure_ascii=False)


def _question(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    chat = _chat_of(value)
    if chat is not None:
        users = [message for message in chat if message.get("role") == "user"]
        return _text_of(users[-1].get("content")) if users else None
    if isinstance(value, dict):
        for key in _QUESTION_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value, ensure_ascii=False)


def _answer(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    chat = _chat_of(value)
    if chat is not None:
        answers = [message for message in chat if message.get("role") == "assistant"]
        return _message_text(answers[-1]) if answers else None
    if isinstance(value, dict):
        if value.get("role") == "assistant":
            return _message_text(value)
        if isinstance(value.get("choices"), list) and value["choices"]:
            return _answer(value["choices"][0].get("message"))
        for key in _ANSWER_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value, ensure_ascii=False)


def _message_text(message: dict) -> str | None:
    text = _text_of(message.get("content"))
    if text:
        return text
    calls = message.get("tool_calls") or message.get("function_call")
    return json.dumps(calls, ensure_ascii=False) if calls else text


def _tool_definitions(generation: dict | None) -> list | None:
    """The tools the answering generation was offered (v4 and exports keep them apart from the
    input, as a map of name -> JSON definition)."""
    raw = _parsed(generation["tool_definitions"]) if generation else None
    if isinstance(raw, dict):
        return [_parsed(definition) if isinstance(definition, str) else definition for definition in raw.values()] or None
    return raw if isinstance(raw, list) and raw else None


def _messages(generation_input, trace_input, generation_output, trace_output, offered_tools) -> str | None:
    chat = _chat_of(generation_input) or _chat_of(trace_input)
    if chat is None:
        return None
    conversation = list(chat)
    answer = _answer_message(generation_output) or _answer_message(trace_output)
    if answer is not None and (not conversation or conversation[-1] != answer):
        conversation.append(answer)
    tools = offered_tools or next(
        (
            value[key]
            for value in (generation_input, trace_input)
            if isinstance(value, dict)
            for key in ("tools", "functions")
            if value.get(key)
        ),
        None,
    )
    if tools:
        return json.dumps({"messages": conversation, "tools": tools}, ensure_ascii=False)
    return json.dumps(conversation, ensure_ascii=False)


def _answer_message(value) -> dict | None:
    if isinstance(value, dict) and value.get("role") == "assistant":
        return value
    chat = _chat_of(value)
    if chat is not None and chat[-1].get("role") == "assistant":
        return chat[-1]
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        return _answer_message(value["choices"][0].get("message"))
    if isinstance(value, str):
        return {"role": "assistant", "content": value}
    return None


def _latency_ms(span: dict) -> int | None:
    if span["start_time"] is None or span["end_time"] is None:
        return None
    return round((span["end_time"] - span["start_time"]).total_seconds() * 1000)


def trace_metadata(raw: str | None, tags: list[str], environment: str | None, release: str | None, version: str | None) -> dict:
    """The trace's metadata (`raw`, JSON object text) with its tags, environment, release and
    version added under those keys when it has none of its own."""
    metadata = json.loads(raw) if raw else {}
    extras = {"tags": tags or None, "environment": environment, "release": release, "version": version}
    for key, value in extras.items():
        if value is not None and key not in metadata:
            metadata[key] = value
    return metadata


def has_consent(metadata: dict, tags: list[str], rules: AssemblyRules) -> bool:
    return metadata.get(rules.consent_key) in CONSENT_VALUES or (rules.consent_tag is not None and rules.consent_tag in tags)


def tags_of(raw) -> list[str]:
    return json.loads(raw) if raw else []


def _contexts(spans: list[dict], metadata: dict) -> list[str] | None:
    for rule in (_retriever_documents, _retrieval_span_contexts, _openinference_documents, _tool_documents):
        found = rule(spans)
        if found:
            return found
    for key in ("contexts", "retrieved_contexts"):
        found = _documents(metadata.get(key))
        if found:
            return found
    return None


def _retriever_documents(spans: list[dict]) -> list[str]:
    found = []
    for span in spans:
        if span["type"] == "RETRIEVER":
            output = _parsed(span["output"])
            if isinstance(output, dict):
                output = output.get("documents", output.get("contexts"))
            found.extend(_documents(output))
    return found


def _tool_documents(spans: list[dict]) -> list[str]:
    """Documents an agent's TOOL returned (a LangChain retriever tool: `page_content` objects)."""
    found = []
    for span in spans:
        output = _parsed(span["output"]) if span["type"] == "TOOL" else None
        if isinstance(output, list) and output and all(isinstance(item, dict) and "page_content" in item for item in output):
            found.extend(_documents(output))
    return found


def _retrieval_span_contexts(spans: list[dict]) -> list[str]:
    found = []
    for span in spans:
        if (span["name"] or "").lower() == "retrieval":
            output = _parsed(span["output"])
            if isinstance(output, dict):
                found.extend(_documents(output.get("contexts")))
    return found


def _openinference_documents(spans: list[dict]) -> list[str]:
    found = []
    for span in spans:
        if not span["metadata"]:
            continue
        documents = []
        for key, value in _flattened(json.loads(span["metadata"])):
            match = _OPENINFERENCE_DOCUMENT.search(key)
            if match and isinstance(value, str):
                documents.append((int(match.group(1)), value))
        found.extend(text for _, text in sorted(documents))
    return found


def _flattened(value, prefix: str = ""):
    """(dotted key, value) pairs of a nested object: OpenInference attributes arrive nested
    under `attributes` (v3) or as dotted keys (v4)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flattened(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _documents(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            text = next((item[key] for key in _CONTEXT_TEXT_KEYS if isinstance(item.get(key), str)), None)
            if text is not None:
                texts.append(text)
    return texts
