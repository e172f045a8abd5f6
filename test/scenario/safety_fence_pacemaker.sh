#!/usr/bin/env bash
# vdisk-fence-pacemaker against Pacemaker's real fencer: a lost node's disks
# wait until Pacemaker reports the node fenced. A 3-node namespace cluster
# with real Pacemaker (test/cluster/pcmk) and stonith-enabled=true, but no
# fence device: Pacemaker tries to fence a lost node and cannot, as when a
# fence device fails. Every vdiskd (started by vdcluster) runs with
# `[io] fence_command = <build>/cli/vdisk-fence-pacemaker`. vd1: primary
# n2, secondary n3, one file; a writer on n1. n2 is killed whole
# (Pacemaker, corosync, vdiskd). Then:
#   - until the fence is confirmed, vd1 waits (past the lease, and however
#     long: here lease + 4 s), the helper exiting 1 every second;
#   - the administrator confirms the fence by hand (`stonith_admin --confirm
#     n2`, what one does after powering a node off when its fence device
#     failed): the fencer records n2 fenced, the helper exits 0, and vd1
#     goes on through n3 within seconds;
#   - every block holds its newest acknowledged generation.
# The helper itself: exit 2 on a usage error; 1 for a node never fenced, 0
# for one fenced since SINCE (n2 above), 1 for one fenced before SINCE.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

PCMK=$VDISK_SRC/test/cluster/pcmk
HELPER=$VDISK_BUILD/cli/vdisk-fence-pacemaker
for tool in pacemakerd crm_mon crm_attribute stonith_admin; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
done
pcmk() { "$PCMK" "$@"; }

# Pacemaker goes first: left running, it would restart what vdcluster stops.
# shellcheck disable=SC2154 # _pf_rc is assigned inside the trap string
trap '_pf_rc=$?; _sf_cleanup; [[ -r $VDC_DIR/cluster.env ]] && pcmk down; _dp_rc=$_pf_rc; _dp_cleanup; (exit $_pf_rc); _vdt_cleanup' EXIT

step "the helper's usage"
expect_fail "vdisk-fence-pacemaker without arguments" 2 "usage: vdisk-fence-pacemaker NODE SINCE NODEID" "$HELPER"
expect_fail "vdisk-fence-pacemaker with a bad SINCE" 2 "usage: vdisk-fence-pacemaker NODE SINCE NODEID" "$HELPER" n2 yesterday 2
expect_fail "vdisk-fence-pacemaker without NODEID" 2 "usage: vdisk-fence-pacemaker NODE SINCE NODEID" "$HELPER" n2 0

safety_cluster 3000
fence_setup "$HELPER"

step "Pacemaker on every node, stonith-enabled=true (and no fence device)"
expect_ok "Pacemaker up" pcmk up 60
expect_ok "stonith-enabled=true" pcmk exec n1 crm_attribute -t crm_config -n stonith-enabled -v true
rc=0
vdc exec n1 "$HELPER" n3 "$(date +%s)" 3 || rc=$?
((rc == 1)) || fail "vdisk-fence-pacemaker n3 (never fenced) on n1 exited $rc, not 1"
echo "ok: vdisk-fence-pacemaker n3 (never fenced) exits 1"

step "vd1: primary n2, secondary n3, one file"
shared_disk vd1
writer_on_n1 w1 vd1 64

step "n2 killed whole (Pacemaker, corosync, vdiskd)"
fence_lose_n2 vdisk-fence-pacemaker pcmk kill n2
fence_held w1 vdisk-fence-pacemaker
echo "the fencer's history of n2 on n1: $(pcmk exec n1 stonith_admin --history n2 --verbose 2>&1 | tr '\n' ' ' | head -c 300)"

step "the administrator confirms n2 fenced: vd1 goes on through n3"
t_fenced=$(now_ms)
expect_ok "stonith_admin --confirm n2" pcmk exec n1 stonith_admin --confirm n2
fence_released w1 vdisk-fence-pacemaker "$t_fenced"

step "the helper: n2 fenced since it joined, not since a later time"
t=$(date +%s)
expect_ok "vdisk-fence-pacemaker n2 (fenced at $((t_fenced / 1000)))" vdc exec n1 "$HELPER" n2 "$((t_fenced / 1000 - 1))" 2
rc=0
vdc exec n1 "$HELPER" n2 "$((t + 60))" 2 || rc=$?
((rc == 1)) || fail "vdisk-fence-pacemaker n2 SINCE (a minute from now) 2 exited $rc, not 1"
echo "ok: a fencing before SINCE does not count"

step "every block holds its newest acknowledged generation"
vdw_stop w1
vdiskd_alive n1 n3
for n in n1 n3; do
	vdw_check "$n" vd1 w1
	((CHK_RC == 0)) || fail "vd1 from $n: $CHK"
	echo "ok: vd1 checks clean from $n"
done
no_sanitizer n1 n3
pass "safety_fence_pacemaker"
