#!/usr/bin/env bash
# Install everything vdisk needs to build and test on Debian 12.
# Idempotent: when every package is already installed it does nothing but
# check, so it is cheap to run at the start of every build or test.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	corosync libcpg-dev libcmap-dev libquorum-dev libqb-dev
	libcorosync-common-dev libblkid-dev libjson-c-dev libcmocka-dev
	libssl-dev nftables iproute2 util-linux jq procps psmisc
	liburing-dev python3
	libfuse3-dev fuse3 mount e2fsprogs fdisk passwd
	qemu-utils libnbd-bin fio nbdkit iperf3 sockperf
	pacemaker pacemaker-cli-utils pcs resource-agents libxml2-utils shellcheck
)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	SUDO=(sudo)
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	"${SUDO[@]}" apt-get update
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

# Debian's corosync package starts a system corosync when it can. Our test
# clusters run their own corosyncs inside network namespaces; a corosync in
# the root network namespace would only get in the way (and would answer IPC
# meant for nobody), so make sure none runs there.
stop_root_corosync() {
	local root_ns pid ns
	# Our own network namespace (the root one when run from a shell; pid 1 may
	# not be readable in a container).
	root_ns=$(readlink /proc/self/ns/net)
	for pid in $(pgrep -x corosync || true); do
		ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || continue
		[ "$ns" = "$root_ns" ] || continue
		echo "install-deps: stopping the system corosync (pid $pid) in the root network namespace"
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			"${SUDO[@]}" systemctl stop corosync 2>/dev/null || true
			"${SUDO[@]}" systemctl disable corosync 2>/dev/null || true
		fi
		if kill -0 "$pid" 2>/dev/null; then
			"${SUDO[@]}" kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			"${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}
if [ -e /etc/corosync/corosync.conf ]; then
	stop_root_corosync
fi
exit 0
