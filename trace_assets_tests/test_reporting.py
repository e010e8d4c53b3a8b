"""The pictures and example tables labeled_dataset shows in its metadata (trace_assets/reporting)."""

import base64
import io

import pyarrow as pa

from trace_assets.reporting.examples import best_and_worst, examples_markdown
from trace_assets.reporting.reward_picture import markdown_image, reward_picture_png, rewards_by_model

DATASET = pa.table({
    "trace_id": ["t1", "t2", "t3", "t4", "t5"],
    "model": ["Qwen/Qwen3-4B", "Qwen/Qwen3-4B", "glm-5-32b", None, "glm-5-32b"],
    "input": ["How do I scale | nodes?", "q2", "q3", "q4", "q5 " * 100],
    "output": ["Use Karpenter.", "a2", "a3", "a4", "a5"],
    "final_reward": [0.91, None, 0.12, 0.5, 0.85],
    "preference": ["preferred", None, "dispreferred", "neutral", "preferred"],
})


def test_rewards_by_model_counts_each_model_and_its_bands():
    assert rewards_by_model(DATASET) == [
        {"model": "(none)", "traces": 1, "rewarded": 1, "mean_reward": 0.5, "preferred": 0, "dispreferred": 0},
        {"model": "Qwen/Qwen3-4B", "traces": 2, "rewarded": 1, "mean_reward": 0.91, "preferred": 1, "dispreferred": 0},
        {"model": "glm-5-32b", "traces": 2, "rewarded": 2, "mean_reward": 0.485, "preferred": 1, "dispreferred": 1},
    ]


def test_the_picture_is_a_png_the_ui_can_show_inline():
    from matplotlib.image import imread

    png = reward_picture_png(DATASET, "2026-04-18")
    height, width, _ = imread(io.BytesIO(png)).shape
    assert (width, height) == (900, 510)  # 9 x (4.2 + 0.3 per model: 3) inches at 100 dpi
    markdown = markdown_image(png, "rewards")
    assert markdown.startswith("![rewards](data:image/png;base64,")
    assert base64.b64decode(markdown[len("![rewards](data:image/png;base64,"):-1]) == png


def test_an_empty_day_still_draws():
    assert reward_picture_png(DATASET.slice(0, 0), "2026-04-18").startswith(b"\x89PNG")


def test_best_and_worst_examples_and_their_links():
    best, worst = best_and_worst(DATASET, count=2)
    assert [row["trace_id"] for row in best] == ["t1", "t5"] and [row["trace_id"] for row in worst] == ["t3", "t4"]
    plain = examples_markdown(best)
    assert "| 0.910 | preferred | Qwen/Qwen3-4B | t1 | How do I scale \\| nodes? | Use Karpenter. |" in plain
    assert "…" in plain and "](" not in plain  # long text shortened; no link without a URL
    linked = examples_markdown(best, {"t1": "https://langfuse.example/project/p/traces/t1"})
    assert "[t1](https://langfuse.example/project/p/traces/t1)" in linked and "| t5 |" in linked
    assert examples_markdown([]) == "no trace of the day has a final_reward"
