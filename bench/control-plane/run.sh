#!/usr/bin/env bash
# Control-plane scale benchmark (see run.mjs): builds, then runs the given sizes.
# Usage: bash bench/control-plane/run.sh [services] [proxies...]   e.g.  bash bench/control-plane/run.sh 1000 100 1000 2000
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE=node_modules/.bin/node
npx tsc -p tsconfig.build.json
services=${1:-1000}; shift || true
for p in "${@:-100}"; do $NODE bench/control-plane/run.mjs "$services" "$p"; done
