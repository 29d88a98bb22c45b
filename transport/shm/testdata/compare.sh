#!/bin/sh
# Runs Open MPI's shared-memory path (vader, CMA for large messages) and the
# shm transport's Go benchmarks back to back, several rounds, so that both
# see the same machine load; each once with ranks pinned to cores 0 and 1
# (mpirun's default --bind-to core) and once unpinned.
# Usage, from the module root: transport/shm/testdata/compare.sh [rounds]
set -eu
rounds=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mpicc -O2 -o "$bin/pingpong" "$here/pingpong.c"
(cd "$here/.." && go test -c -o "$bin/shm.test" .)
bench() {
	"$@" -test.run '^$' -test.bench 'PingPong8B|Bandwidth/.*/cma' -test.benchtime 1s | grep '^Benchmark'
}
for r in $(seq "$rounds"); do
	echo "== round $r: Open MPI, btl self,vader, bound to cores"
	mpirun --allow-run-as-root -np 2 --mca btl self,vader "$bin/pingpong"
	echo "== round $r: mpx shm, pinned to cores 0 and 1"
	MPX_SHM_TEST_CHILD_CPU=1 bench taskset -c 0 "$bin/shm.test"
	echo "== round $r: Open MPI, btl self,vader, --bind-to none"
	mpirun --allow-run-as-root -np 2 --bind-to none --mca btl self,vader "$bin/pingpong"
	echo "== round $r: mpx shm, unpinned"
	bench "$bin/shm.test"
done
