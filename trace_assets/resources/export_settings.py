"""The training exports' settings (README.md, "Training exports"; environments.py reads the
TRACE_EXPORT_* variables). The window length is not here: it shapes the assets' dependency on
labeled_dataset, so it is fixed when the definitions load (TRACE_EXPORT_WINDOW_DAYS)."""

import json

import dagster as dg
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pydantic import Field, model_validator

from trace_assets.exports.conversation import conversation_of
from trace_assets.exports.rules import MISSING_DAY_POLICIES, ExportRules
from trace_assets.scoring.rewards import DISPREFERRED_AT_MOST, PREFERRED_AT_LEAST


class ExportSettings(dg.ConfigurableResource):
    missing_days: str = Field(
        default="skip",
        description="A window day without a labeled_dataset materialization: `skip` builds from the days present "
        "and names it in the manifest; `fail` stops the run (TRACE_EXPORT_MISSING_DAYS).",
    )
    eval_set: str | None = Field(
        default=None,
        description="A Parquet or JSONL file (local path or s3://) with a `prompt` column: examples whose prompt "
        "is a near-duplicate of one of them are left out of every export (TRACE_EXPORT_EVAL_SET).",
    )
    margin: float = Field(default=0.2, ge=0, le=1, description="A DPO pair's rewards differ by at least this (TRACE_EXPORT_MARGIN).")
    max_pairs_per_prompt: int = Field(default=3, ge=1, description="DPO pairs per prompt group at most (TRACE_EXPORT_MAX_PAIRS_PER_PROMPT).")
    preferred_at_least: float = Field(default=PREFERRED_AT_LEAST, ge=0, le=1, description="KTO label=True and the DPO chosen band.")
    dispreferred_at_most: float = Field(default=DISPREFERRED_AT_MOST, ge=0, le=1, description="KTO label=False.")
    jaccard: float = Field(default=0.8, gt=0, le=1, description="Near-duplicate prompts and examples at this Jaccard or more (TRACE_EXPORT_JACCARD).")
    shingle_words: int = Field(default=2, ge=1, description="Words per shingle.")
    num_perm: int = Field(default=128, ge=16, description="MinHash permutations.")
    test_fraction: float = Field(default=0.05, ge=0, le=1, description="Share of prompt groups in test (TRACE_EXPORT_TEST_FRACTION).")
    max_tokens: int = Field(default=8192, ge=1, description="Longer examples are left out, by a character estimate (TRACE_EXPORT_MAX_TOKENS).")

    @model_validator(mode="after")
    def _valid(self) -> "ExportSettings":
        self.rules(window_days=1)  # raises, naming what is wrong
        return self

    def rules(self, window_days: int) -> ExportRules:
        if self.missing_days not in MISSING_DAY_POLICIES:
            raise ValueError(f"missing_days={self.missing_days!r} is not one of {', '.join(MISSING_DAY_POLICIES)}")
        return ExportRules(
            window_days=window_days,
            missing_days=self.missing_days,
            preferred_at_least=self.preferred_at_least,
            dispreferred_at_most=self.dispreferred_at_most,
            margin=self.margin,
            max_pairs_per_prompt=self.max_pairs_per_prompt,
            jaccard=self.jaccard,
            num_perm=self.num_perm,
            shingle_words=self.shingle_words,
            test_fraction=self.test_fraction,
            max_tokens=self.max_tokens,
        )

    def eval_prompts(self, filesystem: pafs.FileSystem | None = None) -> list[str]:
        """The evaluation set's prompts as text (a conversational `prompt`, a list of messages,
        counts by its user turns). Raises ValueError naming the file when it cannot be used."""
        if not self.eval_set:
            return []
        path, fs = self.eval_set, filesystem
        if path.startswith("s3://"):
            path = path[len("s3://"):]
        elif fs is None or not isinstance(fs, pafs.LocalFileSystem):
            fs = pafs.LocalFileSystem()
        kind = "json" if path.endswith((".jsonl", ".json", ".jsonl.gz")) else "parquet"
        try:
            prompts = ds.dataset(path, format=kind, filesystem=fs).to_table(columns=["prompt"]).column("prompt")
        except (FileNotFoundError, OSError, pa.ArrowInvalid, KeyError) as problem:
            raise ValueError(
                f"TRACE_EXPORT_EVAL_SET={self.eval_set!r} cannot be read as {kind} with a `prompt` column ({problem}): "
                "give a Parquet or JSONL file with one prompt per row, or unset it"
            ) from None
        texts = []
        for value in prompts.to_pylist():
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                texts.append(conversation_of(None, "x", json.dumps([*value, {"role": "assistant", "content": "x"}]))[0].prompt_text)
        return texts
