#!/usr/bin/env bash
# Install the Debian packages the integration tests start (real Prometheus, Alertmanager,
# Chromium) when we can: as root with apt-get. Elsewhere, print what is missing; those tests
# then skip with the reason (and fail when CI=true).
set -euo pipefail
want=()
command -v prometheus >/dev/null 2>&1 || want+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || want+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
else
  echo "note: not root or no apt-get; missing: ${want[*]} (their tests will skip)" >&2
fi
