"""The judge fleet's concurrency pool: how many scoring steps may call the fleet at once, across
every run of the instance (a year-long backfill queues instead of flooding it)."""

JUDGE_POOL = "judge_fleet"
DEFAULT_JUDGE_POOL_LIMIT = 2


def instance_concurrency_config(judge_pool_limit: int = DEFAULT_JUDGE_POOL_LIMIT) -> dict:
    """The `concurrency` section of dagster.yaml that enforces the pool per step: the judge pool
    is the only pool, so its limit is the default one (`dagster instance concurrency set
    judge_fleet N` overrides it on a running instance)."""
    return {"concurrency": {"pools": {"granularity": "op", "default_limit": judge_pool_limit}}}
