"""A Dagster logger for a terminal a person reads: one line per finished step (with its time),
the assets' own messages (scoring progress, warnings) under it, and nothing of Dagster's
DEBUG stream. Every event is still stored in the instance's event log, where `make ui` shows it."""

import logging
import sys
from typing import TextIO

import dagster as dg

META = "dagster_meta"  # where Dagster's log manager puts an event's metadata on a log record


class StepLines(logging.Handler):
    def __init__(self, stream: TextIO):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.check_steps: set[str] = set()  # steps whose line is their check's outcome

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, META, None) or {}
        event, step = meta.get("dagster_event"), meta.get("step_key") or ""
        line = None
        if event is None:
            message = meta.get("orig_message", record.getMessage())
            if record.levelno >= logging.INFO and step:  # what the asset itself logged
                line = f"      {message if message.startswith(f'{step}: ') else f'{step}: {message}'}"
        elif event.event_type_value == "STEP_SUCCESS" and step not in self.check_steps:
            line = f"  ok  {step} ({event.event_specific_data.duration_ms / 1000:.1f} s)"
        elif event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            line = f"  FAILED {step}: {error.message.strip() if error else 'see the run in the UI'}"
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            self.check_steps.add(step)
            outcome = "ok" if evaluation.passed else ("FAILED" if evaluation.severity.value == "ERROR" else "warn")
            line = f"  {outcome:<4}check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}"
        if line is not None:
            print(line, file=self.stream, flush=True)


@dg.logger(description="One line per finished step, the assets' own messages, no DEBUG stream.")
def step_lines_logger(init_context) -> logging.Logger:
    logger = logging.Logger("trace_assets.demo", level=logging.DEBUG)
    logger.addHandler(StepLines(sys.stdout))
    return logger
