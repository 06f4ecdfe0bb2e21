#!/usr/bin/env bash
# Builds the observability tests' backends (Prometheus, Jaeger v2) from the pinned Go modules into
# ~/.cache/meshctl/observability-<versions>/, once. A complete directory (with its .complete stamp) is reused.
# Usage: test/observability/build.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

out="${MESHCTL_OBSERVABILITY_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/observability-prometheus-$PROMETHEUS_MODULE_VERSION-jaeger-$JAEGER_MODULE_VERSION}"
if [ "${1:-}" != "--force" ] && [ -f "$out/.complete" ]; then
  echo "observability backends already built in $out"
  exit 0
fi
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || { [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go; }
[ -n "$go_bin" ] || { echo "error: Go is needed to build Prometheus and Jaeger (install Go >= 1.25)" >&2; exit 1; }

staging="$out.partial"
mkdir -p "$staging"
start=$SECONDS
export CGO_ENABLED=0 GOFLAGS="-mod=mod"
build() { # name module-dir package [build flags...]
  local t=$SECONDS name=$1 dir=$2 pkg=$3
  shift 3
  printf '  %-12s ' "$name"
  (cd "$dir" && nice -n 10 "$go_bin" build -trimpath -ldflags "-s -w" "$@" -o "$staging/$name" "$pkg")
  printf 'done in %ss\n' "$((SECONDS - t))"
}
# Each tool is built inside a throwaway module that requires it at the pinned version (go install cannot honour
# a replace directive in the tool's go.mod; Jaeger has one).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/prometheus" "$work/jaeger"
(cd "$work/prometheus" && "$go_bin" mod init meshctl.dev/observability/prometheus >/dev/null 2>&1 &&
  "$go_bin" mod edit -require "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION")
(cd "$work/jaeger" && "$go_bin" mod init meshctl.dev/observability/jaeger >/dev/null 2>&1 &&
  "$go_bin" mod edit -require "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" &&
  "$go_bin" mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0)
echo "building prometheus $PROMETHEUS_MODULE_VERSION + jaeger $JAEGER_MODULE_VERSION into $out"
# remove_all_sd: only static and file service discovery (the tests list their targets), which leaves out the cloud
# SDKs (AWS, Azure, GCE, Kubernetes, ...) and most of the cold build.
build prometheus "$work/prometheus" github.com/prometheus/prometheus/cmd/prometheus -tags remove_all_sd
build jaeger "$work/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
date -u +%FT%TZ > "$staging/.complete"
rm -rf "$out"
mv "$staging" "$out"
echo "built in $((SECONDS - start))s: $out"
