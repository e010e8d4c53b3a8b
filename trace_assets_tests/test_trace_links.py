"""The best and worst examples link to a trace's page in Langfuse when its landing recorded one."""

import json

import pyarrow as pa

from trace_assets.langfuse.trace_rows import TRACE_URL_KEY
from trace_assets.reporting.examples import examples_markdown, trace_urls_in_metadata


def test_examples_link_to_the_urls_the_landing_recorded():
    traces = pa.table({
        "id": ["a", "b", "c"],
        "metadata_json": [
            json.dumps({TRACE_URL_KEY: "https://langfuse.example/project/p/traces/a"}),
            json.dumps({TRACE_URL_KEY: "javascript:alert(1)"}),
            None,
        ],
    })
    urls = trace_urls_in_metadata(traces, ["a", "b", "c"], TRACE_URL_KEY)
    assert urls == {"a": "https://langfuse.example/project/p/traces/a"}
    table = examples_markdown(
        [{"trace_id": "a", "model": "m", "input": "q", "output": "o", "final_reward": 0.9, "preference": "preferred"}], urls
    )
    assert "[a](https://langfuse.example/project/p/traces/a)" in table
