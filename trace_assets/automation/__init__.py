"""How the graph runs without anyone pressing a button: the daily schedule, the late-data
sensor, and the judge fleet's concurrency pool."""
