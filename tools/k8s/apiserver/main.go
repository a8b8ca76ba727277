// kube-apiserver for Floe's operator tests, built from the Go module proxy (k8s.io/kubernetes
// is not `go install`-able because of its staging replace directives; this module pins the
// published staging modules instead). Built by tools/k8s/install.sh into the cache.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
