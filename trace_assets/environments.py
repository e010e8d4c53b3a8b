"""Which resources the asset graph runs on, chosen once from the environment.

`TRACE_ASSETS_ENV=local` (the default) needs nothing: the bundled sample traces in an embedded
DuckDB database (or the configured source, `source_choice.py`), a lake folder (TRACE_LAKE_URI, by default
./data/lake) and, unless pyiceberg has a catalog configured, a SQLite Iceberg catalog inside it.
`TRACE_ASSETS_ENV=prod` runs on what it is given and on nothing else: a missing setting stops
the definitions from loading, naming every setting that is missing.
"""

import math
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
from pyiceberg.utils.config import Config

from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
from trace_assets.resources.export_settings import ExportSettings
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeResource
from trace_assets.resources.offline_scorer import OfflineJudge, OfflineRagas
from trace_assets.resources.packaged_embeddings import PACKAGED_MODEL
from trace_assets.resources.ragas_scorer import RagasResource
from trace_assets.resources.reward_quality_settings import RewardQualitySettings
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.source_choice import build_trace_source, chosen_source_name, langfuse_api, langfuse_api_configured

ENVIRONMENTS = ("local", "prod")
DEFAULT_LOCAL_LAKE = Path("data") / "lake"


class MissingSettingError(RuntimeError):
    pass


def environment_name(environ: Mapping[str, str]) -> str:
    name = environ.get("TRACE_ASSETS_ENV", "local").strip() or "local"
    if name not in ENVIRONMENTS:
        raise MissingSettingError(f"TRACE_ASSETS_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}")
    return name


def build_resources(environ: Mapping[str, str]) -> dict:
    environment = environment_name(environ)
    if environment == "prod":
        _require_prod_settings(environ)
    lake_uri = environ.get("TRACE_LAKE_URI") or str(DEFAULT_LOCAL_LAKE.resolve())
    lake = TraceLake(
        uri=lake_uri,
        s3_endpoint_url=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
        s3_region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        redact_pii=redact_pii(environ),
        # EnvVar: the salt is read at run time and never shown in the UI or logged. Without it,
        # erase_users refuses to run, and landing refuses once erasures exist.
        erasure_salt=dg.EnvVar("TRACE_ERASURE_SALT") if environ.get("TRACE_ERASURE_SALT") else None,
    )
    source = build_trace_source(environ)
    local_lake = urlparse(lake_uri).scheme in ("", "file")
    warehouse = IcebergWarehouse(
        local_fallback_dir=str(Path(urlparse(lake_uri).path or lake_uri) / "iceberg")
        if environment == "local" and local_lake
        else None
    )
    return {
        "judge": _judge(environ),
        "ragas": _ragas(environ),
        "trace_source": source,
        **({"langfuse_api": langfuse_api(environ)} if langfuse_api_configured(environ) else {}),
        "trace_lake": lake,
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "export_settings": export_settings(environ),
        "reward_quality_settings": reward_quality_settings(environ),
    }


def _judge(environ: Mapping[str, str]):
    # Only the local environment gets here without JUDGE_BASE_URL: prod requires it.
    if not environ.get("JUDGE_BASE_URL"):
        return OfflineJudge()
    settings = {"base_url": environ["JUDGE_BASE_URL"]}
    if environ.get("JUDGE_MODEL"):
        settings["model"] = environ["JUDGE_MODEL"]
    if environ.get("JUDGE_API_KEY"):
        settings["api_key"] = dg.EnvVar("JUDGE_API_KEY")
    return JudgeResource(**settings)


def _ragas(environ: Mapping[str, str]):
    """Ragas' LLM (default: the judge's) and embeddings (default: the packaged all-MiniLM-L6-v2,
    `local`: vLLM serves one runner per server, and a chat model's server does not answer
    /v1/embeddings, so the judge fleet cannot be the default embeddings endpoint)."""
    llm_url = environ.get("RAGAS_LLM_BASE_URL") or environ.get("JUDGE_BASE_URL")
    if not llm_url:
        return OfflineRagas()
    llm_model = environ.get("RAGAS_LLM_MODEL") or environ.get("JUDGE_MODEL") or "qwen3-judge"
    embeddings_url = environ.get("RAGAS_EMBEDDINGS_BASE_URL") or "local"
    default_embeddings_model = PACKAGED_MODEL if embeddings_url == "local" else llm_model
    settings = {
        "llm_base_url": llm_url,
        "llm_model": llm_model,
        "embeddings_base_url": embeddings_url,
        "embeddings_model": environ.get("RAGAS_EMBEDDINGS_MODEL") or default_embeddings_model,
        "processes": _positive_int(environ, "RAGAS_PROCESSES", 1),
    }
    if environ.get("JUDGE_API_KEY"):
        settings["llm_api_key"] = settings["embeddings_api_key"] = dg.EnvVar("JUDGE_API_KEY")
    return RagasResource(**settings)


