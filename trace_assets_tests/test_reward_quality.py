"""reward_quality end to end: PostgreSQL -> lake -> Iceberg -> a scripted loopback judge and ragas
-> labeled dataset -> training_data.reward_quality, with its warnings. The judge answers by what
the test wrote into each answer, so every expected figure is worked out by hand:

- `rating:F` is answered (F - 1) / 4: a judge that agrees with a human rating F on 1..5 exactly;
- `score:S` is answered S, whatever the feedback says (the "random" judge, with known ranks);
- `long` is answered by length, len(answer) / 1000;
- `fickle` is answered 1.0 the first time and 0.0 the second, `flaky` 1.0 then HTTP 500.

The scripted ragas gives every trace the same ragas_reward R = 0.5*2/3 + 0.3*0.6 + 0.2*1, so
final_reward = 0.6*R + 0.4*judge_score orders traces exactly as the judge does."""

import json
import math
import re
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import psycopg
import pyarrow as pa
import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.reward_quality import reward_quality
from trace_assets.quality.drift import PSI_FLOOR
from trace_assets.quality.quality_table import FIGURE_COLUMNS, REWARD_QUALITY_TABLE
from trace_assets.quality_checks import build_quality_checks
from trace_assets.resources.judge import JudgeResource
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets.resources.ragas_scorer import RagasResource
from trace_assets.resources.reward_quality_settings import RewardQualitySettings
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days
from trace_assets_tests.openai_server import chat_reply, error_reply
from trace_assets_tests.ragas_server import RagasScript

R = 0.5 * 2 / 3 + 0.3 * 0.6 + 0.2 * 1.0
GRAPH = [*INGEST, judge_scores, ragas_scores, labeled_dataset, reward_quality]
CONTEXTS = ["Karpenter is a node autoscaler."]


class ScriptedJudge:
    def __init__(self):
        self.seen = Counter()

    def __call__(self, path, body):
        answer = body["messages"][0]["content"].split("**답변**: ", 1)[1].split("\n", 1)[0]
        self.seen[answer] += 1
        if match := re.search(r"rating:([\d.]+)", answer):
            score = (float(match.group(1)) - 1) / 4
        elif match := re.search(r"score:([\d.]+)", answer):
            score = float(match.group(1))
        elif "long" in answer:
            score = len(answer) / 1000
        elif "flaky" in answer and self.seen[answer] > 1:
            return error_reply(500)
        elif "fickle" in answer or "flaky" in answer:
            score = 1.0 if self.seen[answer] == 1 else 0.0
        else:
            score = 0.5
        return chat_reply(json.dumps({"score": score, "reasoning": "scripted"}), 100, 10)


def labelled(day: str, hour: int, answer: str, feedback=None, model: str = "glm-5-32b", **fields) -> dict:
    metadata = {"contexts": CONTEXTS, **({"feedback_score": feedback} if feedback is not None else {})}
    return trace(f"{day} {hour // 60:02d}:{hour % 60:02d}:00", model=model, output=answer, metadata=metadata, **fields)


@pytest.fixture
def quality(traces_table, source_for, local_resources, openai_server):
    judge = ScriptedJudge()
    judge_server, ragas_server = openai_server(judge), openai_server(RagasScript())
    settings = {"reward_good_at": 0.6, "min_traces": 5}

    def build(source=None, **overrides):
        resources = local_resources(
            source or source_for(traces_table),
            judge=JudgeResource(base_url=judge_server.base_url, max_retries=0),
            ragas=RagasResource(llm_base_url=ragas_server.base_url, embeddings_base_url=ragas_server.base_url, max_retries=0),
        )
        resources["reward_quality_settings"] = RewardQualitySettings(**{**settings, **overrides})
        return resources

    def run(day: str, resources=None, **kwargs):
        resources = resources or build()
        result = materialize_days(resources, day, assets=[*GRAPH, *build_quality_checks()], **kwargs)
        return result, resources

    return traces_table, judge_server, run, build


def quality_rows(resources, day: str | None = None) -> list[dict]:
    rows = resources["iceberg"].catalog().load_table(REWARD_QUALITY_TABLE).scan().to_arrow().to_pylist()
    return [row for row in rows if day is None or str(row["date"]) == day]


def by_model(rows: list[dict]) -> dict:
    return {row["model"]: row for row in rows}


