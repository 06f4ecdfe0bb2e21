#!/usr/bin/env bash
# Data-plane benchmark: the same load through a direct connection, nginx (1 worker), HAProxy (1 thread)
# and the meshctl proxy (1 process), then two hops with mTLS (meshctl sidecar -> sidecar) against
# nginx -> nginx over mutual TLS, and TLS termination at the edge (a meshctl gateway's listener against nginx as an
# ingress). Saturation with wrk; latency at a fixed 1000 rps with fortio.
# Usage: bash bench/proxy/run.sh        (DURATION=5s CONNECTIONS=32 RATE=1000 to change the load)
# The budgeted pairs (tracing 1%/100% vs off: issue 19; 10-rule policy vs mTLS: issue 15) are then run alternately
# ROUNDS=5 times and judged on the median ratio. Only some rows:
#   SCENARIOS="meshctl (1 process),tracing,mTLS,10-rule" bash bench/proxy/run.sh
# CPU_PROF=DIR writes a V8 CPU profile of each meshctl proxy into DIR (node --cpu-prof) when the run ends.
# Needs: nginx, haproxy, wrk, openssl (apt), go (to install fortio from the Go module proxy, once).
set -euo pipefail
cd "$(dirname "$0")/../.."
for bin in nginx haproxy wrk openssl; do
  command -v "$bin" >/dev/null || { echo "$bin is missing: apt-get install -y $bin" >&2; exit 1; }
done
FORTIO_VERSION=${FORTIO_VERSION:-v1.60.3}
export FORTIO="${FORTIO:-$HOME/.cache/meshctl/bin/fortio}"
if [ ! -x "$FORTIO" ]; then
  command -v go >/dev/null || { echo "fortio is missing and go is not installed to build it" >&2; exit 1; }
  echo "installing fortio $FORTIO_VERSION from the Go module proxy into $(dirname "$FORTIO")" >&2
  # Newer fortio releases need grol.io, which the module proxy here refuses; the sum database lacks
  # entries for some fortio.org modules of this release, so only those skip it.
  GONOSUMDB=fortio.org GOBIN="$(dirname "$FORTIO")" go install "fortio.org/fortio@$FORTIO_VERSION"
fi
# The proxy runs from the compiled CLI, as in the container image.
npm run build >/dev/null 2>&1 || test -f dist/cli.js || { echo "build failed: run npm run build" >&2; exit 1; }
exec node_modules/.bin/node bench/proxy/bench.ts "$@"
