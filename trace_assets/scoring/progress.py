"""Progress of a long scoring run, in the run log."""

import time


class ProgressLog:
    """Call with (done, total): logs `done/total` and the rate at most every `every_s` seconds,
    and once at the end."""

    def __init__(self, log, label: str, every_s: float = 10.0):
        self.log, self.label, self.every_s = log, label, every_s
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every_s:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        self.log.info(f"{self.label}: {done}/{total} scored ({rate:.1f}/s)")
