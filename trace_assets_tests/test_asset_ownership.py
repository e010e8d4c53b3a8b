"""Every asset in the code location says who owns it and what it is (the UI shows both)."""

import warnings


def test_every_asset_has_owners_and_a_description():
    warnings.filterwarnings("ignore")
    from trace_assets.definitions import defs
    from trace_assets.ownership import OWNERS_BY_GROUP

    specs = list(defs.resolve_all_asset_specs())
    assert {spec.key.to_user_string() for spec in specs} >= {"raw_traces", "iceberg_table", "judge_scores", "ragas_scores", "labeled_dataset"}
    for spec in specs:
        assert spec.owners, f"{spec.key.to_user_string()} has no owners"
        assert spec.description and len(spec.description.split()) >= 5, f"{spec.key.to_user_string()} has no description"
    owners = {spec.key.to_user_string(): spec.owners for spec in specs}
    assert owners["raw_traces"] == OWNERS_BY_GROUP["traces"] and owners["labeled_dataset"] == OWNERS_BY_GROUP["dataset"]
