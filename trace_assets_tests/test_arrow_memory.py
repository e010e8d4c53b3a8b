"""Arrow's allocator in our processes: one that returns freed memory, unless the user chose one."""

import os
import subprocess
import sys

from trace_assets.arrow_memory import RETURNING_BACKEND


def backend_after_import(**env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    code = "import trace_assets.definitions, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_package_makes_arrow_use_an_allocator_that_returns_memory():
    assert backend_after_import() == RETURNING_BACKEND


def test_a_pool_the_user_chose_is_kept():
    assert backend_after_import(ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"
    assert backend_after_import(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
