"""A scripted stand-in for the LLM and embeddings ragas calls: it answers by the schema title
ragas puts in its system message (../shared/reference/ragas-wire.md)."""

import json
from dataclasses import dataclass, field

from trace_assets_tests.openai_server import Reply, chat_reply

QUESTION_VECTOR = [1.0, 0.0]
GENERATED_QUESTION_VECTOR = [0.6, 0.8]  # cosine 0.6 with the question


@dataclass
class RagasScript:
    """What the scripted model says about every trace: the statements in an answer, which of them
    the contexts support, and which contexts are relevant (by a word they contain)."""

    statements: list[str] = field(default_factory=lambda: ["s1", "s2", "s3"])
    supported: list[int] = field(default_factory=lambda: [1, 1, 0])
    relevant_context_words: tuple[str, ...] = ("Karpenter", "NodePool")
    noncommittal: int = 0
    questions: list[str] = field(default_factory=list)

    def __call__(self, path: str, body: dict) -> Reply:
        if path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = [GENERATED_QUESTION_VECTOR if text.startswith("generated:") else QUESTION_VECTOR for text in texts]
            return Reply(body={
                "object": "list", "model": body["model"],
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            })
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        self.questions.append(user)
        if "StatementGeneratorOutput" in system:
            answer = {"statements": self.statements}
        elif "NLIStatementOutput" in system:
            answer = {"statements": [
                {"statement": s, "reason": "scripted", "verdict": v} for s, v in zip(self.statements, self.supported)
            ]}
        elif "AnswerRelevanceOutput" in system:
            answer = {"question": "generated: what differs?", "noncommittal": self.noncommittal}
        elif "ContextPrecisionOutput" in system:
            context = user.rsplit("input:", 1)[-1]
            relevant = any(word in json.loads(context.split("Output:")[0])["context"] for word in self.relevant_context_words)
            answer = {"reason": "scripted", "verdict": int(relevant)}
        else:
            raise AssertionError(f"unexpected ragas prompt: {system[:300]}")
        return chat_reply(json.dumps(answer), prompt_tokens=1000, completion_tokens=50)
