"""The day's rewards as one picture: the final_reward histogram with the seed's preference bands,
and a per-model table (traces, with a reward, mean, preferred, dispreferred)."""

import base64
import io

import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.scoring.rewards import DISPREFERRED_AT_MOST, PREFERRED_AT_LEAST

BINS = 20


def rewards_by_model(dataset: pa.Table) -> list[dict]:
    """Per model (sorted by name, a null model as "(none)"): traces, rewarded, mean_reward,
    preferred, dispreferred."""
    table = pa.table({
        "model": pc.fill_null(dataset.column("model"), "(none)"),
        "final_reward": dataset.column("final_reward"),
        "preferred": pc.equal(dataset.column("preference"), "preferred"),
        "dispreferred": pc.equal(dataset.column("preference"), "dispreferred"),
    })
    grouped = table.group_by("model").aggregate([
        ([], "count_all"), ("final_reward", "count"), ("final_reward", "mean"),
        ("preferred", "sum"), ("dispreferred", "sum"),
    ])
    rows = [
        {"model": row["model"], "traces": row["count_all"], "rewarded": row["final_reward_count"],
         "mean_reward": row["final_reward_mean"], "preferred": row["preferred_sum"] or 0,
         "dispreferred": row["dispreferred_sum"] or 0}
        for row in grouped.to_pylist()
    ]
    return sorted(rows, key=lambda row: row["model"])


def reward_picture_png(dataset: pa.Table, title: str) -> bytes:
    """A PNG of the histogram and the per-model table, drawn without a display (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # a numpy array: matplotlib makes an array of every element of a list (~170 MB at 1M rewards)
    rewards = dataset.column("final_reward").drop_null().to_numpy()
    models = rewards_by_model(dataset)
    figure = Figure(figsize=(9, 4.2 + 0.3 * len(models)), dpi=100)
    FigureCanvasAgg(figure)
    histogram_axes, table_axes = figure.subplots(2, 1, gridspec_kw={"height_ratios": [3, 0.6 + 0.35 * len(models)]})
    histogram_axes.hist(rewards, bins=BINS, range=(0, 1), color="#4C72B0", edgecolor="white")
    histogram_axes.axvspan(0, DISPREFERRED_AT_MOST, color="#DD8452", alpha=0.12, label=f"dispreferred (<= {DISPREFERRED_AT_MOST})")
    histogram_axes.axvspan(PREFERRED_AT_LEAST, 1, color="#55A868", alpha=0.12, label=f"preferred (>= {PREFERRED_AT_LEAST})")
    histogram_axes.set(xlim=(0, 1), xlabel="final_reward", ylabel="traces",
                       title=f"{title}: {len(rewards):,} of {dataset.num_rows:,} traces with a reward")
    histogram_axes.legend(loc="upper left", fontsize=8)
    histogram_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    table_axes.axis("off")
    if models:
        cells = [[m["model"], f"{m['traces']:,}", f"{m['rewarded']:,}",
                  "-" if m["mean_reward"] is None else f"{m['mean_reward']:.3f}", f"{m['preferred']:,}", f"{m['dispreferred']:,}"]
                 for m in models]
        table = table_axes.table(cellText=cells, colLabels=["model", "traces", "with a reward", "mean reward", "preferred", "dispreferred"],
                                 loc="center", cellLoc="right", colLoc="right")
        table.auto_set_font_size(False)
        table.set_fontsize(9)
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return png.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown the Dagster UI renders as the image itself (a data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
