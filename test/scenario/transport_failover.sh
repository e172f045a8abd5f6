#!/usr/bin/env bash
# Transport failover: a steady ping stream n1 -> n2 while link 0 of n1 goes
# down and comes back. The link is seen down within heartbeat timeout +
# 200 ms, the stream moves to link 1 and back, nothing is lost or corrupted,
# and the longest gap without an answer is reported. Last, [links] in
# vdisk.conf puts the transport's links on other addresses than corosync's
# rings (swapped here), and cutting an interface takes down the vdisk link
# that runs over it.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

HB_TIMEOUT_MS=1000 # the default, which this cluster uses
DETECT_MAX_MS=$((HB_TIMEOUT_MS + 200))
GAP_MAX_MS=$((HB_TIMEOUT_MS + 500))

step "3 nodes, 2 links, default transport settings"
vdc up
wait_links_up n1 10 n2 n3

j=$(links_json n1)
vctl n1 link status
jcheck "n1 has 2 links to each of n2 and n3" "$j" \
	'[.links[] | select(.node == 2 or .node == 3)] | length == 4'
jcheck "every link of n1 is up with a round-trip time" "$j" \
	'.links | all(.state == "up" and .rtt_min_us > 0 and .rtt_avg_us > 0 and
		.rtt_max_us >= .rtt_avg_us and .rtt_avg_us >= .rtt_min_us and .member == true)'
jcheck "each link counts the heartbeats it carries, apart from the data" "$j" \
	'.links | all(.hb_tx > 0 and .hb_rx > 0)'
jcheck "addresses come from corosync's ring addresses" "$j" \
	'[.links[] | select(.node == 2) | .remote] == ["10.201.0.2:5420", "10.201.1.2:5420"]'
jcheck "policy is passive by default" "$j" '.policy == "passive"'

tx0_start=$(link_field n1 n2 0 tx_bytes)
tx1_start=$(link_field n1 n2 1 tx_bytes)

step "ping stream n1 -> n2: 400 x 1 KiB, one every 20 ms"
vctl n1 --json ping n2 --count 400 --interval 20 --size 1024 >"$VDT_TMP/ping.json" \
	2>"$VDT_TMP/ping.err" &
ping_pid=$!
sleep 2
kill -0 "$ping_pid" 2>/dev/null || fail "the ping ended early: $(cat "$VDT_TMP/ping.err")"

step "link 0 of n1 down"
tx1_before=$(link_field n1 n2 1 tx_bytes)
ip -n "$VDC_PREFIX-n1" link set link0 down
t_down=$(now_ms)
detected=
prev_start=$t_down
while :; do
	t_call=$(now_ms)
	s=$(link_state_fast n1 n2 0)
	if [[ $s == down ]]; then
		detected=$((t_call - t_down))
		break
	fi
	prev_start=$t_call
	if ((t_call - t_down > 5000)); then
		vctl n1 link status >&2
		fail "link 0 to n2 still '$s' 5 s after it went down"
	fi
	sleep 0.05
done
echo "link 0 down detected after $detected ms (last poll still 'up' at $((prev_start - t_down)) ms; heartbeat timeout $HB_TIMEOUT_MS ms)"
((detected <= DETECT_MAX_MS)) ||
	fail "link 0 seen down after $detected ms, more than heartbeat timeout + 200 ms ($DETECT_MAX_MS ms)"
echo "ok: link 0 down within heartbeat timeout + 200 ms"
assert_eq "link 1 to n2 stays up" "$(link_state_fast n1 n2 1)" up
jcheck "n2 is still a member" "$(links_json n1)" \
	'.links | map(select(.node == 2)) | all(.member == true)'

sleep 2
tx1_during=$(link_field n1 n2 1 tx_bytes)
echo "link 1 carried $((tx1_during - tx1_before)) bytes n1 -> n2 while link 0 was down"
# 2-3 s of 50 pings/s of 1 KiB plus headers: well over 50 KiB.
((tx1_during - tx1_before >= 50 * 1024)) ||
	fail "the stream did not move to link 1: only $((tx1_during - tx1_before)) bytes on it"
echo "ok: the stream moved to link 1"

