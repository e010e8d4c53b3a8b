"""The day's best and worst labeled traces, as a markdown table for asset metadata. A trace links
to where it can be read in full (e.g. its Langfuse page) when the caller knows that place."""

import json
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

SHOWN_CHARACTERS = 120
COLUMNS = ["trace_id", "model", "input", "output", "final_reward", "preference"]


def best_and_worst(dataset: pa.Table, count: int = 3) -> tuple[list[dict], list[dict]]:
    """The `count` traces with the highest and the lowest final_reward (traces without one are
    left out), best first and worst first; only those rows become Python objects."""
    rewarded = dataset.select(COLUMNS).filter(pc.is_valid(dataset.column("final_reward")))
    if rewarded.num_rows == 0:
        return [], []
    best = pc.select_k_unstable(rewarded, count, [("final_reward", "descending")])
    worst = pc.select_k_unstable(rewarded, count, [("final_reward", "ascending")])
    return rewarded.take(best).to_pylist(), rewarded.take(worst).to_pylist()


def examples_markdown(examples: list[dict], trace_urls: Mapping[str, str] | None = None) -> str:
    """A table of reward, band, model, question and answer (shortened); with `trace_urls` (trace
    id -> URL, e.g. the trace's page in Langfuse) each trace id links there."""
    if not examples:
        return "no trace of the day has a final_reward"
    lines = ["| final_reward | preference | model | trace | question | answer |", "|---:|---|---|---|---|---|"]
    for row in examples:
        trace_id = _cell(row["trace_id"], 40)
        url = (trace_urls or {}).get(row["trace_id"])
        trace = f"[{trace_id}]({url})" if url else trace_id
        lines.append(
            f"| {row['final_reward']:.3f} | {row['preference'] or ''} | {_cell(row['model'], 40)} | {trace} | "
            f"{_cell(row['input'], SHOWN_CHARACTERS)} | {_cell(row['output'], SHOWN_CHARACTERS)} |"
        )
    return "\n".join(lines)


def _cell(text: str | None, limit: int) -> str:
    """One line of at most `limit` characters, safe inside a markdown table cell."""
    flat = " ".join((text or "").split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|")


def trace_urls_in_metadata(traces: pa.Table, trace_ids: list[str], key: str) -> dict[str, str]:
    """{trace id: URL} for `trace_ids` whose landed metadata (`metadata_json`) holds a URL under
    `key` (the Langfuse sources record the trace's page there)."""
    if not trace_ids or "metadata_json" not in traces.column_names:
        return {}
    rows = traces.select(["id", "metadata_json"]).filter(pc.is_in(traces.column("id"), pa.array(trace_ids, pa.string())))
    urls = {}
    for row in rows.to_pylist():
        try:
            url = json.loads(row["metadata_json"] or "{}").get(key)
        except (ValueError, AttributeError):
            continue
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            urls[row["id"]] = url
    return urls
