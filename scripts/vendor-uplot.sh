#!/usr/bin/env bash
# Refresh the dashboard's vendored uPlot from npm at the version service/dashboard/package.json
# pins: the minified script, its stylesheet and its licence, into service/dashboard/vendor/uplot/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(python3 -c 'import json; print(json.load(open("service/dashboard/package.json"))["dependencies"]["uplot"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null && tar xzf uplot-*.tgz)
dest=service/dashboard/vendor/uplot
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
echo "uPlot $version -> $dest"
