#!/usr/bin/env bash
# Several "nodes" on one machine for multi-node tests: N network namespaces,
# each joined by a veth pair to one bridge, each running its own sshd with
# keys made for the test. Addresses are in 198.18.0.0/15 only (RFC 2544
# benchmarking space): the bridge is 198.18.S.1, node i is 198.18.S.(10+i).
# Must run as root.
#
#   nodes.sh up N DIR        make the rig, record its state in DIR (created)
#   nodes.sh down DIR        undo everything `up` made, by its records
#   nodes.sh run N -- CMD    `up` in a temp dir, run CMD with MPX_CLUSTER_DIR
#                            set, `down` on exit (even on failure or ^C)
#   nodes.sh link DIR I up|down   set node I's link (its veth) up or down
#
# DIR/env holds, for shell scripts and tests (source it):
#   MPX_CLUSTER_DIR, MPX_CLUSTER_NODES (space-separated node addresses),
#   MPX_CLUSTER_BRIDGE_IP, MPX_CLUSTER_SSH_CONFIG (ssh -F file: root, the
#   test key, pinned host keys), MPX_CLUSTER_NS (namespace names),
#   MPX_CLUSTER_BIN (DIR/bin; see below).
# DIR/bin is hidden (an empty tmpfs over it) on the nodes listed in
# MPX_CLUSTER_BARE (node numbers, default: none), so a binary placed there is
# "not installed" on those nodes although the machine shares one filesystem.
set -euo pipefail

die() { echo "nodes.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, sshd)"; }

ensure_sshd() {
	if [ ! -x /usr/sbin/sshd ]; then
		echo "nodes.sh: installing openssh-server" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server openssh-client >/dev/null ||
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server openssh-client >/dev/null; }
	fi
	mkdir -p /run/sshd
	chmod 755 /run/sshd
}

# pick_subnet prints a third octet S such that 198.18.S.0/24 is not on any
# interface yet (several rigs may run side by side).
pick_subnet() {
	local used s
	used=$(ip -4 -o addr show | awk '{print $4}' | grep '^198\.18\.' || true)
	for s in $(shuf -i 1-254); do
		if ! grep -q "^198\.18\.$s\." <<<"$used"; then
			echo "$s"
			return
		fi
	done
	die "no free 198.18.S.0/24 subnet"
}

up() {
	local n=$1 dir=$2
	need_root
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 40 ] || die "node count $n: want 1 to 40"
	ensure_sshd
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/state" ] || die "$dir already holds a rig (run: nodes.sh down $dir)"
	local id s br
	id=$(od -An -N2 -tx2 /dev/urandom | tr -d ' ')
	s=${MPX_CLUSTER_SUBNET:-$(pick_subnet)}
	br="mpxbr$id"
	: >"$dir/state"
	mkdir -p "$dir/ssh" "$dir/bin"
	chmod 700 "$dir/ssh"

	# Keys made for this rig only.
	ssh-keygen -q -t ed25519 -N '' -C mpx-cluster-user -f "$dir/ssh/id_ed25519"
	ssh-keygen -q -t ed25519 -N '' -C mpx-cluster-host -f "$dir/ssh/host_ed25519"
	cp "$dir/ssh/id_ed25519.pub" "$dir/ssh/authorized_keys"
	chmod 600 "$dir/ssh/authorized_keys"

	ip link add "$br" type bridge
	echo "bridge $br" >>"$dir/state"
	ip addr add "198.18.$s.1/24" dev "$br"
	ip link set "$br" up

	local nodes="" names="" i ns ip vh vn
	: >"$dir/ssh/known_hosts"
	cat >"$dir/ssh/config" <<EOF
Host *
	User root
	IdentityFile $dir/ssh/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile $dir/ssh/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 5
	ServerAliveInterval 2
	ServerAliveCountMax 3
EOF
	for i in $(seq 1 "$n"); do
		ns="mpx-$id-n$i"
		ip="198.18.$s.$((10 + i))"
		vh="mpxv${id}h$i"
		vn="mpxv${id}n$i"
		ip netns add "$ns"
		echo "netns $ns" >>"$dir/state"
		ip link add "$vh" type veth peer name "$vn"
		echo "veth $vh" >>"$dir/state"
		ip link set "$vn" netns "$ns"
		ip link set "$vh" master "$br"
		ip link set "$vh" up
		ip netns exec "$ns" ip link set lo up
		ip netns exec "$ns" ip link set "$vn" name eth0
		ip netns exec "$ns" ip addr add "$ip/24" dev eth0
		ip netns exec "$ns" ip link set eth0 up
		ip netns exec "$ns" ip route add default via "198.18.$s.1"

		mkdir -p "$dir/n$i"
		cat >"$dir/n$i/sshd_config" <<EOF
