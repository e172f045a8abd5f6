#!/usr/bin/env bash
# Data safety, slow storage under the primary (I2: no write lands after a
# newer write to the same block was acknowledged). vd2's primary path is n2
# through a FUSE file (nbdfuse -> nbdkit, file plugin with the pause filter),
# its secondary path n3 directly on the same backing file. vdwriter on n1
# keeps rewriting 16 blocks. nbdkit pauses: n2's writes hang in its storage
# past `[io] timeout_ms`. A router that re-issues them on n3 (as vdiskd did)
# gets them acknowledged there, and the writer goes on writing newer
# generations through n3; then the storage resumes and the writes n2 had
# issued complete, over the newer ones. vdiskd now asks n2, which says it
# still runs them, and waits (vdiskd(8), DATA SAFETY): the writer stalls for
# the pause. Either way the writer stops before the storage resumes, and
# every block must then hold its newest acknowledged generation, read from
# every node.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000
BLOCKS=16

safety_cluster "$TIMEOUT_MS" nbdkit nbdfuse fusermount3

step "vd2: primary n2 through nbdfuse -> nbdkit (pause filter), secondary n3 direct"
ctl_sock=$VDT_TMP/pause.sock
shared_disk vd2 pause pause-control="$ctl_sock"
writer_on_n1 w1 vd2 "$BLOCKS"

step "n2's storage stalls (nbdkit pauses)"
t_pause=$(now_ms)
pause_ctl "$ctl_sock" p
sleep 0.2
vdw_inflight w1 >"$VDT_TMP/stuck"
echo "writes out when the storage stalled (blk gen): $(tr '\n' ';' <"$VDT_TMP/stuck")"
# Past the timeout, and a probe's interval more.
sleep $(((TIMEOUT_MS + 2500) / 1000))
echo "acknowledged since the stall: $(vdw_acks_after w1 "$t_pause") writes"
vdw_stop w1
# Everything n2 issued while paused is still in its storage (later stuck
# attempts, when n1 tried the primary again, are in the check's sight too).
vdw_inflight w1 >>"$VDT_TMP/stuck"
awk '$1 == "S" && $4 >= '"$t_pause"' { print $2, $3 }' "$(vdw_log w1)" >>"$VDT_TMP/stuck"
vdiskd_alive n1 n2 n3

step "n2's storage resumes"
pause_ctl "$ctl_sock" r
retry_until 8 vdw_check_bad n3 vd2 w1 || true
vdiskd_alive n1 n2 n3

step "every block holds its newest acknowledged generation, from every node"
vdw_stale_report "$VDT_TMP/stuck" n3 vd2 w1 || true
vdw_check_all vd2 w1
no_sanitizer n1 n2 n3
pass "safety_slow_storage"
