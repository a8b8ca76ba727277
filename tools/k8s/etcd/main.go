// etcd for Floe's operator tests, built from the Go module proxy by tools/k8s/install.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