step "link 0 of n1 up"
ip -n "$VDC_PREFIX-n1" link set link0 up
t_up=$(now_ms)
wait_link_state n1 n2 0 up 5
echo "link 0 back up after $(($(now_ms) - t_up)) ms"
tx0_back=$(link_field n1 n2 0 tx_bytes)
kill -0 "$ping_pid" 2>/dev/null ||
	echo "note: the ping stream ended before link 0 was back (no check of the move back)"
stream_running=0
if kill -0 "$ping_pid" 2>/dev/null; then stream_running=1; fi

rc=0
wait "$ping_pid" || rc=$?
pj=$(cat "$VDT_TMP/ping.json")
jq_holds "$pj" 'type == "object"' || fail "ping produced no JSON (exit $rc): $(cat "$VDT_TMP/ping.err")"
echo "longest gap: $(jq -r '.max_gap_us / 1000' <<<"$pj") ms"
ping_check "ping stream across the failover" "$pj"
((rc == 0)) || fail "vdiskctl ping exited $rc although nothing was lost: $(cat "$VDT_TMP/ping.err")"
gap_ms=$(jq -r '.max_gap_us / 1000 | floor' <<<"$pj")
((gap_ms <= GAP_MAX_MS)) ||
	fail "longest gap $gap_ms ms, more than heartbeat timeout + 500 ms ($GAP_MAX_MS ms)"
echo "ok: longest gap $gap_ms ms <= $GAP_MAX_MS ms"

j=$(links_json n1)
vctl n1 link status
jcheck "link 0 to n2 up again and counted one down" "$j" \
	'.links[] | select(.node == 2 and .link == 0) | .state == "up" and .downs >= 1 and .last_change > 0'
jcheck "link 1 to n2 never went down" "$j" \
	'.links[] | select(.node == 2 and .link == 1) | .state == "up" and .downs == 0'
if ((stream_running)); then
	tx0_end=$(jq '.links[] | select(.node == 2 and .link == 0) | .tx_bytes' <<<"$j")
	echo "link 0 carried $((tx0_end - tx0_back)) bytes after it came back"
	((tx0_end > tx0_back)) || fail "passive policy did not move the stream back to link 0"
	echo "ok: the stream moved back to link 0 (passive: priority order)"
fi
echo "n1 -> n2 bytes over the whole test: link 0 $(($(link_field n1 n2 0 tx_bytes) - tx0_start)), link 1 $(($(link_field n1 n2 1 tx_bytes) - tx1_start))"

step "a fresh ping after the failover"
ping_ok "ping n2 after the failover" n1 n2 --count 20 --interval 10 --size 4096
ping_ok "ping n3 after the failover" n1 n3 --count 20 --interval 10 --size 4096

step "[links] in vdisk.conf names the transport's addresses instead of corosync's"
# Every node's links swapped: vdisk's link 0 runs over corosync's ring1
# network and link 1 over ring0.
for n in 1 2 3; do
	{
		echo "[links]"
		for m in 1 2 3; do echo "n$m = 10.201.1.$m, 10.201.0.$m"; done
	} >>"$VDC_DIR/n$n/vdisk.conf"
	vdc restart "n$n" vdiskd
done
for n in n1 n2 n3; do expect_ok "$n synced" vdc wait-synced "$n" 20; done
wait_links_up n1 10 n2 n3
jcheck "n1's link 0 to n2 runs between the ring1 addresses" "$(links_json n1)" \
	'.links[] | select(.node == 2 and .link == 0) | (.remote | startswith("10.201.1.2:")) and (.local | startswith("10.201.1.1"))'
jcheck "n1's link 1 to n2 runs between the ring0 addresses" "$(links_json n1)" \
	'.links[] | select(.node == 2 and .link == 1) | (.remote | startswith("10.201.0.2:"))'
ip -n "$VDC_PREFIX-n1" link set link1 down
wait_link_state n1 n2 0 down 3
link_state_fast n1 n2 1 | grep -qx up || fail "vdisk link 1 (ring0 network) went down with the ring1 interface"
ping_ok "ping n2 over vdisk link 1 while the ring1 network is cut" n1 n2 --count 20 --interval 10 --size 4096
ip -n "$VDC_PREFIX-n1" link set link1 up
wait_link_state n1 n2 0 up 10
echo "ok: cutting the ring1 interface took vdisk link 0 down, link 1 carried on"
