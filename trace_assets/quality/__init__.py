"""Can the rewards be trusted? Plain functions (no Dagster): agreement with human feedback, judge
self-consistency, length bias, drift, and the day's report rows and picture (README.md, "Reward
quality")."""
