#!/usr/bin/env bash
# Compatibility wrapper (older docs call it): builds, then runs run.mjs for S services and each proxy count.
# Usage: bash bench/control-plane/run.sh [services] [proxies...]   e.g.  bash bench/control-plane/run.sh 1000 100 1000 2000
# Prefer: npm run bench:control-plane [-- --scenarios 1000x100,1000x2000 --repeats 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
npx tsc -p tsconfig.build.json
services=${1:-1000}; shift || true
scenarios=""
for p in "${@:-100}"; do scenarios="${scenarios:+$scenarios,}${services}x${p}"; done
exec node_modules/.bin/node bench/control-plane/run.mjs --scenarios "$scenarios"
