#!/usr/bin/env bash
# Builds the test cluster's binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# kube-proxy from the pinned Go module in k8s-binaries/; coredns from coredns/) into
# ~/.cache/meshctl/kubernetes-<version>/, once. The .complete stamp lists "name version" per binary: re-running
# builds only what is missing or at another version (adding a binary to the list does not rebuild the others).
# Usage: test/test-cluster/build.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

out="${MESHCTL_K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/kubernetes-$KUBERNETES_VERSION}"
# name, Go module directory (under test/test-cluster), package, version
targets=(
  "etcd k8s-binaries ./cmd/etcd $ETCD_VERSION"
  "kube-apiserver k8s-binaries k8s.io/kubernetes/cmd/kube-apiserver $KUBERNETES_VERSION"
  "kube-controller-manager k8s-binaries k8s.io/kubernetes/cmd/kube-controller-manager $KUBERNETES_VERSION"
  "kube-scheduler k8s-binaries k8s.io/kubernetes/cmd/kube-scheduler $KUBERNETES_VERSION"
  "kubectl k8s-binaries k8s.io/kubernetes/cmd/kubectl $KUBERNETES_VERSION"
  "kube-proxy k8s-binaries k8s.io/kubernetes/cmd/kube-proxy $KUBERNETES_VERSION"
  "coredns coredns . $COREDNS_VERSION"
)
# A binary is up to date when it exists and the stamp does not name another version for it (stamps written
# before the per-binary format hold only a date: their binaries are the pinned Kubernetes release's).
up_to_date() { # name version
  [ "${force:-}" != 1 ] && [ -f "$out/.complete" ] && [ -x "$out/$1" ] || return 1
  local listed
  listed="$(awk -v n="$1" '$1 == n { print $2 }' "$out/.complete")"
  [ -z "$listed" ] || [ "$listed" = "$2" ]
}
[ "${1:-}" = "--force" ] && force=1
todo=()
for t in "${targets[@]}"; do
  read -r name _ _ version <<<"$t"
  up_to_date "$name" "$version" || todo+=("$t")
done
if [ "${#todo[@]}" -eq 0 ]; then
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
rm -rf "$staging"
mkdir -p "$staging"
# Keep what is already built (hard links: no copy), build the rest.
if [ -d "$out" ] && [ "${force:-}" != 1 ]; then
  for t in "${targets[@]}"; do
    read -r name _ _ _ <<<"$t"
    [ -x "$out/$name" ] && ln "$out/$name" "$staging/$name"
  done
fi
start=$SECONDS
export GOFLAGS="-mod=mod" CGO_ENABLED=0
echo "building into $out: $(for t in "${todo[@]}"; do printf '%s ' "${t%% *}"; done)(all cold: ~20 min on 2 cores)"
for t in "${todo[@]}"; do
  read -r name dir pkg _ <<<"$t"
  t0=$SECONDS
  printf '  %-24s ' "$name"
  flags="$ldflags"
  [ "$dir" = k8s-binaries ] || flags="-s -w" # the Kubernetes version stamps are for Kubernetes' own binaries
  (cd "$here/$dir" && nice -n 10 "$go_bin" build -trimpath -ldflags "$flags" -o "$staging/$name" "$pkg")
  printf 'done in %ss\n' "$((SECONDS - t0))"
done
for t in "${targets[@]}"; do
  read -r name _ _ version <<<"$t"
  echo "$name $version"
done > "$staging/.complete"
rm -rf "$out"
mv "$staging" "$out"
echo "built in $((SECONDS - start))s: $out"
