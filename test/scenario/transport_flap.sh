#!/usr/bin/env bash
# Transport under link flapping: link 0 of n1 goes down and up every 0.5 s
# for 30 s while a ping stream n1 -> n2 runs. Nothing is lost or corrupted,
# no vdiskd dies, and neither n1's vdiskd (which connects) nor n2's (which
# accepts) grows in descriptors or memory. Last, a link address that comes
# up after vdiskd starts is taken up, receive buffers shrink back, and a
# link goes down within the timeout even with a long heartbeat interval.
#
# Heartbeats here are faster than the default (every 50 ms, timeout 300 ms)
# so that every 0.5 s outage is really detected: each cycle closes link 0's
# connections, resends what was in flight on link 1, and reconnects, which
# is the path that could leak. With the default 1 s timeout a 0.5 s outage
# never marks the link down; TCP just retransmits.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

FLAP_S=30
HALF_PERIOD=0.5
FD_SLACK=2
RSS_SLACK_KIB=$((8 * 1024))
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default), so RSS grows without a leak: keep the quarantine small and allow
# more. LeakSanitizer, at vdiskd's exit, is the leak check there.
if grep -q __asan_init "$VDISK_BUILD/service/vdiskd"; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}:quarantine_size_mb=4
	RSS_SLACK_KIB=$((16 * 1024))
	echo "note: sanitized vdiskd: ASAN_OPTIONS=$ASAN_OPTIONS, RSS slack $((RSS_SLACK_KIB / 1024)) MiB"
fi

step "3 nodes, 2 links, heartbeats every 50 ms, timeout 300 ms"
export VDC_TRANSPORT_EXTRA="heartbeat_interval_ms = 50
heartbeat_timeout_ms = 300"
vdc up
wait_links_up n1 10 n2 n3
pids=()
for n in 1 2 3; do pids+=("$(vdiskd_pid "n$n")"); done

step "warm-up ping, then n1's and n2's descriptors and memory"
ping_ok "warm-up ping n1 -> n2" n1 n2 --count 200 --interval 0 --window 8 --size 65536
ping_ok "warm-up ping n1 -> n2, 1 KiB" n1 n2 --count 100 --interval 5 --size 1024
ping_ok "warm-up ping n1 -> n3" n1 n3 --count 100 --interval 5 --size 1024
sleep 0.5
declare -A fd_before rss_before
for n in 1 2; do
	fd_before[$n]=$(fd_count "${pids[n - 1]}")
	rss_before[$n]=$(rss_kib "${pids[n - 1]}")
	echo "n$n vdiskd before: ${fd_before[$n]} descriptors, VmRSS ${rss_before[$n]} KiB"
done
downs_before=$(link_field n1 n2 0 downs)

step "ping stream (1750 x 1 KiB every 20 ms, ~35 s) while link 0 flaps for ${FLAP_S}s"
vctl n1 --json ping n2 --count 1750 --interval 20 --size 1024 >"$VDT_TMP/ping.json" \
	2>"$VDT_TMP/ping.err" &
ping_pid=$!
sleep 1
cycles=0
end=$((SECONDS + FLAP_S))
while ((SECONDS < end)); do
	ip -n "$VDC_PREFIX-n1" link set link0 down
	sleep "$HALF_PERIOD"
	ip -n "$VDC_PREFIX-n1" link set link0 up
	sleep "$HALF_PERIOD"
	cycles=$((cycles + 1))
done
echo "$cycles down/up cycles"
rc=0
wait "$ping_pid" || rc=$?
pj=$(cat "$VDT_TMP/ping.json")
jq_holds "$pj" 'type == "object"' || fail "ping produced no JSON (exit $rc): $(cat "$VDT_TMP/ping.err")"
echo "longest gap: $(jq -r '.max_gap_us / 1000' <<<"$pj") ms"
ping_check "ping stream across $cycles flaps" "$pj"
# Frames resent on link 1 while their first copy still arrives on link 0
# must reach the echo service once.
jcheck "no echo reached the pinger twice across the flaps" "$pj" '.duplicates == 0'

assert_alive "${pids[@]}"
wait_links_up n1 10 n2 n3
downs_after=$(link_field n1 n2 0 downs)
echo "link 0 n1 -> n2 went down $((downs_after - downs_before)) times"
((downs_after - downs_before >= cycles / 2)) ||
	fail "link 0 went down only $((downs_after - downs_before)) times in $cycles cycles: the flapping was not detected"
vctl n1 link status
ping_ok "ping n1 -> n2 after the flapping" n1 n2 --count 100 --interval 0 --window 8 --size 65536
ping_ok "ping n1 -> n3 after the flapping" n1 n3 --count 50 --interval 5 --size 1024