def checks(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def assert_no_nan_and_every_null_explained(rows: list[dict]) -> None:
    for row in rows:
        reasons = json.loads(row["null_reasons"])
        for column in FIGURE_COLUMNS:
            value = row[column]
            assert value is None or math.isfinite(value), (column, value)
            assert (value is None) == (column in reasons), (row["model"], column, value)


def test_a_judge_that_agrees_with_people_scores_one_and_its_warnings_pass(quality):
    table, _, run, _ = quality
    day = "2026-04-18"
    ratings = [1, 2, 4, 5] * 13  # 52 human-labelled traces; no 3, so "good" means the same on both sides
    rows = [labelled(day, i, f"answer {i} rating:{f}", feedback=f) for i, f in enumerate(ratings)]
    rows += [labelled(day, 100 + i, f"unrated {i} rating:3") for i in range(5)]  # no feedback: not paired
    rows += [labelled(day, 200, "private rating:5", feedback=5, consent=False)]
    table.insert(rows)

    result, resources = run(day)

    report = quality_rows(resources, day)
    assert [row["model"] for row in report] == ["glm-5-32b", None]
    everything = by_model(report)[None]
    assert (everything["traces"], everything["human_labelled"], everything["final_reward_human_n"]) == (57, 52, 52)
    for reward in ("final_reward", "judge_score"):
        assert everything[f"{reward}_human_spearman"] == pytest.approx(1.0)
        assert everything[f"{reward}_human_kendall"] == pytest.approx(1.0)
        assert everything[f"{reward}_human_spearman_low"] == pytest.approx(1.0)
        assert everything[f"{reward}_human_agreement"] == pytest.approx(1.0)
        assert everything[f"{reward}_human_kappa"] == pytest.approx(1.0)
        assert everything[f"{reward}_good_share"] == everything[f"{reward}_human_good_share"] == pytest.approx(0.5)
    reasons = json.loads(everything["null_reasons"])
    assert everything["ragas_reward_human_spearman"] is None
    assert reasons["ragas_reward_human_spearman"] == f"every ragas_reward is {R:g}: a correlation is undefined when one side never varies"
    assert reasons["judge_ragas_spearman"].startswith("every ragas_reward is")
    assert reasons["final_reward_psi"] == "no rewards in the trailing 7 days to compare with"
    assert_no_nan_and_every_null_explained(report)

    outcomes = checks(result)
    assert set(outcomes) == {"rewards_agree_with_people", "judge_is_self_consistent", "rewards_do_not_follow_length", "rewards_did_not_drift"}
    assert all(e.passed and e.severity == dg.AssetCheckSeverity.WARN for e in outcomes.values())
    agreement = outcomes["rewards_agree_with_people"].metadata
    assert (agreement["n"].value, agreement["kappa"].value, agreement["min_kappa"].value) == (52, pytest.approx(1.0), 0.4)
    assert outcomes["rewards_did_not_drift"].metadata["skipped"].value.startswith("no model has 5 rewarded traces")

    metadata = materialization_metadata(result, "reward_quality")
    assert metadata["final_reward_human_kappa"] == pytest.approx(1.0) and metadata["human_labelled"] == 52
    assert metadata["picture"].startswith("![final_reward by model, and against human feedback](data:image/png;base64,iVBOR")
    assert metadata["feedback_origins"]["traces_by_origin"] == {"metadata.feedback_score": 52}
    assert "final_reward_psi" not in metadata and metadata["null_reasons"]["final_reward_psi"]


def test_a_random_judge_is_caught_by_kappa_and_spearman(quality):
    table, _, run, _ = quality
    day = "2026-04-19"
    # Feedback 1..5 against judge scores ranked 2, 5, 3, 1, 4: sum of squared rank differences 20,
    # so rho = 1 - 6*20/120 = 0, and 5 concordant against 5 discordant pairs, so tau = 0 (ten
    # copies of the pattern keep both, ties and all).
    pattern = list(zip([1, 2, 3, 4, 5], [0.25, 1.0, 0.5, 0.0, 0.75]))
    table.insert([
        labelled(day, 10 * copy + i, f"answer {copy}-{i} score:{score}", feedback=f)
        for copy in range(10) for i, (f, score) in enumerate(pattern)
    ])

    result, resources = run(day)

    everything = by_model(quality_rows(resources, day))[None]
    assert everything["final_reward_human_n"] == 50
    assert everything["judge_score_human_spearman"] == pytest.approx(0.0, abs=1e-12)
    assert everything["judge_score_human_kendall"] == pytest.approx(0.0, abs=1e-12)
    assert everything["final_reward_human_spearman"] == pytest.approx(0.0, abs=1e-12)
    assert everything["final_reward_human_spearman_low"] < 0 < everything["final_reward_human_spearman_high"]
    # people good at 4 of 5: (0, 0, 0, 1, 1); judge_score good at 0.6: (0, 1, 0, 0, 1): 3 of 5
    # agree, chance 0.4*0.4 + 0.6*0.6 = 0.52, kappa = (0.6 - 0.52) / 0.48
    assert everything["judge_score_human_agreement"] == pytest.approx(0.6)
    assert everything["judge_score_human_kappa"] == pytest.approx(0.08 / 0.48)
    # final_reward = 0.6R + 0.4*score is good at 0.6 from score 0.43 up: (0, 1, 1, 0, 1): 2 of 5
    # agree, chance 0.6*0.4 + 0.4*0.6 = 0.48, kappa = (0.4 - 0.48) / 0.52
    assert everything["final_reward_human_agreement"] == pytest.approx(0.4)
    assert everything["final_reward_human_kappa"] == pytest.approx(-0.08 / 0.52)
    assert (everything["final_reward_good_share"], everything["final_reward_human_good_share"]) == (pytest.approx(0.6), pytest.approx(0.4))

    warning = checks(result)["rewards_agree_with_people"]
    assert warning.passed is False and warning.severity == dg.AssetCheckSeverity.WARN
    assert "kappa -0.154 < 0.4" in warning.description and "Spearman 0.000 < 0.3" in warning.description
    assert result.success, "a warning never fails the run"


def test_a_judge_that_rewards_length_is_caught_per_model(quality):
    table, _, run, _ = quality
    day = "2026-04-20"
    table.insert([labelled(day, i, "long " + "x" * (40 * i), model="qwen3-coder") for i in range(1, 9)])
    table.insert([labelled(day, 100 + i, f"answer {i} score:0.{i}", model="glm-5-32b") for i in range(1, 9)])

    result, resources = run(day)

    rows = by_model(quality_rows(resources, day))
    assert rows["qwen3-coder"]["judge_score_length_spearman"] == pytest.approx(1.0)
    assert rows["qwen3-coder"]["final_reward_length_tokens_spearman"] == pytest.approx(1.0)
    glm_reasons = json.loads(rows["glm-5-32b"]["null_reasons"])  # "answer 1 score:0.1" .. : every answer as long
    assert glm_reasons["judge_score_length_spearman"].startswith("every answer length is 18:")
    reasons = json.loads(rows["qwen3-coder"]["null_reasons"])
    assert reasons["final_reward_human_spearman"] == "no human feedback on the day's traces"
    assert reasons["ragas_reward_length_spearman"].startswith("every ragas_reward is")
    warning = checks(result)["rewards_do_not_follow_length"]
    assert warning.passed is False and "qwen3-coder: judge_score_length_tokens_spearman +1.000 (n=8)" in warning.description
    assert warning.metadata["threshold"].value == 0.3 and warning.metadata["n"].value >= 8
    assert checks(result)["rewards_agree_with_people"].metadata["skipped"].value.startswith("only 0 traces")
    assert_no_nan_and_every_null_explained(list(rows.values()))


def test_a_judge_that_answers_differently_the_second_time_and_one_that_fails(quality):
    table, judge_server, run, _ = quality
    day = "2026-04-21"
    table.insert([labelled(day, i, f"fickle {i}") for i in range(9)] + [labelled(day, 20 + i, f"flaky {i}") for i in range(3)])

    result, resources = run(day)

    assert result.success
    everything = by_model(quality_rows(resources, day))[None]
    # 12 traces: the sample's floor of 20 takes them all; 3 fail the second time
    assert (everything["consistency_sample"], everything["consistency_judged"], everything["consistency_errors"]) == (12, 9, 3)
    assert everything["consistency_mean_abs_diff"] == pytest.approx(1.0)
    assert everything["consistency_band_change_rate"] == pytest.approx(1.0)  # 0.6R + 0.4 = 0.83 preferred, then 0.43 neutral
    assert (everything["consistency_tokens_in"], everything["consistency_tokens_out"]) == (900, 90)
    assert len(judge_server.chat_requests()) == 24, "the day judged once, and its sample again"
    warning = checks(result)["judge_is_self_consistent"]
    assert warning.passed is False and warning.metadata["band_change_rate"].value == pytest.approx(1.0)
    assert warning.metadata["n"].value == 9 and warning.metadata["errors"].value == 3
    metadata = materialization_metadata(result, "reward_quality")
    assert (metadata["consistency_judge_calls"], metadata["consistency_errors"]) == (12, 3)
    assert "the same prompt" in metadata["consistency_meaning"]


def test_drift_over_several_days_and_the_trend_table(quality):
    table, _, run, build = quality
    resources = build()
    days = ["2026-04-10", "2026-04-11", "2026-04-12", "2026-04-13"]
    for day in days[:3]:
        table.insert([labelled(day, i, f"answer {day} {i} score:0.0") for i in range(6)])  # final_reward 0.6R
    table.insert([labelled(days[3], i, f"answer {days[3]} {i} score:1.0") for i in range(6)])  # 0.6R + 0.4

    results = [run(day, resources)[0] for day in days]
    rerun, _ = run(days[3], resources)

    trend = quality_rows(resources)
    assert Counter(str(row["date"]) for row in trend) == {day: 2 for day in days}, "a rerun replaces its day's rows"
    by_day = {str(row["date"]): row for row in trend if row["model"] is None}
    assert json.loads(by_day[days[0]]["null_reasons"])["final_reward_psi"] == "no rewards in the trailing 7 days to compare with"
    assert by_day[days[1]]["drift_baseline_traces"] == 6 and by_day[days[2]]["drift_baseline_traces"] == 12
    assert by_day[days[2]]["final_reward_psi"] == pytest.approx(0.0)
    assert by_day[days[3]]["drift_baseline_traces"] == 18
    # every reward moved from the bin of 0.6R (0.43) to the bin of 0.6R + 0.4 (0.83)
    assert by_day[days[3]]["final_reward_psi"] == pytest.approx(2 * (1 - PSI_FLOOR) * math.log(1 / PSI_FLOOR))
    assert by_day[days[3]]["final_reward_median_shift"] == pytest.approx(0.4)
    assert by_day[days[3]]["judge_score_median_shift"] == pytest.approx(1.0)
    for result in (results[3], rerun):
        warning = checks(result)["rewards_did_not_drift"]
        assert warning.passed is False and warning.metadata["figure"].value > 0.2 and warning.metadata["n"].value == 6
    assert checks(results[2])["rewards_did_not_drift"].passed
    assert_no_nan_and_every_null_explained(trend)


class ScoredPostgresSource(PostgresTraceSource):
    """The seed's table plus a `scores` table of human annotations, read the way a Langfuse source
    offers them: read_human_scores(start, end) -> (trace_id, name, value)."""

    def read_human_scores(self, start: datetime, end: datetime) -> pa.Table:
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute(
                "SELECT trace_id, name, value FROM scores WHERE created_at >= %s AND created_at < %s", (start, end)
            ).fetchall()
        return pa.table({"trace_id": [r[0] for r in rows], "name": [r[1] for r in rows], "value": [r[2] for r in rows]})


def test_human_scores_from_the_source_count_on_the_configured_scale_and_only_for_consented_traces(quality):
    table, _, run, build = quality
    day = "2026-04-22"
    rated = [labelled(day, i, f"answer {i} score:{i / 10}") for i in range(1, 6)]
    private = labelled(day, 50, "private score:0.9", consent=False)
    table.insert([*rated, private])
    with psycopg.connect(table.database_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE scores (trace_id TEXT, name TEXT, value DOUBLE PRECISION, created_at TIMESTAMPTZ)")
        at = datetime(2026, 4, 22, 12, tzinfo=timezone.utc)
        for i, row in enumerate(rated, start=1):
            connection.execute("INSERT INTO scores VALUES (%s, 'helpfulness', %s, %s)", (row["id"], 2.0 * i, at))
        connection.execute("INSERT INTO scores VALUES (%s, 'helpfulness', 11, %s)", (rated[0]["id"], at))  # off the scale
        connection.execute("INSERT INTO scores VALUES (%s, 'llm_reward', 0.1, %s)", (rated[1]["id"], at))  # not a human score
        connection.execute("INSERT INTO scores VALUES (%s, 'helpfulness', 10, %s)", (private["id"], at))

    source = ScoredPostgresSource(database_url=table.database_url, table=table.name)
    resources = build(source, feedback_low=0, feedback_high=10, feedback_good_at=7, human_score_names=["helpfulness"])
    result, _ = run(day, resources)

    everything = by_model(quality_rows(resources, day))[None]
    assert everything["human_labelled"] == 5 and everything["judge_score_human_spearman"] == pytest.approx(1.0)
    # people 0.2 .. 1.0 on 0..10 (good from 7: 8 and 10); judge 0.1 .. 0.5, good at 0.6: none
    assert everything["judge_score_human_good_share"] == pytest.approx(0.4) and everything["judge_score_good_share"] == 0.0
    origins = materialization_metadata(result, "reward_quality")["feedback_origins"]
    assert origins == {"traces_by_origin": {"score:helpfulness": 5}, "unusable": {"score:helpfulness: outside the scale 0..10": 1}}
