"""Who answers for each asset, by group: shown as the asset's owners in the UI and searchable
there (`owner:`). A team name in Dagster's `team:` form; edit here when teams change."""

from collections.abc import Iterable

import dagster as dg

OWNERS_BY_GROUP = {
    "traces": ["team:data-platform"],  # landing, the lake and the Iceberg table
    "scoring": ["team:ml-evaluation"],  # the judge fleet and ragas
    "dataset": ["team:ml-evaluation"],
    "quality": ["team:ml-evaluation"],
    "exports": ["team:ml-training"],  # the training sets' consumers
}
DEFAULT_OWNERS = ["team:ml-platform"]


def with_owners(assets: Iterable) -> list:
    """The assets, each given its group's owners unless it names its own."""
    flat = [item for entry in assets for item in (entry if isinstance(entry, (list, tuple)) else [entry])]
    return list(dg.map_asset_specs(
        lambda spec: spec if spec.owners else spec.replace_attributes(owners=OWNERS_BY_GROUP.get(spec.group_name, DEFAULT_OWNERS)),
        flat,
    ))
