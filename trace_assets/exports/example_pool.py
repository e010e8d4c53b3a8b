"""The examples a snapshot can use: the window's labeled traces, filtered (null reward, empty
side, too long, in the evaluation set), grouped by prompt, and de-duplicated.

Rows of days before the window may come along as anchors: traces a previous snapshot published.
They take part in grouping and de-duplication only, so that an example which repeats one already
published from an older trace is left out (`duplicates_of_previous_snapshot`); they are never
exported themselves.

The pool is read once, a batch at a time. An example keeps what the decisions need (trace id,
day, model, reward, prompt number, answer hash, message keys: a few hundred bytes); its
conversation goes to a TextSpool on local disk and is read back when a file's rows are built
(`Example.conversation`), so a week of traces is not held in memory as text.
"""

import hashlib
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from trace_assets.exports.conversation import Conversation, conversation_of
from trace_assets.exports.formats import message_key_bits
from trace_assets.exports.length import estimated_tokens
from trace_assets.exports.near_duplicates import near_duplicate_groups, near_duplicates_of
from trace_assets.exports.prompt_key import key_hash, normalise
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.text_spool import TextSpool

# The labeled_traces columns an export reads (contexts are fetched later, for GRPO's rows only).
POOL_COLUMNS = [
    "trace_id", "timestamp", "model", "input", "output", "messages", "final_reward", "preference",
    "judge_model", "judge_prompt_version", "ragas_scorer_version",
]
EMPTY_ANSWER = key_hash("")
ROWS_AT_A_TIME = 10_000
MESSAGE_KEY_BITS = 3  # message_key_bits uses the low 3 bits: the prompt's, then the answer's above them


@dataclass(slots=True)
class Example:
    trace_id: str
    day: date
    model: str | None
    reward: float
    prompt_number: int  # equal numbers, equal normalised prompts
    answer_key: str  # hash of the normalised answer
    in_window: bool
    spool: TextSpool  # where the conversation is
    record: int  # its record in the spool
    message_bits: int  # optional message keys present: the prompt's (low bits), the answer's
    group_id: str = ""
    cluster: int = -1  # examples with one cluster are duplicates of each other

    @property
    def conversation(self) -> Conversation:
        prompt, answer, tools, from_messages = self.spool.read(self.record)
        return Conversation(prompt=prompt, answer=answer, tools=tools, from_messages=from_messages)

    @property
    def prompt_key(self) -> str:
        return normalise(self.conversation.prompt_text)

    @property
    def prompt_message_bits(self) -> int:
        return self.message_bits & ((1 << MESSAGE_KEY_BITS) - 1)

    @property
    def answer_message_bits(self) -> int:
        return self.message_bits >> MESSAGE_KEY_BITS


@dataclass
class ExamplePool:
    examples: list[Example]
    spool: TextSpool
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
                exact = member.prompt_number == best.prompt_number and member.answer_key == best.answer_key
                removed["exact_duplicates" if exact else "near_duplicates"] += 1
        kept.sort(key=lambda m: (m.day, m.trace_id))
        return kept, removed

    def close(self) -> None:
        """Delete the spooled conversations (the examples can no longer give theirs)."""
        self.spool.close()


def build_pool(
    labeled: pa.Table | pa.RecordBatch | Iterable[pa.Table | pa.RecordBatch],
    window_days: set[date],
    rules: ExportRules,
    eval_prompts: list[str] | None = None,
    spool_dir: str | None = None,
) -> ExamplePool:
    """The pool of `labeled` (POOL_COLUMNS of labeled_traces, as one table or as tables or
    batches read one after the other, so that only one is in memory beside the examples; rows
    of `window_days` are the window, others anchors), filtered, grouped and clustered under
    `rules`. The conversations are spooled under `spool_dir` (default: the temporary folder);
    close the pool when done."""
    pool = ExamplePool(examples=[], spool=TextSpool(spool_dir))
    reading = _Reading(window_days, rules, pool)
    for part in [labeled] if isinstance(labeled, (pa.Table, pa.RecordBatch)) else labeled:
        part = part.select(POOL_COLUMNS)
        # rows become Python values 10,000 at a time (a reader's batch can be a whole day)
        for start in range(0, part.num_rows, ROWS_AT_A_TIME):
            for row in part.slice(start, ROWS_AT_A_TIME).to_pylist():
                example = reading.example(row)
                if example is not None:
                    pool.examples.append(example)
    keys = reading.prompt_keys
    del reading
    candidates = pool.examples
    if eval_prompts:
        references = [normalise(text) for text in eval_prompts]
        contaminated = near_duplicates_of(references, keys, rules.jaccard, rules.num_perm, rules.shingle_words)
        pool.counts["in_eval_set"] += sum(1 for e in candidates if contaminated[e.prompt_number] and e.in_window)
        candidates = [e for e in candidates if not contaminated[e.prompt_number]]
    _group_prompts(candidates, keys, rules)
    del keys
    _cluster_examples(candidates, rules)
    pool.examples = candidates
    pool.counts["candidates"] = sum(1 for e in candidates if e.in_window)
    return pool


