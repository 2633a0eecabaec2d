"""Everything that runs: API, ingestion, scheduler, storage, Prometheus, CLI, dashboard."""