def max_score_error_rate(environ: Mapping[str, str]) -> float:
    """Share of a day's traces that may fail scoring before the checks block the day
    (TRACE_MAX_SCORE_ERROR_RATE, default 0.05)."""
    value = environ.get("TRACE_MAX_SCORE_ERROR_RATE", "0.05")
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise MissingSettingError(f"TRACE_MAX_SCORE_ERROR_RATE={value!r} is not a share between 0 and 1")
    return rate


def redact_pii(environ: Mapping[str, str]) -> bool:
    """Whether landing redacts personal data (TRACE_REDACT_PII, default true)."""
    value = environ.get("TRACE_REDACT_PII", "true").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise MissingSettingError(f"TRACE_REDACT_PII={value!r} is not true or false")
    return value in ("true", "1", "yes")


def snapshot_retention_days(environ: Mapping[str, str]) -> int:
    """Days of Iceberg snapshots kept by the daily expiry (TRACE_SNAPSHOT_RETENTION_DAYS, default
    7): a trace whose consent was withdrawn is gone from every snapshot this long after its day
    was landed again."""
    return _positive_int(environ, "TRACE_SNAPSHOT_RETENTION_DAYS", 7)


def late_data_lookback_days(environ: Mapping[str, str]) -> int:
    """Days the late-data sensor watches (TRACE_LATE_DATA_LOOKBACK_DAYS, default 7)."""
    return _positive_int(environ, "TRACE_LATE_DATA_LOOKBACK_DAYS", 7)


def judge_pool_limit(environ: Mapping[str, str]) -> int:
    """Scoring steps that may call the judge fleet at once (TRACE_JUDGE_POOL_LIMIT, default 2)."""
    return _positive_int(environ, "TRACE_JUDGE_POOL_LIMIT", 2)


def reward_quality_settings(environ: Mapping[str, str]) -> RewardQualitySettings:
    """The reward-quality report's settings (README.md, "Reward quality"), every one optional."""
    low, high = _feedback_scale(environ)
    good_at = _number(environ, "TRACE_FEEDBACK_GOOD_AT", low + 0.75 * (high - low))
    if not low <= good_at <= high:
        raise MissingSettingError(f"TRACE_FEEDBACK_GOOD_AT={good_at:g} is outside TRACE_FEEDBACK_SCALE {low:g},{high:g}")
    key = environ.get("TRACE_FEEDBACK_KEY", "feedback_score").strip()
    if not key:
        raise MissingSettingError("TRACE_FEEDBACK_KEY is empty: name the metadata key of human feedback, e.g. feedback_score")
    names = [name.strip() for name in environ.get("TRACE_HUMAN_SCORE_NAMES", "").split(",") if name.strip()]
    return RewardQualitySettings(
        feedback_key=key,
        human_score_names=names,
        # People's annotation scores come from the Langfuse API whenever it is configured, whatever the trace source.
        human_scores=langfuse_api(environ) if langfuse_api_configured(environ) else None,
        feedback_low=low,
        feedback_high=high,
        feedback_good_at=good_at,
        reward_good_at=_share(environ, "TRACE_REWARD_GOOD_AT", 0.5),
        consistency_sample=_share(environ, "TRACE_CONSISTENCY_SAMPLE", 0.02),
        drift_window_days=_positive_int(environ, "TRACE_DRIFT_WINDOW_DAYS", 7),
        min_human_labelled=_positive_int(environ, "TRACE_QUALITY_MIN_HUMAN_LABELLED", 50),
        min_traces=_positive_int(environ, "TRACE_QUALITY_MIN_TRACES", 50),
        min_kappa=_number(environ, "TRACE_QUALITY_MIN_KAPPA", 0.4),
        min_spearman=_number(environ, "TRACE_QUALITY_MIN_SPEARMAN", 0.3),
        max_band_change_rate=_share(environ, "TRACE_QUALITY_MAX_BAND_CHANGE", 0.1),
        max_length_spearman=_share(environ, "TRACE_QUALITY_MAX_LENGTH_SPEARMAN", 0.3),
        max_psi=_number(environ, "TRACE_QUALITY_MAX_PSI", 0.2),
    )


