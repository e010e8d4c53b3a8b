"""Plain functions of the data path (no Dagster): cleaning, metadata promotion, lake writing."""
