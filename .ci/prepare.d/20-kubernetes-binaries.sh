#!/usr/bin/env bash
# The cluster suites (test/test-cluster/) need etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kube-proxy and CoreDNS built from the pinned Go modules; build.sh builds whichever the cache lacks
# (a clean machine: ~20-25 min on 2 cores, then cached in ~/.cache/meshctl/kubernetes-<version>/).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed: the Kubernetes test binaries cannot be built (the cluster suites will fail under MESHCTL_TEST_REQUIRE_ALL=1)" >&2
  exit 1
fi
bash test/test-cluster/build.sh
