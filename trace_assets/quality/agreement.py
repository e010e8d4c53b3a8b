"""Agreement after binarising both sides ("good" or not) at their cut points: raw agreement,
Cohen's kappa (agreement corrected for what chance alone gives at these base rates), and the
base rates side by side (raw agreement alone overstates: 90% of traces on one side make 82%
agreement by chance)."""

from dataclasses import dataclass

import numpy as np

from trace_assets.quality.figure import Figure


@dataclass(frozen=True)
class BinaryAgreement:
    n: int
    agreement: Figure
    kappa: Figure
    reward_good_share: Figure
    human_good_share: Figure


def binary_agreement(rewards, human, reward_good_at: float, human_good_at: float) -> BinaryAgreement:
    """Paired rewards and human values, each "good" at or above its cut point."""
    n = len(rewards)
    if n == 0:
        none = Figure.null("no trace has both a reward and human feedback")
        return BinaryAgreement(0, none, none, none, none)
    reward_good = np.asarray(rewards, float) >= reward_good_at
    human_good = np.asarray(human, float) >= human_good_at
    agree = int(np.count_nonzero(reward_good == human_good)) / n
    p_reward, p_human = int(np.count_nonzero(reward_good)) / n, int(np.count_nonzero(human_good)) / n
    by_chance = p_reward * p_human + (1 - p_reward) * (1 - p_human)
    if by_chance >= 1.0:
        kappa = Figure.null(
            "every trace is on the same side of both cut points: kappa is undefined (move the cut points "
            "TRACE_REWARD_GOOD_AT / TRACE_FEEDBACK_GOOD_AT)"
        )
    else:
        kappa = Figure((agree - by_chance) / (1 - by_chance))
    return BinaryAgreement(n, Figure(agree), kappa, Figure(p_reward), Figure(p_human))
