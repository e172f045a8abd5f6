#!/usr/bin/env bash
# Data safety when corosync freezes on a node with local clients (I4: one
# writer per shared device; a node outside the quorate membership, or unable
# to prove it is inside, stops shared I/O within a stated bound). vd1's
# primary path is n2, its secondary n3, one file. vdwriter on n2 itself
# (n2's own NBD socket, blocks 64-127) and on n1 (blocks 0-63) write while
# n2's corosync is stopped (SIGSTOP) for FREEZE_S seconds; n2's vdiskd goes
# on running. The others lose n2 from the membership after the token
# timeout, fence it for a lease and then serve vd1 through n3. A vdiskd that
# keeps its stale quorate view (as it did) goes on acknowledging its local
# writer the whole time: two writers on the shared device. vdiskd now stops
# issuing I/O once its lease runs out (vdiskd(8), DATA SAFETY, "lease:
# expired"): n2's writer gets no acknowledgement after its last beat +
# lease_ms. The check: n2's writer's last acknowledgement before SIGCONT
# precedes the moment n1 sees n2 leave the CPG group + the lease. Then
# corosync goes on, the cluster heals, and every block of both writers is
# checked from every node.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000
# Long past token + consensus + lease + fence margin (about 9 s in these
# clusters): a node that never stops is unmistakable.
FREEZE_S=12

safety_cluster "$TIMEOUT_MS"

step "vd1: primary n2, secondary n3, one file"
shared_disk vd1
wait_nbd n2 vd1

step "the lease the others give a node that corosync loses"
lease_line=$(grep -m1 -E 'lease: [0-9]+ ms \(corosync token' "$VDC_DIR/n1/vdiskd.log" || true)
if [[ -n $lease_line ]]; then
	lease_ms=$(sed -E 's/.*lease: ([0-9]+) ms.*/\1/' <<<"$lease_line")
	echo "n1: ${lease_line#*] }"
else
	# No lease in this vdiskd: the bound its design states (token +
	# consensus + 1 s, as vdiskd computes it), from corosync's own figures.
	token=$(vdc exec n1 corosync-cmapctl -g runtime.config.totem.token | awk '{ print $NF }')
	consensus=$(vdc exec n1 corosync-cmapctl -g runtime.config.totem.consensus | awk '{ print $NF }')
	lease_ms=$((token + consensus + 1000))
	echo "n1 logs no lease; the bound takes corosync token $token + consensus $consensus + 1000 = $lease_ms ms"
fi

step "vdwriter on n1 (blocks 0-63) and on n2 itself (blocks 64-127), qd 4, 200 writes/s each"
vdw_start w1 n1 vd1 --writer 1 --first 0 --blocks 64 --qd 4 --rate 200 --reconnect-ms 100
vdw_start w2 n2 vd1 --writer 2 --first 64 --blocks 64 --qd 4 --rate 200 --reconnect-ms 100
retry_until 10 vdw_acked_after w1 0 200 || fail "vdwriter on n1 acknowledged nothing: $(cat "$VDT_TMP/w1.err")"
retry_until 10 vdw_acked_after w2 0 200 || fail "vdwriter on n2 acknowledged nothing: $(cat "$VDT_TMP/w2.err")"

step "SIGSTOP n2's corosync for ${FREEZE_S}s (n2's vdiskd goes on)"
mark1=$(log_mark n1)
mark2=$(log_mark n2)
# The signals go straight to the pid, so the times taken are theirs (vdc
# would add its own start-up).
cpid=$(vdc pid n2 corosync)
t_freeze=$(now_ms)
kill -STOP "$cpid"
# Polled every 50 ms: the moment seen is at most that much (and a grep)
# after the line was logged.
leave_pat='CPG group [^:]*: 2 members'
for ((i = 0; i < 300; i++)); do
	log_has n1 "$mark1" "$leave_pat" && break
	sleep 0.05
