"""The day's picture: the final-reward histogram of each model, and final reward against human
feedback, as a PNG (matplotlib's Agg backend: no display needed)."""

import io
from collections.abc import Sequence

BINS = [i / 20 for i in range(21)]


def quality_picture(
    day: str, rewards_by_model: dict[str, Sequence[float]], reward_vs_human: tuple[Sequence[float], Sequence[float]]
) -> bytes:
    """PNG bytes: left, a step histogram of final_reward per model over [0, 1]; right, final_reward
    (y) against human feedback on [0, 1] (x), given as (rewards, human values) paired by position,
    or a note that the day has none."""
    # Imported here: matplotlib is ~25 MB that every step process would carry from the code
    # location's import (BENCHMARKS.md, memory per step); the Figure API needs no pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), dpi=80)
    FigureCanvasAgg(figure)
    histogram, scatter = figure.subplots(1, 2)
    for model, rewards in sorted(rewards_by_model.items()):
        if len(rewards):
            histogram.hist(rewards, bins=BINS, histtype="step", linewidth=1.5, label=f"{model} ({len(rewards)})")
    histogram.set(xlim=(0, 1), xlabel="final_reward", ylabel="traces", title=f"final_reward by model, {day}")
    if any(len(rewards) for rewards in rewards_by_model.values()):
        histogram.legend(fontsize=7, loc="upper left")
    else:
        histogram.text(0.5, 0.5, "no final rewards", ha="center", va="center", transform=histogram.transAxes)
    rewards, human = reward_vs_human
    if len(rewards):
        scatter.scatter(human, rewards, s=10, alpha=0.6)
        scatter.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
    else:
        scatter.text(0.5, 0.5, "no human feedback today", ha="center", va="center", transform=scatter.transAxes)
    scatter.set(
        xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="human feedback (scaled to 0-1)", ylabel="final_reward",
        title=f"final_reward vs people ({len(rewards)} traces)",
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
