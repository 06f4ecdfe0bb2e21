// Command etcd is upstream etcd's server, built from the version Kubernetes itself pins, so the
// test cluster needs no etcd release download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
