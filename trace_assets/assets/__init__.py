"""The asset graph: raw_traces -> iceberg_table (-> scores -> labeled dataset)."""