def _feedback_scale(environ: Mapping[str, str]) -> tuple[float, float]:
    value = environ.get("TRACE_FEEDBACK_SCALE", "1,5")
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        low = high = 0.0
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise MissingSettingError(f"TRACE_FEEDBACK_SCALE={value!r} is not `worst,best` with worst < best, e.g. 1,5")
    return low, high


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, str(default))
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise MissingSettingError(f"{name}={value!r} is not a number")
    return number


def _share(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, str(default))
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise MissingSettingError(f"{name}={value!r} is not a share between 0 and 1 (e.g. 0.02 for 2%)")
    return number


def export_window_days(environ: Mapping[str, str]) -> int:
    """Days of labeled traces a training export's snapshot covers, ending on its partition's day
    (TRACE_EXPORT_WINDOW_DAYS, default 7)."""
    return _positive_int(environ, "TRACE_EXPORT_WINDOW_DAYS", 7)


# TRACE_EXPORT_* variable -> ExportSettings field, and how its value is read
_EXPORT_VARIABLES = {
    "TRACE_EXPORT_EVAL_SET": ("eval_set", str),
    "TRACE_EXPORT_MISSING_DAYS": ("missing_days", str),
    "TRACE_EXPORT_MARGIN": ("margin", float),
    "TRACE_EXPORT_MAX_PAIRS_PER_PROMPT": ("max_pairs_per_prompt", int),
    "TRACE_EXPORT_TEST_FRACTION": ("test_fraction", float),
    "TRACE_EXPORT_JACCARD": ("jaccard", float),
    "TRACE_EXPORT_MAX_TOKENS": ("max_tokens", int),
}


def export_settings(environ: Mapping[str, str]) -> ExportSettings:
    """The training exports' settings from TRACE_EXPORT_* variables, every one optional; a value
    that does not fit stops the definitions from loading, naming the variable."""
    settings = {}
    for name, (field, kind) in _EXPORT_VARIABLES.items():
        value = environ.get(name, "").strip()
        if not value:
            continue
        try:
            settings[field] = kind(value)
        except ValueError:
            raise MissingSettingError(f"{name}={value!r} is not a {kind.__name__}") from None
    try:
        return ExportSettings(**settings)
    except ValueError as problem:
        names = ", ".join(f"{n}={environ.get(n)!r}" for n, (f, _) in _EXPORT_VARIABLES.items() if f in settings)
        raise MissingSettingError(f"{names}: {problem}") from None


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise MissingSettingError(f"{name}={value!r} is not a positive whole number")
    return int(value)


def _require_prod_settings(environ: Mapping[str, str]) -> None:
    missing = []
    if not environ.get("JUDGE_BASE_URL"):
        missing.append("JUDGE_BASE_URL (the judge fleet's OpenAI-compatible URL, e.g. the KServe service)")
    if chosen_source_name(environ) == "sample":
        missing.append(
            "a trace source: LANGFUSE_HOST + LANGFUSE_PUBLIC_KEY + LANGFUSE_SECRET_KEY (the public API), "
            "LANGFUSE_EXPORT_URI (the blob export) or LANGFUSE_DATABASE_URL (a PostgreSQL table)"
        )
    if not environ.get("TRACE_LAKE_URI"):
        missing.append("TRACE_LAKE_URI (the lake, e.g. s3://training-data-lake)")
    if not Config().get_catalog_config("default"):
        missing.append(
            "PYICEBERG_CATALOG__DEFAULT__TYPE and its settings (glue or rest; or a `default` catalog in "
            ".pyiceberg.yaml)"
        )
    if missing:
        raise MissingSettingError(
            "TRACE_ASSETS_ENV=prod is missing: " + "; ".join(missing) + ". See .env.example and README.md."
        )
