"""Training exports as plain functions (no Dagster): prompt groups, de-duplication, the DPO, KTO
and GRPO builders, splits, decontamination, length limits, manifests, dataset cards and the
atomic snapshot write."""
