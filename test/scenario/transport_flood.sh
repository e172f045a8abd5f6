#!/usr/bin/env bash
# Transport under a connection flood: anybody who can reach a link may open
# TCP connections to vdiskd's port and say nothing; each costs a descriptor
# until the 3 s handshake timeout. With n1's vdiskd limited to 80
# descriptors (prlimit; the systemd default soft limit is 1024), 300 silent
# connections exhaust them. While they are held n1 must keep serving the
# connections it has (a ping stream to n2 loses nothing) without burning a
# CPU, and once they are gone a restarted peer must be reconnected.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

# vdiskd keeps at most 64 connections in their handshake and closes the rest
# at once, so the limit must be below its ~30 own descriptors plus those 64
# for the flood to reach it.
NOFILE=80
FLOOD=300 # more than the limit
HOLD_S=3
CPU_MAX_PCT=30

step "3 nodes, 2 links; n1's vdiskd limited to $NOFILE descriptors"
vdc up
wait_links_up n1 10 n2 n3
p1=$(vdiskd_pid n1)
prlimit --pid "$p1" --nofile="$NOFILE:$NOFILE"
echo "n1 vdiskd (pid $p1): $(fd_count "$p1") descriptors, limit $NOFILE"
ping_ok "ping n1 -> n2 before" n1 n2 --count 20 --interval 5 --size 4096

step "$FLOOD silent connections to 10.201.0.1:5420 from n2's namespace, held ${HOLD_S}s"
# A ping stream that started before the flood runs through it: it needs no
# new descriptor, so it must not lose anything.
vctl n1 --json ping n2 --count 400 --interval 20 --size 4096 >"$VDT_TMP/ping.json" \
	2>"$VDT_TMP/ping.err" &
ping_pid=$!
sleep 0.5
mark=$(log_mark n1)
vdc exec n2 python3 "$VDPEER" flood 10.201.0.1 5420 --count "$FLOOD" --hold "$HOLD_S" \
	>"$VDT_TMP/flood.json" 2>"$VDT_TMP/flood.err" &
flood_pid=$!
t_flood=$(now_ms)
max_fds=0
while (($(now_ms) - t_flood < 5000)); do
	fds=$(fd_count "$p1")
	((fds > max_fds)) && max_fds=$fds
	((fds >= NOFILE - 2)) && break
	sleep 0.05
done
echo "n1 vdiskd: up to $max_fds descriptors of $NOFILE, $(($(now_ms) - t_flood)) ms into the flood"
((max_fds >= NOFILE - 2)) || fail "the flood did not exhaust n1's descriptors ($max_fds of $NOFILE): the test proves nothing"
c0=$(awk '{ print $14 + $15 }' "/proc/$p1/stat")
t0=$(now_ms)
sleep 1
c1=$(awk '{ print $14 + $15 }' "/proc/$p1/stat")
t1=$(now_ms)
cpu=$(((c1 - c0) * 100000 / $(getconf CLK_TCK) / (t1 - t0)))
echo "n1 vdiskd used ${cpu}% of a CPU in the second after its descriptors ran out ($(fd_count "$p1") open now)"
wait "$flood_pid" || fail "vdpeer flood failed: $(cat "$VDT_TMP/flood.err")"
echo "vdpeer: $(tail -n1 "$VDT_TMP/flood.json")"
wait "$ping_pid" || true
ping_check "ping stream n1 -> n2 through the flood" "$(cat "$VDT_TMP/ping.json")"
log_since n1 "$mark" | grep -vE "handshake timed out|from node 0 link 0" | grep -m 5 -iE "warning|error" || true
((cpu <= CPU_MAX_PCT)) ||
	fail "n1's vdiskd used ${cpu}% of a CPU while its descriptors were exhausted (an accept loop spinning on EMFILE?), want <= ${CPU_MAX_PCT}%"
echo "ok: no busy loop while out of descriptors"

step "after the flood: a restarted n2 is reconnected"
fds_below() { (($(fd_count "$p1") < $1)); }
retry_until 5 fds_below $((NOFILE / 2)) ||
	fail "n1 still holds $(fd_count "$p1") descriptors 5 s after the flood"
vdc kill n2 vdiskd
# `link status` is a snapshot taken every heartbeat interval: wait until it
# shows n2 gone, or a stale "up" could start the ping below too early.
wait_link_state n1 n2 0 down 5
wait_link_state n1 n2 1 down 5
vdc start n2 vdiskd
wait_links_up n1 10 n2 n3
ping_ok "ping n1 -> n2 after the flood and n2's restart" n1 n2 --count 50 --interval 5 --size 4096
assert_alive "$p1" "$(vdiskd_pid n2)" "$(vdiskd_pid n3)"
