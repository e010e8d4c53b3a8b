"""A figure of the reward-quality report: a finite number, or null with the reason. Never NaN."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float | None
    reason: str | None = None

    @staticmethod
    def of(value: float, reason_if_not_finite: str) -> "Figure":
        """`value` when it is a finite number, else null with `reason_if_not_finite`."""
        if value is None or not math.isfinite(value):
            return Figure(None, reason_if_not_finite)
        return Figure(float(value))

    @staticmethod
    def null(reason: str) -> "Figure":
        return Figure(None, reason)

