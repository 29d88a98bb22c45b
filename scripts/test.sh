#!/usr/bin/env bash
# The project's test command (README.md): installs what the tests need on a
# fresh Debian machine, then runs the whole suite with the race detector,
# then the multi-node tests (network namespaces with sshd, and a one-node
# Slurm), which need root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: Open MPI for `mpx bench compare`, sshd and
# iproute2 for the multi-node tests, Slurm and munge for the Slurm tests, UCX
# (libucx-dev, ucx-utils, pkg-config) for the ucx transport.
need=()
command -v mpicc >/dev/null || need+=(openmpi-bin libopenmpi-dev)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ip >/dev/null || need+=(iproute2)
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
pkg-config --exists ucx 2>/dev/null || need+=(libucx-dev pkg-config)
command -v ucx_info >/dev/null || need+=(ucx-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

go build -o bin/mpx ./cmd/mpx
# The ucx build needs the UCX headers installed above, so it is checked here
# rather than in .ci/run's static checks.
go build -tags ucx ./...
go vet -tags ucx ./transport/ucx/ ./rdma/ ./runtime/ ./comm/
export MPX_BIN="$PWD/bin/mpx"
go test -race -count=1 -timeout 20m ./...
# The ucx transport (cgo, -tags ucx) over UCX's tcp and shared memory,
# with the launched comm tests; and its cgo pointer rules checked.
for tls in tcp sm; do
  UCX_TLS=$tls go test -tags ucx -race -count=1 -timeout 10m ./transport/ucx/ ./comm/ -run 'UCX|Conformance|SingleCopy|Stranger|Reorder|RMA'
  UCX_TLS=$tls GOEXPERIMENT=cgocheck2 go test -tags ucx -count=1 -timeout 5m ./transport/ucx/
  # Windows registered with UCX, ranks built under cgocheck2 too.
  UCX_TLS=$tls GOEXPERIMENT=cgocheck2 go test -tags ucx -count=1 -timeout 5m ./comm/ -run 'LaunchedUCXWindow/.*/ucx'
done
go test -tags cluster -count=1 -timeout 15m ./test/cluster/
