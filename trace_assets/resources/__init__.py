"""Dagster resources: the seams between the asset graph and the outside world."""
