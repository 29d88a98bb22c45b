#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for tests: munged, slurmctld and
# slurmd with a configuration in a temp dir (nothing under /etc is changed),
# the node being this host with CPUS cpus (default 2). Must run as root.
#
#   slurm.sh up DIR        install slurm-wlm and munge if missing, start the
#                          daemons, wait until sinfo shows the node idle
#   slurm.sh down DIR      stop the daemons `up` started
#   slurm.sh run -- CMD    `up` in a temp dir, run CMD with SLURM_CONF set,
#                          `down` on exit (even on failure or ^C)
#
# DIR/env sets SLURM_CONF (every Slurm command honours it) and
# MPX_SLURM_DIR. Ports: MPX_SLURM_PORT (default 16817) and the next one.
set -euo pipefail

die() { echo "slurm.sh: $*" >&2; exit 1; }

ensure_packages() {
	if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v srun >/dev/null; then
		echo "slurm.sh: installing slurm-wlm and munge" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null ||
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
	fi
}

up() {
	local dir=$1
	[ "$(id -u)" = 0 ] || die "must run as root"
	ensure_packages
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/state" ] || die "$dir already holds a Slurm rig (run: slurm.sh down $dir)"
	: >"$dir/state"
	local host cpus port plugdir
	host=$(hostname -s)
	cpus=${MPX_SLURM_CPUS:-2}
	port=${MPX_SLURM_PORT:-16817}
	plugdir=$(dirname "$(find /usr/lib -name mpi_pmi2.so -path '*slurm*' | head -1)")
	[ -n "$plugdir" ] && [ -d "$plugdir" ] || die "Slurm's mpi_pmi2 plugin is not installed"
	mkdir -p "$dir/munge" "$dir/state.d" "$dir/spool" "$dir/log"
	chmod 700 "$dir/munge"

	# munge: a key for this rig, a private socket.
	dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
	chmod 400 "$dir/munge/munge.key"
	munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
		--pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"
	echo "pid $dir/munge/munged.pid" >>"$dir/state"

	cat >"$dir/slurm.conf" <<EOF
ClusterName=mpxtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
PluginDir=$plugdir
StateSaveLocation=$dir/state.d
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
	export SLURM_CONF=$dir/slurm.conf
	slurmctld -f "$SLURM_CONF"
	echo "pid $dir/slurmctld.pid" >>"$dir/state"
	slurmd -f "$SLURM_CONF"
	echo "pid $dir/slurmd.pid" >>"$dir/state"
	cat >"$dir/env" <<EOF
export SLURM_CONF=$dir/slurm.conf
export MPX_SLURM_DIR=$dir
EOF
	local t
	for t in $(seq 1 120); do
		if sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; then
			echo "slurm.sh: node $host idle (state in $dir)" >&2
			return
		fi
		[ "$t" = 60 ] && scontrol update nodename="$host" state=resume 2>/dev/null || true
		sleep 0.5
	done
	sinfo -N >&2 || true
	tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
	die "node $host did not become idle in 60s"
}

down() {
	local dir=$1 kind f p t
	[ -f "$dir/state" ] || die "$dir holds no Slurm rig state"
	# Jobs of this cluster first, so that slurmd ends their steps.
	if [ -f "$dir/slurm.conf" ]; then
		SLURM_CONF=$dir/slurm.conf scancel --quiet --full -u "$(id -un)" 2>/dev/null || true
		sleep 0.5
	fi
	tac "$dir/state" | while read -r kind f; do
		[ "$kind" = pid ] && [ -f "$f" ] || continue
		p=$(cat "$f")
		kill "$p" 2>/dev/null || continue
		for t in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -f "$dir/state"
	echo "slurm.sh: Slurm rig in $dir stopped" >&2
}

case ${1:-} in
up)
	[ $# = 2 ] || die "usage: slurm.sh up DIR"
	up "$2"
	;;
down)
	[ $# = 2 ] || die "usage: slurm.sh down DIR"
	down "$2"
	;;
run)
	[ $# -ge 3 ] && [ "$2" = -- ] || die "usage: slurm.sh run -- CMD [ARGS...]"
	shift 2
	dir=$(mktemp -d /tmp/mpx-slurm.XXXXXX)
	trap 'down "$dir" || true; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	up "$dir"
	# shellcheck disable=SC1091
	. "$dir/env"
	"$@"
	;;
*)
	die "usage: slurm.sh up DIR | down DIR | run -- CMD"
	;;
esac