ListenAddress $ip:22
HostKey $dir/ssh/host_ed25519
AuthorizedKeysFile $dir/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/n$i/sshd.pid
AcceptEnv MPX_*
MaxStartups 100
MaxSessions 100
LogLevel ERROR
EOF
		local hide=""
		for b in ${MPX_CLUSTER_BARE:-}; do
			[ "$b" = "$i" ] && hide=1
		done
		if [ -n "$hide" ]; then
			# A private mount namespace in which DIR/bin is empty: mpx is
			# "not installed" on this node.
			ip netns exec "$ns" unshare --mount --propagation private \
				sh -c "mount -t tmpfs -o size=1m,mode=755 mpx-bare '$dir/bin' && exec /usr/sbin/sshd -f '$dir/n$i/sshd_config' -E '$dir/n$i/sshd.log'"
		else
			ip netns exec "$ns" /usr/sbin/sshd -f "$dir/n$i/sshd_config" -E "$dir/n$i/sshd.log"
		fi
		echo "sshd $dir/n$i/sshd.pid $ns" >>"$dir/state"
		echo "$ip $(cut -d' ' -f1-2 "$dir/ssh/host_ed25519.pub")" >>"$dir/ssh/known_hosts"
		nodes="$nodes $ip"
		names="$names $ns"
	done
	# Bridged traffic must not be filtered by the host's firewall rules.
	if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
		echo 0 >/proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true
	fi
	cat >"$dir/env" <<EOF
export MPX_CLUSTER_DIR=$dir
export MPX_CLUSTER_NODES="${nodes# }"
export MPX_CLUSTER_NS="${names# }"
export MPX_CLUSTER_BRIDGE_IP=198.18.$s.1
export MPX_CLUSTER_SSH_CONFIG=$dir/ssh/config
export MPX_CLUSTER_BIN=$dir/bin
EOF
	# Wait until every sshd answers.
	local t
	for ip in $nodes; do
		for t in $(seq 1 50); do
			if ssh -F "$dir/ssh/config" "$ip" true 2>/dev/null; then
				break
			fi
			[ "$t" = 50 ] && die "sshd on $ip does not answer (see $dir/n*/sshd.log)"
			sleep 0.1
		done
	done
	echo "nodes.sh: $n nodes up:$nodes (state in $dir)" >&2
}

down() {
	local dir=$1 kind a b
	need_root
	[ -f "$dir/state" ] || die "$dir holds no rig state"
	# Reverse order: sshd first, then namespaces (which takes their veth
	# ends and every process left in them), then the bridge.
	tac "$dir/state" | while read -r kind a b; do
		case $kind in
		sshd)
			if [ -f "$a" ]; then
				kill "$(cat "$a")" 2>/dev/null || true
			fi
			# Anything else still running in the node (agents, ranks).
			for p in $(ip netns pids "$b" 2>/dev/null); do
				kill -9 "$p" 2>/dev/null || true
			done
			;;
		netns) ip netns del "$a" 2>/dev/null || true ;;
		veth) ip link del "$a" 2>/dev/null || true ;;
		bridge) ip link del "$a" 2>/dev/null || true ;;
		esac
	done
	rm -f "$dir/state"
	echo "nodes.sh: rig in $dir removed" >&2
}

link() {
	local dir=$1 i=$2 state=$3 vh
	need_root
	vh=$(grep '^veth ' "$dir/state" | sed -n "${i}p" | cut -d' ' -f2)
	[ -n "$vh" ] || die "no node $i in $dir"
	case $state in up | down) ;; *) die "link state $state: want up or down" ;; esac
	ip link set "$vh" "$state"
}

case ${1:-} in
up)
	[ $# = 3 ] || die "usage: nodes.sh up N DIR"
	up "$2" "$3"
	;;
down)
	[ $# = 2 ] || die "usage: nodes.sh down DIR"
	down "$2"
	;;
link)
	[ $# = 4 ] || die "usage: nodes.sh link DIR I up|down"
	link "$2" "$3" "$4"
	;;
run)
	[ $# -ge 4 ] && [ "$3" = -- ] || die "usage: nodes.sh run N -- CMD [ARGS...]"
	n=$2
	shift 3
	dir=$(mktemp -d /tmp/mpx-cluster.XXXXXX)
	trap 'down "$dir" || true; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	up "$n" "$dir"
	# shellcheck disable=SC1091
	. "$dir/env"
	"$@"
	;;
*)
	die "usage: nodes.sh up N DIR | down DIR | run N -- CMD | link DIR I up|down"
	;;
esac
