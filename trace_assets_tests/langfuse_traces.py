"""Realistic Langfuse traces for tests, generated deterministically from a seed.

A `LangfuseTrace` holds what an application sent to Langfuse (Python values, UTC datetimes) and
its `LangfuseObservation`s. The loopback API server (`langfuse_api_server.py`) and the blob-export
writer (`langfuse_export_files.py`) render these into Langfuse's own wire and storage shapes; the
renderings live here (`events_rows`, `legacy_trace_row`, `legacy_observation_row`) so both agree.

Kinds of trace (`TRACE_KINDS`), each the shape a real integration produces:
- `langchain_rag`: LangChain callback handler: root chain SPAN -> RETRIEVER whose output is a list
  of `{page_content, metadata}` documents -> GENERATION with chat messages and the answer. The
  trace input/output are the chain's input/output dicts (`{"question": ...}` / `{"answer": ...}`).
- `openai_chat`: Langfuse's OpenAI integration: one GENERATION, input = messages (system prompt
  carrying the retrieved text, user turn), output = the assistant message; the trace input/output
  are those messages / that assistant message.
- `openai_tools`: the same with tool definitions: a first GENERATION answers with an assistant
  tool call, a TOOL span runs it, a second GENERATION answers (two generations).
- `otel_openinference`: OpenTelemetry/OpenInference spans ingested over OTLP: the contexts exist
  only as `retrieval.documents.N.document.content` attributes under `metadata.attributes` of a
  RETRIEVER span whose output is empty; the LLM span is a GENERATION.
- `ragas_retrieval`: the Ragas cookbook's `@observe` shape: a SPAN named `retrieval` whose output is
  `{"contexts": [...]}`, then a GENERATION; trace input/output are plain strings.
- `agent`: an AGENT root with several GENERATIONs and TOOL spans; the last GENERATION answers.
- `no_generation`: a cache hit: one SPAN with the cached answer, no GENERATION.
- `seed_metadata`: a single GENERATION whose trace metadata carries `contexts` (the seed table's
  convention).
- `evaluator`: Langfuse's own LLM-as-a-judge execution trace (environment
  `langfuse-llm-as-a-judge`), which a pipeline must never land.

Consent is recorded the ways applications do it (`CONSENT_VALUES`): metadata key `user_consent`
as `True`, `"true"`, `1`, `"1"`, `False`, `"false"`, `0` or missing, or the tag `CONSENT_TAG`.
Text is Korean or English. Some traces carry metadata values longer than 200 characters
(`request_context`, and JSON-encoded `contexts`), which Langfuse v4 truncates unless asked not to.

`LangfuseTrace.facts` records what the generator built (kind, consent value, contexts, the
answering generation...) so a test can compare a pipeline's output with what went in.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

UTC = timezone.utc

TRACE_KINDS = (
    "langchain_rag",
    "openai_chat",
    "openai_tools",
    "otel_openinference",
    "ragas_retrieval",
    "agent",
    "no_generation",
    "seed_metadata",
    "evaluator",
)

# A realistic production day: mostly RAG, some chat and agents, a few cache hits and evaluator runs.
DEFAULT_MIX: dict[str, float] = {
    "langchain_rag": 0.30,
    "openai_chat": 0.15,
    "openai_tools": 0.08,
    "otel_openinference": 0.12,
    "ragas_retrieval": 0.10,
    "agent": 0.08,
    "no_generation": 0.05,
    "seed_metadata": 0.07,
    "evaluator": 0.05,
}

# Values applications store under metadata `user_consent`; `MISSING` means the key is absent.
MISSING = object()
CONSENT_VALUES: tuple[Any, ...] = (True, "true", 1, "1", False, "false", 0, MISSING)
CONSENT_KEY = "user_consent"
# The tag some applications use instead of (or besides) the metadata key.
CONSENT_TAG = "consent:granted"
TRUTHY_CONSENT = (True, "true", 1, "1")

EVALUATOR_ENVIRONMENT = "langfuse-llm-as-a-judge"

MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "qwen3-32b", "glm-5-32b")

# Observation types Langfuse knows (the v2 API's enum); generators use a subset.
OBSERVATION_TYPES = (
    "GENERATION", "SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR",
    "EMBEDDING", "GUARDRAIL",
)


@dataclass
class LangfuseObservation:
    """One observation (span) as the application recorded it. `input`/`output`/`metadata` are Python
    values; `usage_details` maps usage keys (`input`, `output`, `total`, ...) to counts;
    `cost_details` maps the same keys to USD amounts."""

    id: str
    trace_id: str
    type: str
    name: str
    start_time: datetime
    end_time: datetime | None = None
    parent_observation_id: str | None = None
    input: Any = None
    output: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    level: str = "DEFAULT"
    status_message: str | None = None
    version: str | None = None
    environment: str = "default"
    model: str | None = None
    model_parameters: dict[str, Any] | None = None
    usage_details: dict[str, int] = field(default_factory=dict)
    cost_details: dict[str, float] = field(default_factory=dict)
    completion_start_time: datetime | None = None
    prompt_id: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    tool_definitions: dict[str, str] | None = None
    tool_calls: list[str] | None = None
    tool_call_names: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        self.created_at = self.created_at or self.start_time
        self.updated_at = self.updated_at or (self.end_time or self.start_time) + timedelta(seconds=2)


@dataclass
class LangfuseTrace:
    """One trace as the application recorded it, with its observations (the first is the root).

    `propagated`: the application propagated trace attributes (user, session, tags, metadata) to
    every span (Python SDK `propagate_attributes`); without it, Langfuse v4 has them on the root
    span only. `sdk` decides how input/output were serialised (`python`: `json.dumps` with ASCII
    escapes, so Korean arrives as `\\uXXXX`; `js`/`otel`: UTF-8 JSON)."""

    id: str
    timestamp: datetime
    name: str | None
    user_id: str | None
    session_id: str | None
    input: Any
    output: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    environment: str = "default"
    release: str | None = None
    version: str | None = None
    public: bool = False
    bookmarked: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    observations: list[LangfuseObservation] = field(default_factory=list)
    propagated: bool = True
    sdk: str = "python"
    facts: TraceFacts | None = None

    def __post_init__(self) -> None:
        self.created_at = self.created_at or self.timestamp
        last = max((o.updated_at for o in self.observations), default=None)
        self.updated_at = self.updated_at or last or self.timestamp + timedelta(seconds=2)

    @property
    def root(self) -> LangfuseObservation | None:
        return next((o for o in self.observations if o.parent_observation_id is None), None)

    @property
    def generations(self) -> list[LangfuseObservation]:
        return [o for o in self.observations if o.type == "GENERATION"]


@dataclass
class TraceFacts:
    """What the generator put into a trace, for tests to compare a pipeline's output against.

    `consent_value` is the raw metadata value (`MISSING` when absent); `consented` applies the
    issue's rule (metadata true/"true"/1/"1", or the consent tag). `contexts` are the retrieved
    texts in retrieval order (empty when none); `answering_generation_id` is the GENERATION that
    produced the final answer (the last one), or None."""

    kind: str
    language: str
    question: str
    answer: str
    contexts: list[str]
    consent_value: Any
    consent_tag: bool
    consented: bool
    answering_generation_id: str | None
    model: str | None
    generation_count: int
    usage_total: int
    long_metadata: bool


# --- text banks --------------------------------------------------------------------------------

_TOPICS_EN = [
    ("What is the difference between EKS Auto Mode and Karpenter?",
     "EKS Auto Mode runs Karpenter for you as a managed component, while self-managed Karpenter "
     "gives you full control over NodePools and upgrades.",
     ["EKS Auto Mode extends AWS management beyond the control plane to compute, storage and networking.",
      "Karpenter is an open-source node autoscaler that provisions right-sized nodes for pending pods.",
      "With Auto Mode, AWS operates Karpenter, the VPC CNI and the EBS CSI driver on your behalf."]),
    ("How do I rotate the IAM credentials used by my pods?",
     "Use EKS Pod Identity or IRSA: the SDK refreshes the temporary credentials automatically, so "
     "rotation needs no pod restart.",
     ["EKS Pod Identity associates an IAM role with a Kubernetes service account.",
      "IRSA projects a signed service account token that STS exchanges for temporary credentials.",
      "AWS SDKs refresh temporary credentials before they expire."]),
    ("Why is my pod stuck in Pending?",
     "The scheduler found no node with enough free CPU or memory; check the pod's events and the "
     "NodePool limits.",
     ["A pod stays Pending when no node satisfies its resource requests, affinity or taints.",
      "kubectl describe pod shows FailedScheduling events with the reason.",
      "Cluster autoscalers add nodes only for pods that could fit on a new node."]),
    ("How can I reduce cold-start latency of my inference service?",
     "Keep a warm replica, preload the model weights into the image or a local cache, and use "
     "readiness probes so traffic waits for the model.",
     ["Model weights loaded at start-up dominate cold-start time for large models.",
      "Readiness probes keep traffic away from a pod until it can serve.",
      "A minimum replica count of one avoids scale-from-zero delays."]),
    ("What does a 429 from the API mean?",
     "You exceeded the rate limit; wait for the time in Retry-After and lower your request rate.",
     ["HTTP 429 Too Many Requests signals rate limiting.",
      "The Retry-After header gives the seconds to wait before retrying."]),
]

_TOPICS_KO = [
    ("EKS Auto Mode와 Karpenter의 차이점은 무엇인가요?",
     "EKS Auto Mode는 AWS가 Karpenter를 관리형으로 운영하는 방식이고, 직접 설치한 Karpenter는 "
     "NodePool과 업그레이드를 모두 직접 관리합니다.",
     ["EKS Auto Mode는 컨트롤 플레인을 넘어 컴퓨팅, 스토리지, 네트워킹까지 AWS가 관리합니다.",
      "Karpenter는 대기 중인 파드에 맞는 노드를 프로비저닝하는 오픈소스 오토스케일러입니다.",
      "Auto Mode에서는 AWS가 Karpenter, VPC CNI, EBS CSI 드라이버를 대신 운영합니다."]),
    ("파드가 Pending 상태에서 멈춰 있는 이유는 무엇인가요?",
     "스케줄러가 CPU나 메모리가 충분한 노드를 찾지 못했기 때문입니다. 파드 이벤트와 NodePool 한도를 "
     "확인하세요.",
     ["리소스 요청, 어피니티, 테인트를 만족하는 노드가 없으면 파드는 Pending 상태로 남습니다.",
      "kubectl describe pod 명령으로 FailedScheduling 이벤트와 원인을 볼 수 있습니다."]),
    ("추론 서비스의 콜드 스타트 지연을 줄이려면 어떻게 해야 하나요?",
     "최소 한 개의 레플리카를 유지하고, 모델 가중치를 이미지나 로컬 캐시에 미리 적재하며, "
     "준비성 프로브로 트래픽을 제어하세요.",
     ["대형 모델은 시작 시 가중치 로딩이 콜드 스타트 시간의 대부분을 차지합니다.",
      "준비성 프로브는 파드가 서비스할 준비가 될 때까지 트래픽을 막아 줍니다.",
      "최소 레플리카 수를 1로 두면 0에서 확장할 때의 지연을 피할 수 있습니다."]),
    ("IAM 자격 증명을 파드에서 어떻게 교체하나요?",
     "EKS Pod Identity나 IRSA를 사용하면 SDK가 임시 자격 증명을 자동으로 갱신하므로 파드를 "
     "재시작할 필요가 없습니다.",
     ["EKS Pod Identity는 IAM 역할을 쿠버네티스 서비스 계정에 연결합니다.",
      "AWS SDK는 임시 자격 증명이 만료되기 전에 자동으로 갱신합니다."]),
]

_SYSTEM_PROMPT = {
    "en": "You are a helpful assistant for AWS and Kubernetes documentation. Answer only from the "
          "provided context and say so when the context does not contain the answer.",
    "ko": "당신은 AWS와 쿠버네티스 문서를 안내하는 도우미입니다. 제공된 문맥만으로 답하고, 문맥에 답이 "
          "없으면 그렇다고 말하세요.",
}

_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_cluster_status",
        "description": "Return the health of an EKS cluster and its node groups.",
        "parameters": {
            "type": "object",
            "properties": {"cluster": {"type": "string"}, "region": {"type": "string"}},
            "required": ["cluster"],
        },
    },
}


# --- ids and small helpers ---------------------------------------------------------------------

def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _tokens(text: str) -> int:
    # A stable stand-in for a tokenizer: about four characters a token, at least one.
    return max(1, len(text) // 4)


def _ms(dt: datetime) -> datetime:
    """Round to milliseconds: SDKs send millisecond timestamps, and the v2 API's cursor carries
    millisecond ISO times (microsecond starts would make its keyset ambiguous)."""
    return dt.replace(microsecond=(dt.microsecond // 1000) * 1000)


def _usage(prompt: str, completion: str) -> dict[str, int]:
    i, o = _tokens(prompt), _tokens(completion)
    return {"input": i, "output": o, "total": i + o}


def _cost(model: str, usage: Mapping[str, int]) -> dict[str, float]:
    price_in, price_out = {"gpt-4o-mini": (0.15e-6, 0.6e-6), "gpt-4.1": (2e-6, 8e-6)}.get(model, (0.5e-6, 1.5e-6))
    i, o = usage["input"] * price_in, usage["output"] * price_out
    return {"input": round(i, 12), "output": round(o, 12), "total": round(i + o, 12)}


class _Clock:
    """Advances through a trace's spans so children start after parents and end before them."""

    def __init__(self, start: datetime, rng: random.Random):
        self.now = start
        self.rng = rng

    def step(self, low_ms: int, high_ms: int) -> datetime:
        self.now = _ms(self.now + timedelta(milliseconds=self.rng.randint(low_ms, high_ms)))
        return self.now


