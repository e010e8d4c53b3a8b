"""trace_assets: production LLM traces to reward-labeled training datasets, as Dagster assets."""

from trace_assets.arrow_memory import use_returning_allocator

use_returning_allocator()  # before anything here imports pyarrow
