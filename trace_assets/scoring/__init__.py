"""Plain functions of scoring (no Dagster): prompts, parsing, hashing, rewards."""
