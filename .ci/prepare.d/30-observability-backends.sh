#!/usr/bin/env bash
# The observability suites (test/observability/) start a real Prometheus and a real Jaeger v2, built from the pinned
# Go modules when the cache does not have them (measured on the shared 2-core machine under load 16-28: Prometheus
# 397 s, Jaeger 2672 s; then cached in ~/.cache/meshctl/observability-*/; a warm run checks the stamp and exits at once).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed: Prometheus and Jaeger cannot be built (the observability suites will fail under MESHCTL_TEST_REQUIRE_ALL=1)" >&2
  exit 1
fi
bash test/observability/build.sh
