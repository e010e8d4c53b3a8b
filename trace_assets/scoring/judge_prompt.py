"""The judge's prompt: the seed's rubric (accuracy, completeness, clarity), in Korean as the seed
wrote it, and the JSON schema vLLM constrains the answer to."""

import hashlib

SEED_JUDGE_PROMPT = """다음 질문과 답변을 평가하세요.

**질문**: {question}
**답변**: {answer}

**평가 기준**:
1. 정확성: 기술적 오류가 없는가?
2. 완결성: 질문의 모든 측면을 다루는가?
3. 명확성: 이해하기 쉬운가?

점수를 0.0-1.0 사이로 출력하세요. JSON 형식으로만 응답하세요:
{{"score": 0.85, "reasoning": "..."}}
"""

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reasoning": {"type": "string"},
    },
    "required": ["score", "reasoning"],
    "additionalProperties": False,
}


def prompt_version(template: str) -> str:
    """A short, stable name for a prompt's text: scores made with another text are not reused."""
    return "judge-" + hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]
