#!/usr/bin/env bash
# Builds the test cluster's binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)
# from the pinned Go module in k8s-binaries/ into ~/.cache/meshctl/kubernetes-<version>/, once.
# Re-running is cheap: a complete directory (with its .complete stamp) is reused as is.
# Usage: test/cluster/build.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

out="${MESHCTL_K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/kubernetes-$KUBERNETES_VERSION}"
if [ "${1:-}" != "--force" ] && [ -f "$out/.complete" ]; then
  echo "kubernetes $KUBERNETES_VERSION binaries already built in $out"
  exit 0
fi

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || { [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go; }
[ -n "$go_bin" ] || { echo "error: Go is needed to build the Kubernetes binaries (install Go >= 1.25, https://go.dev/dl)" >&2; exit 1; }

minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
pkg_ver="k8s.io/component-base/version"
cg_ver="k8s.io/client-go/pkg/version"
ldflags="-s -w"
for p in "$pkg_ver" "$cg_ver"; do
  ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$KUBERNETES_BUILD_DATE"
done

staging="$out.partial"
mkdir -p "$staging"
start=$SECONDS
cd "$here/k8s-binaries"
export GOFLAGS="-mod=mod" CGO_ENABLED=0
echo "building kubernetes $KUBERNETES_VERSION + etcd $ETCD_VERSION into $out (cold: ~15 min on 2 cores)"
build() { # name package
  local t=$SECONDS
  printf '  %-24s ' "$1"
  nice -n 10 "$go_bin" build -trimpath -ldflags "$ldflags" -o "$staging/$1" "$2"
  printf 'done in %ss\n' "$((SECONDS - t))"
}
build etcd ./cmd/etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
date -u +%FT%TZ > "$staging/.complete"
rm -rf "$out"
mv "$staging" "$out"
echo "built in $((SECONDS - start))s: $out"
