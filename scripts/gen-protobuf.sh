#!/usr/bin/env bash
# Regenerate the Python protobuf bindings of service/prompb/*.proto (remote-write 1.0 and 2.0).
# Uses protoc from grpcio-tools in a throwaway virtual environment; the generated modules are
# committed, so running the service or the tests never needs this.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet "grpcio-tools==1.85.1"
"$tools/bin/python" -m grpc_tools.protoc -Iservice/prompb --python_out=service/prompb \
    --pyi_out=service/prompb service/prompb/remote_write_v1.proto service/prompb/remote_write_v2.proto
echo "generated: $(ls service/prompb/*_pb2.py*)"
