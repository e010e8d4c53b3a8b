"""Prepares a DAGSTER_HOME for `make demo` and `make ui`: a dagster.yaml that enforces the judge
fleet's concurrency pool (TRACE_JUDGE_POOL_LIMIT). An existing dagster.yaml is left alone."""

import os
import sys
from pathlib import Path

import yaml

from trace_assets.automation.pools import instance_concurrency_config
from trace_assets.environments import judge_pool_limit


def prepare_dagster_home(home: Path, environ=os.environ) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(instance_concurrency_config(judge_pool_limit(environ))))
    return config


if __name__ == "__main__":
    print(prepare_dagster_home(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/dagster_home").resolve()))
