"""What an export snapshot is built with: every threshold, in one value the manifest records."""

import math
from dataclasses import asdict, dataclass

from trace_assets.scoring.rewards import DISPREFERRED_AT_MOST, PREFERRED_AT_LEAST

MISSING_DAY_POLICIES = ("skip", "fail")


@dataclass(frozen=True)
class ExportRules:
    """The rules of one snapshot. Defaults are the issue's and the seed's numbers."""

    window_days: int = 7  # the snapshot of day D covers D-(window_days-1) .. D
    missing_days: str = "skip"  # a window day without labeled_dataset: "skip" it (named) or "fail"
    preferred_at_least: float = PREFERRED_AT_LEAST  # KTO label=True, DPO chosen band
    dispreferred_at_most: float = DISPREFERRED_AT_MOST  # KTO label=False
    margin: float = 0.2  # a DPO pair's rewards differ by at least this
    max_pairs_per_prompt: int = 3
    jaccard: float = 0.8  # near-duplicate prompts / examples at this Jaccard similarity or more
    num_perm: int = 128  # MinHash permutations
    shingle_words: int = 2  # words per shingle
    test_fraction: float = 0.05
    max_tokens: int = 8192  # longer examples are left out (character estimate, see length.py)
    split_seed: str = "trace-assets-v1"  # part of the prompt-group hash that assigns splits

    def __post_init__(self) -> None:
        problems = []
        if self.window_days < 1:
            problems.append(f"window_days={self.window_days!r} (give 1 or more days)")
        if self.missing_days not in MISSING_DAY_POLICIES:
            problems.append(f"missing_days={self.missing_days!r} (one of {', '.join(MISSING_DAY_POLICIES)})")
        for name in ("preferred_at_least", "dispreferred_at_most", "margin", "jaccard", "test_fraction"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
                problems.append(f"{name}={value!r} (a number in [0, 1])")
        if not problems and self.dispreferred_at_most >= self.preferred_at_least:
            problems.append(
                f"dispreferred_at_most={self.dispreferred_at_most!r} is not below preferred_at_least="
                f"{self.preferred_at_least!r} (the bands would overlap)"
            )
        if not problems and not 0.0 < self.jaccard:
            problems.append("jaccard=0 would put every prompt in one group (give e.g. 0.8)")
        for name, least in (("max_pairs_per_prompt", 1), ("num_perm", 16), ("shingle_words", 1), ("max_tokens", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                problems.append(f"{name}={value!r} (a whole number >= {least})")
        if problems:
            raise ValueError("Invalid export rules: " + "; ".join(problems))

    def as_manifest(self) -> dict:
        return asdict(self)
