"""What a materialization shows people: pictures and example tables for asset metadata (plain
functions over Arrow; no Dagster)."""