done
log_has n1 "$mark1" "$leave_pat" || fail "n1 never saw n2 leave the CPG group after its corosync froze"
t_leave=$(now_ms)
echo "n1 saw n2 leave the CPG group $((t_leave - t_freeze)) ms after the freeze: $(log_since n1 "$mark1" | grep -m1 -E "$leave_pat")"
# secs_left: whole seconds of the freeze still to come.
secs_left() { echo $(((t_freeze + FREEZE_S * 1000 - $(now_ms)) / 1000)); }
t_expired=
if retry_until "$(($(secs_left) - 1))" log_has n2 "$mark2" 'lease: expired'; then
	t_expired=$(now_ms)
	echo "n2 logged its lease expired by $((t_expired - t_freeze)) ms after the freeze: $(log_since n2 "$mark2" | grep -m1 'lease: expired')"
else
	echo "n2 logged no lease expiry"
fi
# The others serve vd1 through n3 once n2's fence ends.
retry_until "$(secs_left)" vdw_acked_after w1 "$((t_leave + lease_ms))" 50 ||
	fail "the writer on n1 does not go on through n3 while n2 is out of the membership ($(vdw_acks_after w1 "$t_leave") acknowledged since n2 left)"
first_n3=$(awk -v t="$t_leave" '$1 == "A" && $4 > t { print $4; exit }' "$(vdw_log w1)")
left=$((t_freeze + FREEZE_S * 1000 - $(now_ms)))
((left <= 0)) || sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
t_cont=$(now_ms)
kill -CONT "$cpid"
echo "n2's corosync went on after $((t_cont - t_freeze)) ms"

step "I4: n2's writer got no acknowledgement past n2 leaving + the lease"
last_w2=$(awk -v t="$t_cont" '$1 == "A" && $4 < t && $4 > m { m = $4 } END { print m + 0 }' "$(vdw_log w2)")
bound=$((t_leave + lease_ms))
echo "times after the freeze (ms): n1 saw n2 leave $((t_leave - t_freeze)); lease $lease_ms; bound $((bound - t_freeze));" \
	"n2's own lease ends by $lease_ms; n2's writer's last ack $((last_w2 - t_freeze)); n1's writer's first ack after n2 left $((${first_n3:-t_freeze} - t_freeze))"
echo "n2's writer: $(($(vdw_acks_after w2 "$t_freeze") - $(vdw_acks_after w2 "$t_cont"))) writes acknowledged during the freeze," \
	"$(($(vdw_acks_after w2 "$bound") - $(vdw_acks_after w2 "$t_cont"))) of them after the bound"
i4=
if ((last_w2 >= bound)); then
	i4="n2's writer was acknowledged at $((last_w2 - t_freeze)) ms after n2's corosync froze, past the moment n1 saw n2 leave the CPG group + the lease ($((t_leave - t_freeze)) + $lease_ms = $((bound - t_freeze)) ms), while n1's writes went through n3 (first at $((${first_n3:-t_freeze} - t_freeze)) ms): two writers on the shared device (I4)"
	echo "I4 VIOLATED: $i4"
else
	echo "ok: n2's writer's last acknowledgement came $((bound - last_w2)) ms before the bound"
fi

step "the cluster heals; both writers go on"
wait_members n1 3 20
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
retry_until 20 vdw_acked_after w2 "$t_cont" 50 || fail "the writer on n2 does not go on after n2's corosync came back"
retry_until 20 vdw_acked_after w1 "$t_cont" 50 || fail "the writer on n1 does not go on after n2's corosync came back"
vdw_stop w1
vdw_stop w2
for w in w1 w2; do
	echo "writer $w: $(vdw_errors "$w" "$t_freeze") after the freeze; longest stall $(jq .longest_stall_ms "$VDT_TMP/$w.json") ms from $(($(jq .longest_stall_start_ms "$VDT_TMP/$w.json") - t_freeze)) ms"
done
vdiskd_alive n1 n2 n3

step "every block holds its newest acknowledged generation, from every node"
vdw_check_all vd1 w1 w2
no_sanitizer n1 n2 n3
[[ -z $i4 ]] || fail "$VDT_NAME: $i4"
pass "safety_corosync_frozen"
