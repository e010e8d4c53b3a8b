"""The one definition of each table the pipeline writes: traces, scores, the labeled dataset."""
