// Command etcd is etcd's own server entry point (the upstream main.go is these lines), built from
// go.etcd.io/etcd/server/v3 at the version that k8s.io/kubernetes pins, so that etcd and the
// apiserver's etcd client come from one release. build.sh builds it when Debian's etcd-server is
// not used.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
