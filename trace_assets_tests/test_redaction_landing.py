"""Redaction at landing: PostgreSQL -> raw_traces -> iceberg_table, nothing personal written."""

import json

import pyarrow.parquet as pq

from trace_assets.governance.pii_detectors import REDACTION_VERSION
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.scoring.content_hash import content_hash
from trace_assets.tables.traces import TRACES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import materialization_metadata, materialize_days

PERSONAL = ["kim.minji@example.com", "010-2345-6789", "4111 1111 1111 1111", "900101-1234568", "10.20.30.40", "sk-lf-0a1b2c3d-4e5f"]


def _personal_trace(**fields):
    return trace(
        "2026-04-18 01:00:00",
        input="제 메일은 kim.minji@example.com 이고 전화는 010-2345-6789 입니다. 주문 1234567812345678 확인해 주세요",
        output="카드 4111 1111 1111 1111 결제가 확인되었습니다 (주문 1234567812345678)",
        metadata={
            "customer_rrn": "900101-1234568",
            "client_ip": "10.20.30.40",
            "order_id": 4111111111111111,
            "contexts": ["Langfuse key sk-lf-0a1b2c3d-4e5f was rotated", "Karpenter is a node autoscaler."],
        },
        **fields,
    )


def test_personal_data_never_reaches_the_lake_or_the_table(traces_table, source_for, local_resources, tmp_path):
    traces_table.insert([_personal_trace(), trace("2026-04-18 02:00:00")])
    resources = local_resources(source_for(traces_table))
    result = materialize_days(resources, "2026-04-18")

    lake_text = "".join(
        json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
        for path in (tmp_path / "lake" / "langfuse-traces").rglob("*.parquet")
    )
    table = IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg")).catalog().load_table(TRACES_TABLE)
    rows = table.scan().to_arrow()
    table_text = json.dumps(rows.to_pylist(), default=str, ensure_ascii=False)
    for value in PERSONAL:
        assert value not in lake_text and value not in table_text

    personal = next(row for row in rows.to_pylist() if "<EMAIL>" in (row["input"] or ""))
    assert personal["input"] == "제 메일은 <EMAIL> 이고 전화는 <PHONE> 입니다. 주문 1234567812345678 확인해 주세요"
    assert personal["output"] == "카드 <CARD> 결제가 확인되었습니다 (주문 1234567812345678)"
    assert personal["contexts"] == ["Langfuse key <SECRET> was rotated", "Karpenter is a node autoscaler."]
    metadata = json.loads(personal["metadata_json"])
    assert metadata["customer_rrn"] == "<KR_RRN>" and metadata["client_ip"] == "<IP>"
    assert metadata["order_id"] == 4111111111111111  # a JSON number, not text: kept
    assert set(rows.column("redaction").to_pylist()) == {REDACTION_VERSION}
    assert personal["id"] and personal["user_id"]  # ids are never touched

    landed = materialization_metadata(result, "raw_traces")
    assert landed["redaction"] == REDACTION_VERSION
    # Counts per type and day, never the values (the key is counted in the metadata and in the
    # contexts lifted out of it: two places).
    assert landed["redactions_by_day"] == {
        "2026-04-18": {"CARD": 1, "EMAIL": 1, "IP": 1, "KR_RRN": 1, "PHONE": 1, "SECRET": 2}
    }
    assert not any(value in json.dumps(landed, default=str, ensure_ascii=False) for value in PERSONAL)


def test_redaction_can_be_turned_off(traces_table, source_for, local_resources, tmp_path):
    traces_table.insert([_personal_trace()])
    materialize_days(local_resources(source_for(traces_table), redact_pii=False), "2026-04-18")
    rows = (
        IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg"))
        .catalog()
        .load_table(TRACES_TABLE)
        .scan()
        .to_arrow()
        .to_pylist()
    )
    assert "kim.minji@example.com" in rows[0]["input"] and rows[0]["redaction"] is None


def test_the_redaction_version_is_part_of_the_content_hash():
    unredacted = content_hash("q <EMAIL>", "a", ["c"])
    assert unredacted == content_hash("q <EMAIL>", "a", ["c"], None)
    assert content_hash("q <EMAIL>", "a", ["c"], "pii-1") != unredacted
    assert content_hash("q <EMAIL>", "a", ["c"], "pii-1") != content_hash("q <EMAIL>", "a", ["c"], "pii-2")


def test_the_settings_come_from_the_environment(tmp_path):
    import dagster as dg
    import pytest

    from trace_assets.environments import MissingSettingError, build_resources, redact_pii

    assert redact_pii({}) is True and redact_pii({"TRACE_REDACT_PII": "false"}) is False
    with pytest.raises(MissingSettingError, match="TRACE_REDACT_PII='maybe'"):
        redact_pii({"TRACE_REDACT_PII": "maybe"})
    lake = build_resources({"TRACE_LAKE_URI": str(tmp_path), "TRACE_ERASURE_SALT": "s3cr3t"})["trace_lake"]
    # The salt is an EnvVar: read at run time, never written into the definitions or the UI.
    assert isinstance(lake.erasure_salt, dg.EnvVar) and lake.erasure_salt.env_var_name == "TRACE_ERASURE_SALT"
    assert build_resources({"TRACE_LAKE_URI": str(tmp_path)})["trace_lake"].erasure_salt is None
