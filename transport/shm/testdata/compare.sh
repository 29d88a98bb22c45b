#!/bin/sh
# Runs Open MPI's shared-memory path (vader) and the shm transport's Go
# benchmarks back to back, several rounds, so that both see the same load.
# Usage: transport/shm/testdata/compare.sh [rounds]   (from the module root)
set -eu
rounds=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mpicc -O2 -o "$bin/pingpong" "$here/pingpong.c"
(cd "$here/.." && go test -c -o "$bin/shm.test" .)
for r in $(seq "$rounds"); do
	echo "== round $r: Open MPI (btl self,vader)"
	mpirun --allow-run-as-root -np 2 --mca btl self,vader "$bin/pingpong"
	echo "== round $r: mpx shm"
	"$bin/shm.test" -test.run '^$' -test.bench 'PingPong8B|Bandwidth/.*/cma' -test.benchtime 1s | grep '^Benchmark'
done
