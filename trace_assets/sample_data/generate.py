"""Writes the bundled sample traces (traces.jsonl.gz), deterministically.

    python -m trace_assets.sample_data.generate

Three UTC days (2026-04-18..20, the seed's example date first) of traces shaped like the seed's
`traces` table: four models (one named with a `/`, one with a space), Korean and English
questions with retrieved contexts, answers that are good, partly wrong, off-topic or refusals,
a feedback_score on some, about 20% without consent (false or NULL), and edge rows: exactly at
UTC midnight, a microsecond before it, an empty output, a NULL output (the source query leaves it
out), a 40 KB input, NULL metadata, and three rows the landing gate must reject (no id; no
timestamp; metadata that is not an object). From the third day on, metadata carries a new key, `app_version`.
"""

import gzip
import io
import json
import random
import uuid
from datetime import datetime, timedelta

from trace_assets.sample_data import SAMPLE_TRACES_PATH
from trace_assets.sample_data.topics import REFUSALS_EN, REFUSALS_KO, TOPICS

SAMPLE_DAYS = ("2026-04-18", "2026-04-19", "2026-04-20")
TRACES_PER_DAY = 200
MODELS = (("glm-5-32b", 0.35), ("Qwen/Qwen3-4B", 0.3), ("qwen3-coder", 0.2), ("gpt-oss 20b", 0.15))
QUALITIES = (("good", 0.55), ("partly_wrong", 0.2), ("off_topic", 0.12), ("refusal", 0.13))
FEEDBACK = {"good": (4.0, 5.0), "partly_wrong": (2.0, 3.5), "off_topic": (1.0, 2.0), "refusal": (1.0, 2.0)}


def _pick(rng: random.Random, weighted):
    return rng.choices([value for value, _ in weighted], weights=[weight for _, weight in weighted])[0]


def _trace(rng: random.Random, timestamp: datetime, day_index: int) -> dict:
    topic = rng.choice(TOPICS)
    korean = rng.random() < 0.5
    quality = _pick(rng, QUALITIES)
    if quality == "good":
        output = topic.good_ko if korean else topic.good_en
    elif quality == "partly_wrong":
        output = topic.wrong_ko if korean else topic.wrong_en
    elif quality == "off_topic":
        other = rng.choice([t for t in TOPICS if t is not topic])
        output = other.good_ko if korean else other.good_en
    else:
        output = rng.choice(REFUSALS_KO if korean else REFUSALS_EN)
    metadata = {"domain": topic.domain, "language": "ko" if korean else "en"}
    if rng.random() < 0.85:
        contexts = list(topic.contexts)
        if rng.random() < 0.3:  # the retriever also returned something unrelated
            contexts[rng.randrange(3)] = rng.choice([t for t in TOPICS if t is not topic]).contexts[0]
        metadata["contexts"] = contexts
    if rng.random() < 0.4:
        low, high = FEEDBACK[quality]
        metadata["feedback_score"] = round(rng.uniform(low, high) * 2) / 2
    if day_index >= 2:
        metadata["app_version"] = "2026.04.3"
    consent_roll = rng.random()
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": timestamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "user_id": f"user-{rng.randrange(60):03d}",
        "session_id": f"session-{rng.randrange(400):04d}",
        "input": topic.question_ko if korean else topic.question_en,
        "output": output,
        "model": _pick(rng, MODELS),
        "latency_ms": rng.randrange(180, 4200),
        "token_count": rng.randrange(60, 900),
        "metadata": metadata,
        "user_consent": True if consent_roll < 0.8 else (False if consent_roll < 0.92 else None),
    }


def generate_sample_traces(seed: int = 20260418) -> list[dict]:
    rng = random.Random(seed)
    traces = []
    for day_index, day in enumerate(SAMPLE_DAYS):
        midnight = datetime.fromisoformat(day)
        for _ in range(TRACES_PER_DAY):
            offset = timedelta(seconds=rng.randrange(1, 86_400), microseconds=rng.randrange(1_000_000))
            traces.append(_trace(rng, midnight + offset, day_index))
        at_midnight = _trace(rng, midnight, day_index)
        at_midnight["user_consent"] = True
        traces.append(at_midnight)
        if day_index > 0:
            just_before = _trace(rng, midnight - timedelta(microseconds=1), day_index - 1)
            just_before["user_consent"] = True
            traces.append(just_before)

    second_day = datetime.fromisoformat(SAMPLE_DAYS[1])
    edge_rows = [_trace(rng, second_day + timedelta(hours=hour), 1) for hour in range(9, 16)]
    empty_output, null_output, long_input, no_metadata, no_id, array_metadata, no_timestamp = edge_rows
    empty_output["output"] = ""
    null_output["output"] = None
    long_input["input"] = (
        "아래 kubectl describe 출력과 이벤트 로그를 보고 파드가 Pending인 이유를 알려주세요.\n"
        + "\n".join(f"Warning  FailedScheduling  {i}s  default-scheduler  0/12 nodes are available: "
                    f"3 Insufficient nvidia.com/gpu, 9 node(s) had untolerated taint." for i in range(400))
    )
    no_metadata["metadata"] = None
    no_id["id"] = None
    array_metadata["metadata"] = ["legacy", "metadata", "array"]
    no_timestamp["timestamp"] = None
    for row in edge_rows:
        row["user_consent"] = True
    traces.extend(edge_rows)
    return sorted(traces, key=lambda row: row["timestamp"] or "")


def sample_traces_bytes(traces: list[dict]) -> bytes:
    """The gzipped JSON lines, byte for byte reproducible (no timestamp in the gzip header)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz:
        for row in traces:
            gz.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    return buffer.getvalue()


def main() -> None:
    SAMPLE_TRACES_PATH.write_bytes(sample_traces_bytes(generate_sample_traces()))
    print(f"wrote {SAMPLE_TRACES_PATH}")


if __name__ == "__main__":
    main()
