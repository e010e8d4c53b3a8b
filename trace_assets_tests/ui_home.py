"""Fills a DAGSTER_HOME for the UI test, as `make demo` would but smaller: run in a subprocess so
the environment it is given picks the resources (the embedded sample source, a local lake, the
offline scorer; or a judge endpoint that refuses every connection).

    python -m trace_assets_tests.ui_home label DAY [DAY...]   # ingest the days, label each
    python -m trace_assets_tests.ui_home judge DAY            # judge_scores alone, with its checks
"""

import sys
import warnings

import dagster as dg


def main(action: str, days: list[str]) -> int:
    warnings.filterwarnings("ignore")
    from trace_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        if action == "label":
            ingest = defs.resolve_job_def("ingest_traces").execute_in_process(
                instance=instance, raise_on_error=False,
                tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
            )
            runs = [ingest] + [
                defs.resolve_job_def("label_traces").execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
                for day in days
            ]
            return 0 if all(run.success for run in runs) else 1
        if action == "judge":
            run = defs.resolve_job_def("label_traces").execute_in_process(
                instance=instance, partition_key=days[0], raise_on_error=False, asset_selection=[dg.AssetKey("judge_scores")]
            )
            failed = [e.check_name for e in run.get_asset_check_evaluations() if not e.passed]
            print("failed checks:", ", ".join(failed))
            return 0 if failed else 1
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
