#!/usr/bin/env bash
# sandbox.sh — build vdisk and run a 3-node, 2-link cluster on this host, each
# node a network namespace with its own corosync and vdiskd, with one virtual
# disk on it to play with.
#
#   scripts/sandbox.sh [up]     install dependencies, build, start, show
#   scripts/sandbox.sh up --force   the same over a sandbox that exists,
#                               wiping it (disk data included)
#   scripts/sandbox.sh status   nodes, processes, quorum
#   scripts/sandbox.sh down     stop everything and remove the sandbox
#
# SANDBOX_PREFIX and SANDBOX_DIR (default vdsb, /var/tmp/vdisk-sandbox) name
# its namespaces and directory; the test of its guard (sandbox_guard.sh)
# points them at a cluster of its own.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
export VDC_PREFIX=${SANDBOX_PREFIX:-vdsb}
export VDC_DIR=${SANDBOX_DIR:-/var/tmp/vdisk-sandbox}
export VDISK_BUILD=$REPO/build
H=$REPO/test/cluster/vdcluster

banner() { printf '\n=== %s\n' "$*"; }

# links_up: every link of every node to every peer is up (vdiskctl link status).
links_up() {
	local n
	for n in n1 n2 n3; do
		"$H" ctl "$n" --json link status |
			jq -e '(.links | length) == 4 and all(.links[]; .state == "up")' >/dev/null ||
			return 1
	done
}

# show NODE CMD...: print the command as a user would type it, then run it.
show() {
	local node=$1
	shift
	banner "on $node: $*"
	"$H" exec "$node" "$@"
}

# sandbox_exists: prints what a new sandbox would destroy, if anything.
sandbox_exists() {
	local ns
	ns=$(ip netns list 2>/dev/null | awk -v p="$VDC_PREFIX-" 'index($1, p) == 1 { print $1 }' |
		tr '\n' ' ')
	if [[ -n $ns ]]; then
		echo "a sandbox is running (namespaces ${ns% }; state and disk data in $VDC_DIR)"
	elif [[ -e $VDC_DIR ]]; then
		echo "a stopped sandbox's state and disk data are in $VDC_DIR"
	fi
}

USAGE="usage: $0 [up [--force]|status|down]"
case ${1:-up} in
up)
	force=false
	case $# in
	0 | 1) ;;
	2) [[ $2 == --force ]] || { echo "$USAGE" >&2; exit 2; }; force=true ;;
	*) echo "$USAGE" >&2; exit 2 ;;
	esac
	found=$(sandbox_exists)
	if [[ -n $found ]] && ! $force; then
		echo "sandbox.sh: $found; up would wipe it: run $0 down first, or $0 up --force" >&2
		exit 1
	fi
	banner "installing dependencies"
	bash scripts/install-deps.sh
	banner "building into $VDISK_BUILD"
	cmake -S . -B build -DVDISK_WERROR=ON
	cmake --build build -j2
	banner "starting the cluster $VDC_PREFIX (3 nodes, 2 links) in $VDC_DIR"
	start=$SECONDS
	"$H" up -n 3 -l 2
	echo "cluster up in $((SECONDS - start))s"
	img=$VDC_DIR/n2/disk1.img
	truncate -s 1G "$img"
	# n3 opens n2's file too: a dual-ported disk, so vd1 survives the loss
	# of n2 (its secondary path takes over).
	show n1 vdiskctl disk create vd1 --primary "n2:$img" --secondary "n3:$img" --mode 0660
	# The transport connects and authenticates its links once the nodes
	# see each other; give it the few heartbeats that takes.
	for _ in $(seq 50); do
		links_up && break
		sleep 0.2
	done
	show n1 vdiskctl status
	show n1 vdiskctl node list
	show n1 vdiskctl link status
	show n1 vdiskctl disk list -l
	show n3 corosync-cmapctl -b vdisk.
	cat <<INFO

=== the sandbox runs
Nodes n1, n2, n3 are network namespaces ${VDC_PREFIX}-n1..3; each runs corosync
and vdiskd. Their configuration, state and logs are under $VDC_DIR/nN/.

Run a command on a node (vdiskctl and vdiskd are on its PATH):
  VDC_PREFIX=$VDC_PREFIX VDC_DIR=$VDC_DIR test/cluster/vdcluster ctl n1 status
  VDC_PREFIX=$VDC_PREFIX VDC_DIR=$VDC_DIR test/cluster/vdcluster ctl n2 disk list -l
  VDC_PREFIX=$VDC_PREFIX VDC_DIR=$VDC_DIR test/cluster/vdcluster exec n3 corosync-quorumtool -s
Break things:
  ... test/cluster/vdcluster link n1 0 down      # cut link 0 of n1
  ... test/cluster/vdcluster isolate n3          # partition n3 (heal n3 undoes it)
  ... test/cluster/vdcluster kill n2 vdiskd      # SIGKILL (start n2 vdiskd restarts it)
  ... test/cluster/vdcluster status | logs n1 [vdiskd|corosync] | help
Use vd1 from any node (here n1, which has no path to it):
  sock=$VDC_DIR/n1/run-vdisk/nbd.sock       # node N's NBD socket: $VDC_DIR/nN/run-vdisk/nbd.sock
  ... test/cluster/vdcluster exec n1 nbdinfo --list "nbd+unix:///?socket=\$sock"
  ... test/cluster/vdcluster exec n1 qemu-img convert -n -O raw IMAGE "nbd+unix:///vd1?socket=\$sock"
  ... test/cluster/vdcluster exec n1 qemu-img compare IMAGE "nbd+unix:///vd1?socket=\$sock"
  ls -l $VDC_DIR/n*/dev/                   # each node's device files (ndfs), same on every node
  losetup -f --show $VDC_DIR/n1/dev/vd1    # a block device over n1's file; mkfs, mount
Fail over: start I/O on n1, then kill vd1's primary node; n3 takes over, no error:
  ... test/cluster/vdcluster exec n1 fio --name=v --ioengine=nbd --uri="nbd+unix:///vd1?socket=\$sock" \\
        --rw=randwrite --bs=4k --iodepth=32 --size=1G --verify=crc32c --verify_state_save=0 &
  ... test/cluster/vdcluster kill n2 vdiskd; ... test/cluster/vdcluster kill n2 corosync
  ... test/cluster/vdcluster start n2 corosync; ... test/cluster/vdcluster start n2 vdiskd
Change the mapping online:
  ... test/cluster/vdcluster ctl n1 map promote vd1 n3
  ... test/cluster/vdcluster ctl n1 map set vd1 --primary n2:$img --secondary n3:$img
Pacemaker on it (pcs resource create, move, failover): docs/pacemaker.md,
section "On the sandbox".
Tear it down:
  scripts/sandbox.sh down
INFO
	;;
status)
	"$H" status
	;;
down)
	"$H" down
	;;
*)
	echo "$USAGE" >&2
	exit 2
	;;
esac
