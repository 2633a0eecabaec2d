"""Generated protobuf bindings of Prometheus remote-write 1.0 and 2.0 (``*.proto`` here; run
``scripts/gen-protobuf.sh`` after editing them)."""
