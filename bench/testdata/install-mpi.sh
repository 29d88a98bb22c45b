#!/bin/sh
# Installs the MPI that `mpx bench compare` and bench's TestMPI measure
# against: Open MPI's runtime (mpirun) and development files (mpicc).
# Debian/Ubuntu; run as root (CI). Does nothing when mpicc and mpirun are
# already on PATH.
set -eu
if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then
	mpirun --version | head -n 1
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends openmpi-bin libopenmpi-dev build-essential
mpirun --version | head -n 1
