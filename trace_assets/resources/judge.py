"""JudgeResource: the LLM-as-a-judge fleet (a Qwen3 model served by vLLM on KServe, behind an
OpenAI-compatible API), scored concurrently with bounded concurrency."""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from trace_assets.resources.fleet_endpoint import EndpointError, FleetEndpoint
from trace_assets.scoring.context_budget import (
    EXCEEDS_JUDGE_CONTEXT,
    certainly_fits,
    exceeds_context_message,
    server_root,
)
from trace_assets.scoring.judge_prompt import SEED_JUDGE_PROMPT, VERDICT_SCHEMA, prompt_version
from trace_assets.scoring.judge_verdict import VerdictError, parse_verdict


@dataclass(frozen=True)
class JudgeRequest:
    question: str
    answer: str


@dataclass
class JudgeVerdict:
    """One trace's judgement: a score in [0, 1], or no score and the error that prevented it."""

    score: float | None
    reasoning: str | None
    error: str | None
    error_kind: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: float


class JudgeResource(dg.ConfigurableResource):
    """The judge endpoint (JUDGE_BASE_URL, JUDGE_MODEL, JUDGE_API_KEY).

    Retries follow the openai client's policy: 429 (honouring Retry-After), 408/409, 5xx, timeouts
    and dropped connections, with exponential backoff and jitter, up to `max_retries` times; when
    they are exhausted the trace gets no score and the error (FleetEndpoint)."""

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://reward-labeler-qwen3-predictor.training-pipeline.svc.cluster.local/v1 (KServe's predictor Service, port 80).")
    model: str = Field(default="qwen3-judge", description="Served model name.")
    api_key: str | None = Field(default=None, description="Bearer token, when the endpoint wants one.")
    max_concurrency: int = Field(default=64, gt=0, description="Requests in flight at most.")
    request_timeout_s: float = Field(default=60.0, gt=0, description="Seconds before one request is abandoned.")
    max_retries: int = Field(default=4, ge=0, description="Retries per request after the first attempt.")
    temperature: float = Field(default=0.1, description="The seed's 0.1.")
    max_tokens: int = Field(default=200, gt=0, description="The seed's 200.")
    max_model_len: int = Field(
        default=8192,
        gt=0,
        description="The judge's context in tokens (vLLM's --max-model-len; the InferenceService serves 8192). "
        "A trace whose prompt and max_tokens do not fit is not sent: error `exceeds_judge_context`.",
    )
    disable_thinking: bool = Field(
        default=True, description="Ask Qwen3 not to think (chat_template_kwargs.enable_thinking=false)."
    )
    prompt_template: str = Field(default=SEED_JUDGE_PROMPT, description="With {question} and {answer}.")
    fleet_nodes: int = Field(default=3, gt=0, description="GPU nodes serving the judge (the seed's 3).")
    node_hourly_usd: float = Field(default=0.93, ge=0, description="Price of one node-hour (the seed's g6.xlarge).")

    def fleet_cost_usd(self, seconds: float) -> float:
        """What the fleet costs while a scoring run keeps it busy for `seconds`."""
        return seconds / 3600 * self.fleet_nodes * self.node_hourly_usd

    @property
    def scorer(self) -> str:
        return "llm_judge"

    @property
    def prompt_version(self) -> str:
        return prompt_version(self.prompt_template)

    def judge(
        self, requests: Sequence[JudgeRequest], on_progress: Callable[[int, int], None] | None = None
    ) -> list[JudgeVerdict]:
        """Verdicts in the order of `requests`. `on_progress(done, total)` is called as they finish."""
        return asyncio.run(self._judge_all(list(requests), on_progress))

    async def _judge_all(self, requests: list[JudgeRequest], on_progress) -> list[JudgeVerdict]:
        verdicts: list[JudgeVerdict | None] = [None] * len(requests)
        positions = iter(range(len(requests)))
        done = 0
        async with FleetEndpoint(
            self.base_url, self.api_key, self.request_timeout_s, self.max_retries, self.max_concurrency
        ) as endpoint, FleetEndpoint(
            server_root(self.base_url), self.api_key, self.request_timeout_s, self.max_retries, self.max_concurrency
        ) as tokenizer:

            async def worker() -> None:
                nonlocal done
                for position in positions:
                    verdicts[position] = await self._judge_one(endpoint, tokenizer, requests[position])
                    done += 1
                    if on_progress is not None:
                        on_progress(done, len(requests))

            await asyncio.gather(*(worker() for _ in range(min(self.max_concurrency, len(requests)))))
        return verdicts

    def _payload(self, request: JudgeRequest) -> dict:
        payload = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": self.prompt_template.format(question=request.question, answer=request.answer)}
            ],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "judge_verdict", "schema": VERDICT_SCHEMA, "strict": True},
            },
        }
        if self.disable_thinking:
            payload["chat_template_kwargs"] = {"enable_thinking": False}
        return payload

    async def _prompt_tokens_over_context(self, tokenizer: FleetEndpoint, payload: dict) -> int | None:
        """The prompt's token count when it does not fit the context; None when it fits, or when
        the server cannot count it (no /tokenize: it is sent, and the server decides)."""
        if certainly_fits([m["content"] for m in payload["messages"]], self.max_tokens, self.max_model_len):
            return None
        request = {"model": self.model, "messages": payload["messages"], "add_generation_prompt": True}
        if "chat_template_kwargs" in payload:
            request["chat_template_kwargs"] = payload["chat_template_kwargs"]
        try:
            count = (await tokenizer.post("/tokenize", request)).get("count")
        except EndpointError:
            return None
        return count if isinstance(count, int) and count + self.max_tokens > self.max_model_len else None

    async def _judge_one(self, endpoint: FleetEndpoint, tokenizer: FleetEndpoint, request: JudgeRequest) -> JudgeVerdict:
        started = time.perf_counter()
        payload = self._payload(request)
        over = await self._prompt_tokens_over_context(tokenizer, payload)
        if over is not None:
            message = exceeds_context_message(over, self.max_tokens, self.max_model_len, "the judge prompt")
            return JudgeVerdict(None, None, message, EXCEEDS_JUDGE_CONTEXT, 0, 0, _elapsed_ms(started))
        try:
            reply = await endpoint.post("/chat/completions", payload)
        except EndpointError as error:
            return JudgeVerdict(None, None, str(error), error.kind, 0, 0, _elapsed_ms(started))
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        tokens_in, tokens_out = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None  # a reply without a message is an empty response
        try:
            score, reasoning = parse_verdict(content)
        except VerdictError as error:
            return JudgeVerdict(None, None, str(error), error.kind, tokens_in, tokens_out, _elapsed_ms(started))
        return JudgeVerdict(score, reasoning, None, None, tokens_in, tokens_out, _elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
