"""Everything that runs: the HTTP API, ingestion, the scoring scheduler, storage, Prometheus."""
