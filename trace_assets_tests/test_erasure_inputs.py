"""Bad input to erasure and the denylist: clear errors that name the setting or value."""

import pyarrow as pa
import pytest

from trace_assets.erasure_job import erase_users_job
from trace_assets.governance.denylist import Denylist, SaltError, subject_hash
from trace_assets.governance.erasure_log import (
    ERASURES_ICEBERG_SCHEMA,
    ERASURES_TABLE,
    STARTED,
    USER,
    log_rows,
    read_denylist,
)
from trace_assets.governance.erasure_plan import ErasureTargets
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake


@pytest.fixture
def audit_table(tmp_path):
    catalog = IcebergWarehouse(local_fallback_dir=str(tmp_path)).catalog()
    catalog.create_namespace_if_not_exists("training_data")
    table = catalog.create_table(ERASURES_TABLE, schema=ERASURES_ICEBERG_SCHEMA)
    table.append(log_rows("run-1", [(USER, subject_hash("the-salt", "alice"))], "request", STARTED, "the-salt"))
    return table


def test_the_denylist_refuses_another_salt_or_none(audit_table):
    with pytest.raises(SaltError, match="TRACE_ERASURE_SALT is not the salt"):
        read_denylist(audit_table, "another-salt")
    with pytest.raises(SaltError, match="TRACE_ERASURE_SALT is not set"):
        read_denylist(audit_table, None)
    denylist = read_denylist(audit_table, "the-salt")
    batch = pa.table({"id": ["t1", "t2", "t3"], "user_id": ["alice", "bob", None]})
    kept, dropped = denylist.drop_denied(batch)
    assert dropped == 1 and kept.column("id").to_pylist() == ["t2", "t3"]


def test_an_empty_log_needs_no_salt():
    assert not read_denylist(None, None)
    batch = pa.table({"id": ["t1"], "user_id": ["alice"]})
    assert Denylist().drop_denied(batch) == (batch, 0)


def test_erasure_requests_must_name_someone():
    with pytest.raises(ValueError, match="names no one"):
        ErasureTargets.of([], [])
    with pytest.raises(ValueError, match="user_ids holds ''"):
        ErasureTargets.of([""])


def test_erase_users_without_a_salt_fails_naming_the_setting(tmp_path):
    result = erase_users_job.execute_in_process(
        run_config={"ops": {"erase_user_data": {"config": {"user_ids": ["alice"]}}}},
        resources={
            "trace_lake": TraceLake(uri=str(tmp_path / "lake")),
            "iceberg": IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg")),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert "TRACE_ERASURE_SALT is not set" in str(result.failure_data_for_node("erase_user_data").error.cause)


def test_an_unknown_reason_is_refused(tmp_path):
    result = erase_users_job.execute_in_process(
        run_config={"ops": {"erase_user_data": {"config": {"user_ids": ["alice"], "reason": "because"}}}},
        resources={
            "trace_lake": TraceLake(uri=str(tmp_path / "lake"), erasure_salt="s"),
            "iceberg": IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg")),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert "'because' is not one of request, consent_withdrawn" in str(result.failure_data_for_node("erase_user_data").error.cause)


def test_an_erasure_that_starts_while_a_day_lands_leaves_the_days_files(traces_table, source_for, tmp_path):
    from datetime import date

    from trace_assets.assets.raw_traces import land_day
    from trace_assets_tests.lake_files import landed_day
    from trace_assets_tests.langfuse_db import trace

    traces_table.insert([trace("2026-04-18 01:00:00", user_id="alice"), trace("2026-04-18 02:00:00", user_id="bob")])
    erased = Denylist(user_hashes={subject_hash("s", "alice")}, salt="s")
    answers = iter([Denylist(salt="s"), erased])  # empty when the landing starts, alice by its end
    landing = land_day(source_for(traces_table), TraceLake(uri=str(tmp_path / "lake")), date(2026, 4, 18), lambda: next(answers))
    assert landed_day(tmp_path / "lake", "2026-04-18").column("user_id").to_pylist() == ["bob"]
    assert landing.erased_not_landed == 1 and landing.files.rows == 1
