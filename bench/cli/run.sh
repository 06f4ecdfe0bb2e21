#!/usr/bin/env bash
# CLI start-up benchmark: meshctl against bare Node.js and kubectl, measured in one hyperfine run.
# Usage: npm run bench:cli   (needs hyperfine: apt-get install hyperfine)
# Goal: `meshctl version --client` within 1.3x of `node -e 0`.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
NODE=node_modules/.bin/node
out=bench/cli/results; mkdir -p "$out"
# One warm-up run fills Node's compile cache, as on any machine after the first invocation.
$NODE bin/meshctl version --client >/dev/null
cmds=("$NODE -e 0" "$NODE bin/meshctl version --client" "$NODE bin/meshctl inject -f templates/demo/bookinfo.yaml")
command -v kubectl >/dev/null && cmds+=("kubectl version --client")
hyperfine -N --warmup 5 --runs "${RUNS:-40}" --export-json "$out/cli.json" "${cmds[@]}" >/dev/null 2>&1 </dev/null
$NODE -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
  const base = r[0].mean;
  console.log("command".padEnd(62) + "mean ms   user+sys ms   x node -e 0");
  for (const x of r) console.log(x.command.padEnd(62) + (x.mean * 1000).toFixed(1).padStart(7) + ((x.user + x.system) * 1000).toFixed(1).padStart(14) + (x.mean / base).toFixed(2).padStart(14));
' "$out/cli.json"
