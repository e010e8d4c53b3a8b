"""trace_assets: production LLM traces to reward-labeled training datasets, as Dagster assets."""