def _long_request_context(rng: random.Random) -> str:
    # Real applications log request envelopes in metadata; this one is always over 200 characters.
    parts = [f"x-request-id={_hex(rng, 16)}", "user-agent=Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) "
             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
             f"x-forwarded-for=10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
             "accept-language=ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", f"route=/v1/chat/{_hex(rng, 8)}"]
    return "; ".join(parts)


def _answer_messages(lang: str, question: str, contexts: list[str]) -> list[dict[str, str]]:
    context_block = "\n\n".join(contexts)
    system = _SYSTEM_PROMPT[lang] + ("\n\nContext:\n" + context_block if contexts else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


# --- the generator -----------------------------------------------------------------------------

class TraceFactory:
    """Builds traces from one seeded random stream; `build(kind, timestamp)` gives one trace.

    Options per call: `language` ("en"/"ko", random when None), `consent` (a value of
    `CONSENT_VALUES`; random when None), `consent_tag` (add `CONSENT_TAG`), `long_metadata`
    (add metadata values over 200 characters; random when None), `propagated`."""

    def __init__(self, seed: int = 0, project_release: str = "2026.11.3"):
        self.rng = random.Random(seed)
        self.release = project_release

    def build(
        self,
        kind: str,
        timestamp: datetime,
        *,
        language: str | None = None,
        consent: Any = None,
        consent_tag: bool | None = None,
        long_metadata: bool | None = None,
        propagated: bool | None = None,
    ) -> LangfuseTrace:
        if kind not in TRACE_KINDS:
            raise ValueError(f"unknown trace kind {kind!r}; use one of {', '.join(TRACE_KINDS)}")
        rng = self.rng
        lang = language or rng.choice(("en", "en", "ko"))
        question, answer, contexts = rng.choice(_TOPICS_KO if lang == "ko" else _TOPICS_EN)
        contexts = list(contexts)
        consent = rng.choice(CONSENT_VALUES) if consent is None else consent
        consent_tag = (rng.random() < 0.1) if consent_tag is None else consent_tag
        long_metadata = (rng.random() < 0.3) if long_metadata is None else long_metadata
        propagated = (rng.random() < 0.7) if propagated is None else propagated
        timestamp = _ms(timestamp.astimezone(UTC))
        trace_id = _hex(rng, 32)
        model = rng.choice(MODELS)

        metadata: dict[str, Any] = {"app": {"name": "docs-assistant", "region": rng.choice(("ap-northeast-2", "us-east-1"))},
                                    "feature": rng.choice(("chat", "search", "support"))}
        if consent is not MISSING:
            metadata[CONSENT_KEY] = consent
        if long_metadata:
            metadata["request_context"] = _long_request_context(rng)
        tags = [rng.choice(("prod", "beta")), "docs"]
        if consent_tag:
            tags.append(CONSENT_TAG)

        builder = getattr(self, f"_{kind}")
        trace = LangfuseTrace(
            id=trace_id,
            timestamp=timestamp,
            name=None,
            user_id=f"user-{rng.randint(1, 400):04d}",
            session_id=f"session-{_hex(rng, 12)}",
            input=None,
            output=None,
            metadata=metadata,
            tags=tags,
            release=self.release,
            version=rng.choice(("v1.4.2", "v1.5.0")),
            propagated=propagated,
        )
        builder(trace, _Clock(timestamp, rng), lang, question, answer, contexts, model)
        trace.updated_at = None  # recomputed from the spans just built
        trace.__post_init__()
        gens = trace.generations
        answering = gens[-1] if gens else None
        # Read consent back from what the trace carries (builders such as `evaluator` replace it).
        consent = trace.metadata.get(CONSENT_KEY, MISSING)
        consent_tag = CONSENT_TAG in trace.tags
        trace.facts = TraceFacts(
            kind=kind,
            language=lang,
            question=question,
            answer=answer,
            contexts=[] if kind in ("no_generation", "evaluator") else contexts,
            consent_value=consent,
            consent_tag=consent_tag,
            consented=(consent is not MISSING and consent in TRUTHY_CONSENT) or consent_tag,
            answering_generation_id=answering.id if answering else None,
            model=answering.model if answering else None,
            generation_count=len(gens),
            usage_total=sum(g.usage_details.get("total", 0) for g in gens),
            long_metadata=long_metadata or kind == "seed_metadata",
        )
        return trace

    # Each builder fills name/input/output and the observations of `trace`.

    def _obs(self, trace: LangfuseTrace, type_: str, name: str, start: datetime, **fields) -> LangfuseObservation:
        obs = LangfuseObservation(id=_hex(self.rng, 16), trace_id=trace.id, type=type_, name=name,
                                  start_time=start, environment=trace.environment, **fields)
        trace.observations.append(obs)
        return obs

    def _generation(self, trace, clock, parent, name, model, messages, completion_text, *, output=None,
                    tools=None) -> LangfuseObservation:
        start = clock.step(5, 40)
        first_token = clock.step(150, 900)
        end = clock.step(200, 2500)
        prompt_text = json.dumps(messages, ensure_ascii=False)
        usage = _usage(prompt_text, completion_text)
        gen = self._obs(
            trace, "GENERATION", name, start,
            end_time=end,
            completion_start_time=first_token,
            parent_observation_id=parent.id if parent else None,
            input={"messages": messages, "tools": tools} if tools else messages,
            output=output if output is not None else {"role": "assistant", "content": completion_text},
            model=model,
            model_parameters={"temperature": 0.2, "max_tokens": 1024},
            usage_details=usage,
            cost_details=_cost(model, usage),
        )
        if tools:
            gen.tool_definitions = {t["function"]["name"]: json.dumps(t["function"]) for t in tools}
        return gen

    def _langchain_rag(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "RetrievalQA"
        trace.input = {"question": question}
        trace.output = {"answer": answer}
        root = self._obs(trace, "SPAN", "RetrievalQA", clock.now, input=trace.input, output=trace.output,
                         metadata={"ls_run_type": "chain"})
        retr_start = clock.step(2, 10)
        docs = [{"page_content": c, "metadata": {"source": f"docs/{self.rng.choice(('eks', 'k8s'))}/{i}.md",
                                                 "score": round(0.9 - i * 0.07, 3)}}
                for i, c in enumerate(contexts)]
        self._obs(trace, "RETRIEVER", "VectorStoreRetriever", retr_start, end_time=clock.step(30, 200),
                  parent_observation_id=root.id, input=question, output=docs)
        self._generation(trace, clock, root, "ChatOpenAI", model, _answer_messages(lang, question, contexts), answer)
        root.end_time = clock.step(2, 20)
        root.updated_at = root.end_time + timedelta(seconds=2)

    def _openai_chat(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "OpenAI-generation"
        messages = _answer_messages(lang, question, contexts)
        gen = self._generation(trace, clock, None, "OpenAI-generation", model, messages, answer)
        trace.input = messages
        trace.output = gen.output

    def _openai_tools(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "support-agent"
        trace.input = _answer_messages(lang, question, contexts)
        root = self._obs(trace, "SPAN", "support-agent", clock.now, input=trace.input)
        call_id = "call_" + _hex(self.rng, 24)
        arguments = json.dumps({"cluster": "prod-apne2", "region": "ap-northeast-2"})
        tool_call = {"role": "assistant", "content": None,
                     "tool_calls": [{"id": call_id, "type": "function",
                                     "function": {"name": "get_cluster_status", "arguments": arguments}}]}
        first = self._generation(trace, clock, root, "OpenAI-generation", model, trace.input, arguments,
                                 output=tool_call, tools=[_WEATHER_TOOL])
        first.tool_calls = [json.dumps(tool_call["tool_calls"][0])]
        first.tool_call_names = ["get_cluster_status"]
        tool_result = {"status": "ACTIVE", "nodegroups": {"system": "healthy", "gpu": "degraded"}}
        tool_start = clock.step(2, 10)
        self._obs(trace, "TOOL", "get_cluster_status", tool_start, end_time=clock.step(50, 400),
                  parent_observation_id=root.id, input=json.loads(arguments), output=tool_result)
        followup = trace.input + [tool_call, {"role": "tool", "tool_call_id": call_id,
                                              "content": json.dumps(tool_result)}]
        final = self._generation(trace, clock, root, "OpenAI-generation", model, followup, answer,
                                 tools=[_WEATHER_TOOL])
        trace.output = final.output
        root.output = final.output
        root.end_time = clock.step(2, 20)
        root.updated_at = root.end_time + timedelta(seconds=2)

    def _otel_openinference(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "query"
        trace.sdk = "otel"
        trace.input = question
        trace.output = answer
        resource = {"service.name": "rag-api", "telemetry.sdk.language": "python"}
        root = self._obs(trace, "CHAIN", "query", clock.now, input=question, output=answer,
                         metadata={"attributes": {"openinference.span.kind": "CHAIN"}, "resourceAttributes": resource})
        attributes: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": question}
        for i, text in enumerate(contexts):
            attributes[f"retrieval.documents.{i}.document.id"] = _hex(self.rng, 8)
            attributes[f"retrieval.documents.{i}.document.content"] = text
            attributes[f"retrieval.documents.{i}.document.score"] = str(round(0.88 - i * 0.05, 3))
        retr_start = clock.step(2, 10)
        self._obs(trace, "RETRIEVER", "retrieve", retr_start, end_time=clock.step(20, 150),
                  parent_observation_id=root.id, input=question, output=None,
                  metadata={"attributes": attributes, "resourceAttributes": resource,
                            "scope": {"name": "openinference.instrumentation.llama_index", "version": "4.3.0"}})
        gen = self._generation(trace, clock, root, "llm", model, _answer_messages(lang, question, contexts), answer)
        gen.metadata = {"attributes": {"openinference.span.kind": "LLM", "llm.model_name": model},
                        "resourceAttributes": resource}
        root.end_time = clock.step(2, 20)
        root.updated_at = root.end_time + timedelta(seconds=2)

    def _ragas_retrieval(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "rag-pipeline"
        trace.input = question
        trace.output = answer
        root = self._obs(trace, "SPAN", "rag-pipeline", clock.now, input=question, output=answer)
        retr_start = clock.step(2, 10)
        self._obs(trace, "SPAN", "retrieval", retr_start, end_time=clock.step(20, 150),
                  parent_observation_id=root.id, input={"question": question}, output={"contexts": contexts})
        self._generation(trace, clock, root, "generation", model, _answer_messages(lang, question, contexts), answer)
        root.end_time = clock.step(2, 20)
        root.updated_at = root.end_time + timedelta(seconds=2)

    def _agent(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "docs-agent"
        trace.input = question
        trace.output = answer
        root = self._obs(trace, "AGENT", "docs-agent", clock.now, input=question, output=answer)
        plan = "1. search the docs 2. summarise" if lang == "en" else "1. 문서 검색 2. 요약"
        self._generation(trace, clock, root, "plan", model, [{"role": "user", "content": question}], plan)
        search_start = clock.step(2, 10)
        self._obs(trace, "TOOL", "search_docs", search_start, end_time=clock.step(40, 300),
                  parent_observation_id=root.id, input={"query": question},
                  output=[{"page_content": c, "metadata": {"rank": i}} for i, c in enumerate(contexts)])
        draft = answer[: max(10, len(answer) // 2)]
        self._generation(trace, clock, root, "draft", model, _answer_messages(lang, question, contexts), draft)
        self._generation(trace, clock, root, "final-answer", model,
                         _answer_messages(lang, question, contexts) + [{"role": "assistant", "content": draft}], answer)
        root.end_time = clock.step(2, 20)
        root.updated_at = root.end_time + timedelta(seconds=2)

    def _no_generation(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "cache-hit"
        trace.input = question
        trace.output = answer
        self._obs(trace, "SPAN", "semantic-cache", clock.now, end_time=clock.step(3, 15), input=question,
                  output=answer, metadata={"cache": "hit", "similarity": 0.97})

    def _seed_metadata(self, trace, clock, lang, question, answer, contexts, model):
        trace.name = "chat"
        trace.input = question
        trace.output = answer
        trace.metadata["contexts"] = contexts
        gen = self._generation(trace, clock, None, "chat", model, _answer_messages(lang, question, contexts), answer)
        gen.output = answer

    def _evaluator(self, trace, clock, lang, question, answer, contexts, model):
        trace.environment = EVALUATOR_ENVIRONMENT
        trace.name = "Execute evaluator: faithfulness"
        trace.tags = []
        trace.user_id = None
        trace.session_id = None
        trace.metadata = {"job_execution_id": _hex(self.rng, 12), "score_id": _hex(self.rng, 12)}
        prompt = f"Rate the faithfulness of the answer to the question: {question}\nAnswer: {answer}"
        verdict = json.dumps({"score": round(self.rng.uniform(0.4, 1.0), 2), "reasoning": "Grounded in context."})
        gen = self._generation(trace, clock, None, "faithfulness", "gpt-4.1", [{"role": "user", "content": prompt}], verdict)
        trace.input = gen.input
        trace.output = gen.output
        for obs in trace.observations:
            obs.environment = EVALUATOR_ENVIRONMENT


def day_of_traces(
    day: date,
    count: int,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    *,
    edge_cases: bool = True,
) -> list[LangfuseTrace]:
    """`count` traces spread over the UTC `day` (busier in working hours), kinds drawn from `mix`
    (weights by kind name; default `DEFAULT_MIX`), sorted by timestamp.

    With `edge_cases`, the day also gets (counted within `count` when it is at least 4): one trace
    starting exactly at 00:00:00.000, one at 23:59:59.9xx whose later spans start after midnight
    (they belong to the next day's window: "observations whose trace is outside the window"),
    one with a metadata value over 200 characters, and one Korean OTel trace."""
    weights = dict(mix or DEFAULT_MIX)
    unknown = set(weights) - set(TRACE_KINDS)
    if unknown:
        raise ValueError(f"unknown trace kinds in mix: {sorted(unknown)}; use {', '.join(TRACE_KINDS)}")
    factory = TraceFactory(seed)
    rng = random.Random(seed + 1)
    kinds = [k for k, w in weights.items() if w > 0]
    start = datetime.combine(day, time(0), tzinfo=UTC)
    traces: list[LangfuseTrace] = []
    planned = 0
    if edge_cases and count >= 4:
        traces.append(factory.build("langchain_rag", start, long_metadata=True))
        traces.append(factory.build("agent", start + timedelta(hours=23, minutes=59, seconds=59, milliseconds=900)))
        traces.append(factory.build("seed_metadata", start + timedelta(hours=12), long_metadata=True))
        traces.append(factory.build("otel_openinference", start + timedelta(hours=9), language="ko"))
        planned = 4
    for _ in range(count - planned):
        # Two bumps (Korean and US working hours) over a floor: a plausible diurnal load.
        hour = rng.choice((rng.gauss(3, 2), rng.gauss(15, 3), rng.uniform(0, 24)))
        offset = timedelta(hours=min(max(hour, 0.0), 23.99), milliseconds=rng.randint(0, 999))
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        traces.append(factory.build(kind, start + offset))
    traces.sort(key=lambda t: (t.timestamp, t.id))
    return traces


def with_update(trace: LangfuseTrace, observation_id: str, seconds_later: float = 60, **changes) -> LangfuseTrace:
    """A copy of `trace` in which one observation was updated later (new `updated_at`), e.g. an
    output that arrived after the first export. The original is unchanged."""
    observations = []
    for obs in trace.observations:
        if obs.id == observation_id:
            obs = replace(obs, **changes, updated_at=obs.updated_at + timedelta(seconds=seconds_later))
        observations.append(obs)
    new = replace(trace, observations=observations, updated_at=None)
    new.__post_init__()
    return new


# --- renderings shared by the API server and the export writer ---------------------------------

def serialize_io(value: Any, sdk: str) -> str | None:
    """How Langfuse stores an input/output: the raw string when the application sent a string,
    JSON text otherwise (`json.dumps` as the Python SDK sends it, with `\\uXXXX` escapes; UTF-8
    JSON from JS/OTel SDKs)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if sdk == "python":
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def metadata_value_string(value: Any) -> str:
    """ClickHouse keeps metadata values as strings: strings raw, everything else JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def flatten_metadata(metadata: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """v4's events table flattens nested metadata objects into dotted keys with string values
    (Langfuse's `flattenJsonToPathArrays`); lists stay JSON text."""
    flat: dict[str, str] = {}
    for key, value in metadata.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten_metadata(value, path))
        elif value is None:
            flat[path] = None  # type: ignore[assignment]
        else:
            flat[path] = metadata_value_string(value)
    return flat


def parse_json_prioritised(value: str | None) -> Any:
    """Langfuse's read path parses each metadata value as JSON when it can, else keeps the text
    (so `"true"` and `true` both read back as `true`, `"1"` and `1` as `1`)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def events_rows(trace: LangfuseTrace, project_id: str) -> list[dict[str, Any]]:
    """The trace as rows of Langfuse v4's `events_full` table (one per observation), with Python
    values for the column types (datetimes, dicts for maps, lists for arrays).

    v4 keeps trace-level fields on spans: the root row has the trace's name, user, session, tags,
    release and metadata; child rows have them only when `trace.propagated`. Metadata is flattened
    to dotted keys with string values. input/output are the stored strings (`serialize_io`)."""
    rows = []
    for obs in trace.observations:
        is_root = obs.parent_observation_id is None
        carry = is_root or trace.propagated
        metadata = dict(trace.metadata) if carry else {}
        metadata.update(obs.metadata)
        obs_input = obs.input if obs.input is not None or not is_root else trace.input
        obs_output = obs.output if obs.output is not None or not is_root else trace.output
        rows.append({
            "project_id": project_id,
            "trace_id": trace.id,
            "span_id": obs.id,
            "parent_span_id": obs.parent_observation_id or "",
            "start_time": obs.start_time,
            "end_time": obs.end_time,
            "name": obs.name or "",
            "type": obs.type,
            "environment": obs.environment,
            "version": (obs.version or trace.version or "") if carry else (obs.version or ""),
            "release": (trace.release or "") if carry else "",
            "trace_name": (trace.name or "") if carry else "",
            "user_id": (trace.user_id or "") if carry else "",
            "session_id": (trace.session_id or "") if carry else "",
            "tags": list(trace.tags) if carry else [],
            "level": obs.level,
            "status_message": obs.status_message or "",
            "completion_start_time": obs.completion_start_time,
            "bookmarked": trace.bookmarked if is_root else False,
            "public": trace.public,
            "prompt_id": obs.prompt_id or "",
            "prompt_name": obs.prompt_name or "",
            "prompt_version": obs.prompt_version,
            "model_id": "",
            "provided_model_name": obs.model or "",
            "model_parameters": json.dumps(obs.model_parameters) if obs.model_parameters else "",
            "usage_details": dict(obs.usage_details),
            "cost_details": dict(obs.cost_details),
            "tool_definitions": dict(obs.tool_definitions or {}),
            "tool_calls": list(obs.tool_calls or []),
            "tool_call_names": list(obs.tool_call_names or []),
            "input": serialize_io(obs_input, trace.sdk) or "",
            "output": serialize_io(obs_output, trace.sdk) or "",
            "metadata": flatten_metadata(metadata),
            "created_at": obs.created_at,
            "updated_at": obs.updated_at,
            "event_ts": obs.updated_at,
            "is_deleted": 0,
        })
    return rows


def legacy_trace_row(trace: LangfuseTrace, project_id: str) -> dict[str, Any]:
    """The trace as a row of Langfuse v3's ClickHouse `traces` table (top-level metadata keys with
    string values; input/output stored strings)."""
    return {
        "id": trace.id,
        "timestamp": trace.timestamp,
        "name": trace.name,
        "environment": trace.environment,
        "project_id": project_id,
        "metadata": {k: metadata_value_string(v) for k, v in trace.metadata.items()},
        "user_id": trace.user_id,
        "session_id": trace.session_id,
        "release": trace.release,
        "version": trace.version,
        "public": trace.public,
        "bookmarked": trace.bookmarked,
        "tags": list(trace.tags),
        "input": serialize_io(trace.input, trace.sdk),
        "output": serialize_io(trace.output, trace.sdk),
        "created_at": trace.created_at,
        "updated_at": trace.updated_at,
        "event_ts": trace.updated_at,
    }


def legacy_observation_row(trace: LangfuseTrace, obs: LangfuseObservation, project_id: str) -> dict[str, Any]:
    """The observation as a row of Langfuse v3's ClickHouse `observations` table."""
    return {
        "id": obs.id,
        "trace_id": trace.id,
        "project_id": project_id,
        "environment": obs.environment,
        "type": obs.type,
        "parent_observation_id": obs.parent_observation_id,
        "start_time": obs.start_time,
        "end_time": obs.end_time,
        "name": obs.name,
        "metadata": {k: metadata_value_string(v) for k, v in obs.metadata.items()},
        "level": obs.level,
        "status_message": obs.status_message,
        "version": obs.version,
        "input": serialize_io(obs.input, trace.sdk),
        "output": serialize_io(obs.output, trace.sdk),
        "provided_model_name": obs.model,
        "internal_model_id": None,
        "model_parameters": json.dumps(obs.model_parameters) if obs.model_parameters else None,
        "usage_details": dict(obs.usage_details),
        "cost_details": dict(obs.cost_details),
        "total_cost": obs.cost_details.get("total"),
        "completion_start_time": obs.completion_start_time,
        "prompt_id": obs.prompt_id,
        "prompt_name": obs.prompt_name,
        "prompt_version": obs.prompt_version,
        "tool_definitions": dict(obs.tool_definitions or {}),
        "tool_calls": list(obs.tool_calls or []),
        "tool_call_names": list(obs.tool_call_names or []),
        "usage_pricing_tier_name": None,
        "created_at": obs.created_at,
        "updated_at": obs.updated_at,
        "event_ts": obs.updated_at,
    }


def stable_id(*parts: str) -> str:
    """A deterministic hex id from its parts (e.g. a score id from trace id + score name)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def iter_observations(traces: Iterable[LangfuseTrace]) -> Iterable[tuple[LangfuseTrace, LangfuseObservation]]:
    for trace in traces:
        for obs in trace.observations:
            yield trace, obs


def bad_input_traces(day: date, seed: int = 0) -> dict[str, LangfuseTrace]:
    """One trace per awkward case the issue names, by name, all on the UTC `day`:
    `no_generation`; `several_generations` (agent); `invalid_json_io` (trace and span input/output
    are strings that look like JSON but are not); `unknown_observation_type` (a span of type
    `WORKFLOW`, which no Langfuse enum has); `straddles_midnight` (root at 23:59:59.950, children
    after midnight); `long_metadata` (metadata values over 200 characters); `korean_python_sdk`
    (Korean input that the Python SDK stores with `\\uXXXX` escapes)."""
    factory = TraceFactory(seed)
    noon = datetime.combine(day, time(12), tzinfo=UTC)
    cases = {
        "no_generation": factory.build("no_generation", noon),
        "several_generations": factory.build("agent", noon + timedelta(minutes=1)),
        "invalid_json_io": factory.build("ragas_retrieval", noon + timedelta(minutes=2)),
        "unknown_observation_type": factory.build("langchain_rag", noon + timedelta(minutes=3)),
        "straddles_midnight": factory.build(
            "langchain_rag", datetime.combine(day, time(23, 59, 59, 950000), tzinfo=UTC)),
        "long_metadata": factory.build("seed_metadata", noon + timedelta(minutes=4), long_metadata=True),
        "korean_python_sdk": factory.build("langchain_rag", noon + timedelta(minutes=5), language="ko"),
    }
    broken = cases["invalid_json_io"]
    broken.input = '{"question": "What is Karpenter?", "history": [{"role": "user"'
    broken.output = "{answer: Karpenter provisions nodes}"
    broken.observations[0].input = broken.input
    broken.observations[0].output = broken.output
    odd = cases["unknown_observation_type"]
    odd.observations[0].type = "WORKFLOW"
    late = cases["straddles_midnight"]
    for obs in late.observations:
        # The spans after the root start after midnight, in the next day's window.
        shift = timedelta(milliseconds=100)
        obs.end_time = obs.end_time + shift if obs.end_time else None
        if obs.parent_observation_id is not None:
            obs.start_time += shift
            obs.completion_start_time = obs.completion_start_time + shift if obs.completion_start_time else None
        obs.updated_at += shift
    for name, trace in cases.items():
        trace.facts = replace(trace.facts, kind=name)
    return cases
