"""The examples a snapshot can use: the window's labeled traces, filtered (null reward, empty
side, too long, in the evaluation set), grouped by prompt, and de-duplicated.

Rows of days before the window may come along as anchors: traces a previous snapshot published.
They take part in grouping and de-duplication only, so that an example which repeats one already
published from an older trace is left out (`duplicates_of_previous_snapshot`); they are never
exported themselves.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa

from trace_assets.exports.conversation import Conversation, conversation_of
from trace_assets.exports.length import estimated_tokens
from trace_assets.exports.near_duplicates import near_duplicate_groups, near_duplicates_of
from trace_assets.exports.prompt_key import key_hash, normalise
from trace_assets.exports.rules import ExportRules

# The labeled_traces columns an export reads (contexts are fetched later, for GRPO's rows only).
POOL_COLUMNS = [
    "trace_id", "timestamp", "model", "input", "output", "messages", "final_reward", "preference",
    "judge_model", "judge_prompt_version", "ragas_scorer_version",
]


@dataclass
class Example:
    trace_id: str
    day: date
    model: str | None
    reward: float
    conversation: Conversation
    prompt_key: str
    answer_key: str  # hash of the normalised answer (the text itself is in `conversation`)
    in_window: bool
    group_id: str = ""
    cluster: int = -1  # examples with one cluster are duplicates of each other


@dataclass
class ExamplePool:
    examples: list[Example]
    counts: Counter = field(default_factory=Counter)  # window rows at each filtering step
    notes: Counter = field(default_factory=Counter)  # e.g. messages that could not be used
    scorers: dict = field(default_factory=dict)  # scorer and prompt versions seen, with counts

    def published(self, previously_published: set[str]) -> tuple[list[Example], Counter]:
        """The window's examples left after de-duplication, for an export whose previous
        snapshot published `previously_published`: one per cluster, the highest reward (then
        the smallest trace id); none from a cluster holding an older trace already published."""
        by_cluster: dict[int, list[Example]] = {}
        for example in self.examples:
            by_cluster.setdefault(example.cluster, []).append(example)
        kept, removed = [], Counter()
        for members in by_cluster.values():
            window = [m for m in members if m.in_window]
            if not window:
                continue
            if any(not m.in_window and m.trace_id in previously_published for m in members):
                removed["duplicates_of_previous_snapshot"] += len(window)
                continue
            best = min(window, key=lambda m: (-m.reward, m.trace_id))
            kept.append(best)
            for member in window:
                if member is best:
                    continue
                exact = member.prompt_key == best.prompt_key and member.answer_key == best.answer_key
                removed["exact_duplicates" if exact else "near_duplicates"] += 1
        kept.sort(key=lambda m: (m.day, m.trace_id))
        return kept, removed


def build_pool(
    labeled: pa.Table | Iterable[pa.Table],
    window_days: set[date],
    rules: ExportRules,
    eval_prompts: list[str] | None = None,
) -> ExamplePool:
    """The pool of `labeled` (POOL_COLUMNS of labeled_traces, as one table or as tables read one
    after the other, e.g. a day at a time, so that only one is in memory beside the examples;
    rows of `window_days` are the window, others anchors), filtered, grouped and clustered under
    `rules`."""
    pool = ExamplePool(examples=[])
    candidates: list[Example] = []
    for table in [labeled] if isinstance(labeled, pa.Table) else labeled:
        for batch in table.select(POOL_COLUMNS).to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                example = _example(row, window_days, rules, pool)
                if example is not None:
                    candidates.append(example)
    if eval_prompts:
        references = [normalise(text) for text in eval_prompts]
        contaminated = near_duplicates_of(
            references, [e.prompt_key for e in candidates], rules.jaccard, rules.num_perm, rules.shingle_words
        )
        pool.counts["in_eval_set"] += sum(1 for e, bad in zip(candidates, contaminated) if bad and e.in_window)
        candidates = [e for e, bad in zip(candidates, contaminated) if not bad]
    _group_prompts(candidates, rules)
    _cluster_examples(candidates, rules)
    pool.examples = candidates
    pool.counts["candidates"] = sum(1 for e in candidates if e.in_window)
    return pool


def _example(row: dict, window_days: set[date], rules: ExportRules, pool: ExamplePool) -> Example | None:
    day = row["timestamp"].date()
    in_window = day in window_days
    counts = pool.counts if in_window else Counter()
    counts["read"] += 1
    if in_window:
        for scorer in ("judge_model", "judge_prompt_version", "ragas_scorer_version"):
            pool.scorers.setdefault(scorer, Counter())[str(row[scorer])] += 1
    if row["final_reward"] is None:
        counts["without_final_reward"] += 1
        return None
    conversation, note = conversation_of(row["input"], row["output"], row["messages"])
    if note and in_window:
        pool.notes["messages_not_usable"] += 1
    if not conversation.answer_text.strip() or not conversation.prompt_text.strip():
        counts["empty_prompt_or_answer"] += 1
        return None
    text = conversation.prompt_text + conversation.answer_text + "".join(m.get("content", "") for m in conversation.prompt if m["role"] == "system")
    if estimated_tokens(text) > rules.max_tokens:
        counts["over_max_tokens"] += 1
        return None
    return Example(
        trace_id=row["trace_id"],
        day=day,
        model=row["model"],
        reward=row["final_reward"],
        conversation=conversation,
        prompt_key=normalise(conversation.prompt_text),
        answer_key=key_hash(normalise(conversation.answer_text)),
        in_window=in_window,
    )


def _group_prompts(examples: list[Example], rules: ExportRules) -> None:
    """Equal prompt keys, and keys whose shingles are near-duplicates, form one prompt group; its
    id is the hash of its smallest key (stable while that key is in the window)."""
    keys = sorted({e.prompt_key for e in examples})
    roots = near_duplicate_groups(keys, rules.jaccard, rules.num_perm, rules.shingle_words)
    group_of_key = {key: key_hash(keys[root]) for key, root in zip(keys, roots)}  # roots are the smallest index
    for example in examples:
        example.group_id = group_of_key[example.prompt_key]


def _cluster_examples(examples: list[Example], rules: ExportRules) -> None:
    """Examples of one prompt group whose answers are equal or near-duplicates form one cluster."""
    answers: dict[tuple[str, str], int] = {}  # (group, answer hash) -> cluster
    firsts: list[Example] = []
    for example in examples:
        key = (example.group_id, example.answer_key)
        if key not in answers:
            answers[key] = len(firsts)
            firsts.append(example)
        example.cluster = answers[key]
    per_group = Counter(e.group_id for e in firsts)
    shared = [i for i, e in enumerate(firsts) if per_group[e.group_id] > 1]  # only these can be near-duplicates
    texts = [normalise(firsts[i].conversation.answer_text) for i in shared]
    group_numbers: dict[str, int] = {}
    buckets = [group_numbers.setdefault(firsts[i].group_id, len(group_numbers)) for i in shared]
    roots = near_duplicate_groups(texts, rules.jaccard, rules.num_perm, rules.shingle_words, buckets=buckets)
    merged = {shared[i]: shared[root] for i, root in enumerate(roots)}
    for example in examples:
        example.cluster = merged.get(example.cluster, example.cluster)
