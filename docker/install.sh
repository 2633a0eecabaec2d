#!/usr/bin/env bash
# Install anomalyd into the active Python environment the way `make` does: torch first, pinned,
# then the package with its extras and the same torch pin (so pip never swaps torch for another
# build). Both images run this script; tests/integration/test_install.py runs it in a clean venv.
#
#   docker/install.sh [SOURCE]          SOURCE: the project folder (default: this repository)
#   TORCH=torch==2.13.0 EXTRAS=chronos TORCH_INDEX=https://download.pytorch.org/whl/cpu docker/install.sh
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
torch=${TORCH:-torch==2.13.0}
extras=${EXTRAS:-chronos,parquet}
python=${PYTHON:-python3}
index=()
[ -n "${TORCH_INDEX:-}" ] && index=(--index-url "$TORCH_INDEX")
"$python" -m pip install -q "${index[@]}" "$torch"
# built from a copy of what the package is made of: a checkout's stale build/lib (setuptools
# reuses it) or virtual environment never reaches the image
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src"/pyproject.toml "$src"/README.md "$src"/detectors "$src"/metrics "$src"/service "$work"
# the torch pin again, so resolving the extras cannot replace the build installed above
if [ -n "$extras" ]; then target="$work[$extras]"; else target="$work"; fi
"$python" -m pip install -q "$target" "$torch"
"$python" -m pip check >/dev/null
echo "anomalyd installed: $("$python" -c 'import importlib.metadata as m; print(m.version("anomalyd"))')"
