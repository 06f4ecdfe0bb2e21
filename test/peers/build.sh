#!/usr/bin/env bash
# Builds the peer tools the hardening suites run against the proxy, from the Go module proxy at the versions pinned in
# test/peers/go/*/go.mod (+ go.sum), into ~/.cache/meshctl/peers-<hash of those files>/, once:
#   h2spec                 github.com/summerwind/h2spec v2.2.1 (HTTP/2 conformance)
#   grpc-interop-server    google.golang.org/grpc v1.84.0 interop/server
#   grpc-interop-client    google.golang.org/grpc v1.84.0 interop/client
#   k8s-yaml2json          sigs.k8s.io/yaml v1.6.0 (Kubernetes v1.34's YAML reader), the reference of YAML reading
# Cold on 2 shared cores: ~1 min for h2spec and k8s-yaml2json, ~3-4 min for the gRPC interop pair (module downloads
# included); warm: the .complete stamp is found and the script exits at once.
# Usage: test/peers/build.sh [--force]; prints the directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(cat "$here"/go/*/go.mod "$here"/go/*/go.sum "$here"/go/k8syaml/main.go | sha256sum | cut -c1-12)"
out="${MESHCTL_PEERS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/peers-$hash}"
if [ "${1:-}" != "--force" ] && [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || { [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go; }
[ -n "$go_bin" ] || { echo "error: Go is needed to build the peer tools (install Go >= 1.25)" >&2; exit 1; }
staging="$out.partial"
mkdir -p "$staging"
start=$SECONDS
# -mod=readonly: the checked-in go.mod/go.sum are the pins; nothing is resolved anew.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly" GOTOOLCHAIN=local
build() { # name module-dir package
  local t=$SECONDS
  printf '  %-20s ' "$1" >&2
  (cd "$here/go/$2" && nice -n 10 "$go_bin" build -trimpath -ldflags "-s -w" -o "$staging/$1" "$3")
  printf 'done in %ss\n' "$((SECONDS - t))" >&2
}
echo "building the peer tools into $out" >&2
build k8s-yaml2json k8syaml .
build h2spec h2spec github.com/summerwind/h2spec/cmd/h2spec
build grpc-interop-server grpc google.golang.org/grpc/interop/server
build grpc-interop-client grpc google.golang.org/grpc/interop/client
date -u +%FT%TZ > "$staging/.complete"
rm -rf "$out"
mv "$staging" "$out"
echo "built in $((SECONDS - start))s" >&2
echo "$out"
