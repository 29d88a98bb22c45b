#!/bin/sh
# Installs what transport/shm/testdata/compare.sh needs: Debian's Open MPI
# (mpicc, mpirun) and taskset. The shm tests themselves need only Go and a
# tmpfs at /dev/shm.
set -eu
need=""
command -v mpicc >/dev/null 2>&1 || need="$need openmpi-bin libopenmpi-dev"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
if [ -n "$need" ]; then
	apt-get update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need
fi
