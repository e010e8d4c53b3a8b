"""The tables every stage shares, one module each: traces, scores, the labeled dataset. (The erasure
log and the reward-quality report, each written and read in one place, keep their schemas beside
that code: governance/erasure_log.py, quality/quality_table.py.)"""
