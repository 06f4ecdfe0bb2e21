#!/bin/bash
# Control-plane bench of two builds side by side (the issue 13 "no slower" comparison): alternates
# `run.mjs --scenarios SCENARIO --repeats 5` in checkout A and checkout B, ROUNDS times each, under
# each checkout's pinned Node.js (node_modules/.bin/node), so machine load falls on both alike.
# Both checkouts must be built (npm run build); copy a checkout aside first if you keep working in it.
# Usage: bash bench/control-plane/side-by-side.sh A_DIR B_DIR [OUT_DIR] [SCENARIO] [ROUNDS]
set -u
a=${1:?checkout A (e.g. a worktree of 84d65aa)}
b=${2:?checkout B}
out=${3:-$(mktemp -d /tmp/cp-side-by-side.XXXXXX)}
scenario=${4:-1000x2000}
rounds=${5:-3}
mkdir -p "$out"
for i in $(seq 1 "$rounds"); do
  for side in A B; do
    dir=$a
    [ "$side" = B ] && dir=$b
    echo "=== $side run $i $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log"
    (cd "$dir" && ./node_modules/.bin/node bench/control-plane/run.mjs --scenarios "$scenario" --repeats 5) \
      >"$out/$side-$i.txt" 2>&1
    echo "    rc=$? $(grep -E "^ +${scenario%x*} +${scenario#*x} " "$out/$side-$i.txt")" | tee -a "$out/log"
  done
done
echo "outputs in $out"
