#!/usr/bin/env bash
# The hardening suites (h2spec and grpc-go interop through the proxy, the YAML reading table against Kubernetes'
# own reader) need Go tools built from the pinned modules (test/peers/build.sh: cold ~5 min, warm: exits at once).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed: the peer tools cannot be built (their suites fail under MESHCTL_TEST_REQUIRE_ALL=1)" >&2
  exit 1
fi
bash test/peers/build.sh
