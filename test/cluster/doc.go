// Package cluster holds the multi-node tests: several nodes made of network
// namespaces with an sshd each (scripts/cluster/nodes.sh), and a one-node
// Slurm (scripts/cluster/slurm.sh). They need root, and build only with the
// "cluster" tag, so that an ordinary `go test ./...` leaves them out:
//
//	go test -tags cluster -v -timeout 15m ./test/cluster/
package cluster