step "n1's and n2's descriptors and memory after"
sleep 0.5
for n in 1 2; do
	p=${pids[n - 1]}
	fd_after=$(fd_count "$p")
	rss_after=$(rss_kib "$p")
	echo "n$n vdiskd: descriptors ${fd_before[$n]} -> $fd_after, VmRSS ${rss_before[$n]} -> $rss_after KiB ($((rss_after - rss_before[$n])) KiB)"
	if ((fd_after > fd_before[$n] + FD_SLACK)); then
		ls -l "/proc/$p/fd" >&2
		fail "n$n's vdiskd grew from ${fd_before[$n]} to $fd_after descriptors"
	fi
	echo "ok: n$n: no descriptor growth (slack $FD_SLACK)"
	((rss_after <= rss_before[$n] + RSS_SLACK_KIB)) ||
		fail "n$n's vdiskd grew from ${rss_before[$n]} to $rss_after KiB of RSS (slack $RSS_SLACK_KIB KiB)"
	echo "ok: n$n: no memory growth (slack $RSS_SLACK_KIB KiB)"
done

# A link address that is not up yet when vdiskd starts (an interface that
# comes up late) is tried again on its own, without waiting for a
# membership change, and its failure is logged once, not once per try.
step "n2's vdiskd starts while its link 1 address is missing"
ip -n "$VDC_PREFIX-n2" addr del 10.201.1.2/24 dev link1
mark=$(log_mark n2)
vdc restart n2 vdiskd
pids[1]=$(vdiskd_pid n2)
expect_log n2 "$mark" "link 1: cannot listen on 10\.201\.1\.2:5420: Cannot assign requested address" 10
# Long enough for several tries at the longest backoff (2 s).
sleep 5
tries=$(log_since n2 "$mark" | grep -c "link 1: cannot listen" || true)
assert_eq "lines logged for link 1's failing tries" "$tries" 1
assert_eq "n1's link 1 to n2 without n2's address" "$(link_state_fast n1 n2 1)" down
ip -n "$VDC_PREFIX-n2" addr add 10.201.1.2/24 dev link1
# The next try, at most the longest backoff and a tick away.
expect_log n2 "$mark" "link 1: listening on 10\.201\.1\.2:5420" 3
wait_links_up n1 10 n2
ping_ok "ping n1 -> n2 with n2's late link 1" n1 n2 --count 100 --interval 0 --window 8 --size 65536
assert_alive "${pids[@]}"

# A connection's receive buffer grows to the largest frame (8 MiB and a
# header) and goes back to its initial size once it is empty and no large
# frame came for 2 s: memory held by every connection, not a leak, so the
# RSS checks above cannot see it.
step "receive buffers grown for 8 MiB frames shrink back once idle"
ping_ok "8 MiB pings n1 -> n2" n1 n2 --count 3 --interval 0 --size 8388608
declare -A rss_big
for n in 1 2; do rss_big[$n]=$(rss_kib "${pids[n - 1]}"); done
sleep 3
for n in 1 2; do
	rss_idle=$(rss_kib "${pids[n - 1]}")
	echo "n$n vdiskd: VmRSS ${rss_big[$n]} KiB after the 8 MiB pings, $rss_idle KiB 3 s later"
	((rss_big[$n] - rss_idle >= 6 * 1024)) ||
		fail "n$n's vdiskd did not give back the receive buffer of its 8 MiB frames"
done
echo "ok: both ends gave their 8 MiB receive buffers back"

# A link is down at its last answer + the timeout, whatever the interval:
# with heartbeats every 1000 ms and a 1200 ms timeout, checking once per
# interval would take up to 2200 ms.
step "heartbeats every 1000 ms, timeout 1200 ms on n1: link 0 down within 1400 ms, 3 times"
sed -i -e 's/^heartbeat_interval_ms = .*/heartbeat_interval_ms = 1000/' \
	-e 's/^heartbeat_timeout_ms = .*/heartbeat_timeout_ms = 1200/' "$VDC_DIR/n1/vdisk.conf"
vdc restart n1 vdiskd
pids[0]=$(vdiskd_pid n1)
for try in 1 2 3; do
	wait_links_up n1 15 n2
	t0=$(now_ms)
	ip -n "$VDC_PREFIX-n1" link set link0 down
	wait_link_state n1 n2 0 down 5
	took=$(($(now_ms) - t0))
	ip -n "$VDC_PREFIX-n1" link set link0 up
	((took <= 1400)) || fail "try $try: link 0 went down $took ms after it was cut (timeout 1200 ms)"
	echo "ok: try $try: link 0 down after $took ms"
done
wait_links_up n1 15 n2 n3
assert_alive "${pids[@]}"