class _Reading:
    """The first pass: a labeled row to an Example (or a count of why not), its conversation
    spooled, its normalised prompt numbered."""

    def __init__(self, window_days: set[date], rules: ExportRules, pool: ExamplePool):
        self.window_days, self.rules, self.pool = window_days, rules, pool
        self.prompt_keys = PromptKeys(pool.spool)
        self.days: dict[date, date] = {}  # one date object a day, not one a row

    def example(self, row: dict) -> Example | None:
        pool, rules = self.pool, self.rules
        day = row["timestamp"].date()
        day = self.days.setdefault(day, day)
        in_window = day in self.window_days
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
        prompt_number = self.prompt_keys.number(normalise(conversation.prompt_text))
        record = pool.spool.append([conversation.prompt, conversation.answer, conversation.tools, conversation.from_messages])
        return Example(
            trace_id=row["trace_id"],
            day=day,
            model=sys.intern(row["model"]) if row["model"] is not None else None,
            reward=row["final_reward"],
            prompt_number=prompt_number,
            answer_key=key_hash(normalise(conversation.answer_text)),
            in_window=in_window,
            spool=pool.spool,
            record=record,
            message_bits=message_key_bits(conversation.prompt) | message_key_bits([conversation.answer]) << MESSAGE_KEY_BITS,
        )


class PromptKeys(Sequence):
    """The window's distinct normalised prompts, numbered as first seen. Each is kept in the
    spool; memory holds a digest to find its number and its first PREFIX_BYTES bytes to sort by
    (a week's prompts as Python strings, ~600 bytes each, were a large part of the pool)."""

    PREFIX_BYTES = 32

    def __init__(self, spool: TextSpool):
        self._spool = spool
        self._numbers: dict[bytes, int] = {}
        self._records = array("q")
        self._prefixes: list[bytes] = []

    def number(self, key: str) -> int:
        """The number of normalised prompt `key` (a new one when first seen)."""
        encoded = key.encode("utf-8")
        digest = hashlib.blake2b(encoded, digest_size=16).digest()
        number = self._numbers.get(digest)
        if number is None:
            number = self._numbers[digest] = len(self._records)
            self._records.append(self._spool.append(key))
            self._prefixes.append(encoded[: self.PREFIX_BYTES])
        return number

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        return self._spool.read(self._records[item])

    def in_order(self, numbers: Iterable[int]) -> list[int]:
        """`numbers` sorted by their keys (as `sorted` orders strings: UTF-8 bytes sort in code
        point order): by prefix, then keys sharing a prefix by their whole text."""
        numbers = np.fromiter(numbers, np.int64)
        prefixes = np.array([self._prefixes[n] for n in numbers], dtype=f"S{self.PREFIX_BYTES}")
        order = np.argsort(prefixes, kind="stable")
        numbers, prefixes = numbers[order].tolist(), prefixes[order]
        starts = np.flatnonzero(np.r_[True, prefixes[1:] != prefixes[:-1]])
        ends = np.r_[starts[1:], len(numbers)]
        for first, last in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist()):
            numbers[first:last] = sorted(numbers[first:last], key=self.__getitem__)
        return numbers


def _group_prompts(examples: list[Example], keys: PromptKeys, rules: ExportRules) -> None:
    """Equal prompt keys, and keys whose shingles are near-duplicates, form one prompt group; its
    id is the hash of its smallest key (stable while that key is in the window)."""
    numbers = keys.in_order({e.prompt_number for e in examples})
    texts = _Lazy(lambda i: keys[numbers[i]], len(numbers))
    roots = near_duplicate_groups(texts, rules.jaccard, rules.num_perm, rules.shingle_words)
    group_ids: dict[int, str] = {}  # root -> id
    for n, root in zip(numbers, roots):  # roots are the smallest index
        if root not in group_ids:
            group_ids[root] = key_hash(keys[numbers[root]])
    group_of_number = {n: group_ids[root] for n, root in zip(numbers, roots)}
    for example in examples:
        example.group_id = group_of_number[example.prompt_number]


class _Lazy(Sequence):
    """A sequence of `length` texts, each made by `text_of(index)` when asked for."""

    def __init__(self, text_of, length: int):
        self.text_of, self.length = text_of, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self.text_of(i) for i in range(*item.indices(self.length))]
        return self.text_of(item)


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
    del answers
    per_group = Counter(e.group_id for e in firsts)
    shared = [i for i, e in enumerate(firsts) if per_group[e.group_id] > 1]  # only these can be near-duplicates
    texts = _Lazy(lambda i: normalise(firsts[shared[i]].conversation.answer_text), len(shared))
    group_numbers: dict[str, int] = {}
    buckets = [group_numbers.setdefault(firsts[i].group_id, len(group_numbers)) for i in shared]
    roots = near_duplicate_groups(texts, rules.jaccard, rules.num_perm, rules.shingle_words, buckets=buckets)
    merged = {shared[i]: shared[root] for i, root in enumerate(roots)}
    for example in examples:
        example.cluster = merged.get(example.cluster, example.cluster)
