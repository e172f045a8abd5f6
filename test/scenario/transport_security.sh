#!/usr/bin/env bash
# Transport security, with a cluster key (VDC_AUTHKEY=1): a raw client
# (test/tools/vdpeer.py) in n2's namespace talks to n1's link 0 listener,
# 10.201.0.1:5420, and
#   a) sends garbage; says hello as a non-member or on the wrong link;
#   b) answers the challenge with a MAC from the wrong key, or with a data
#      frame instead of its AUTH;
#   c) completes the handshake with the right key, then sends a truncated,
#      an oversized, a foreign-magic, a forged-source or a bad-flags frame;
#   d) sends heartbeats with a bad MAC, and forged pongs that try to keep a
#      dead link up.
# Each is disconnected (or ignored) and logged, and n1 keeps serving: after
# each, a ping n1 -> n2 loses nothing and every vdiskd is alive.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

N1=10.201.0.1
PORT=5420

step "3 nodes, 2 links, a 128-byte cluster key"
export VDC_AUTHKEY=1
vdc up
KEY=$VDC_DIR/authkey
[[ -s $KEY ]] || fail "no key at $KEY"
grep -qxF "authkey = $KEY" "$VDC_DIR/n1/vdisk.conf" || fail "n1's vdisk.conf does not name $KEY"
wait_links_up n1 10 n2 n3
pids=()
for n in 1 2 3; do pids+=("$(vdiskd_pid "n$n")"); done
ping_ok "ping n1 -> n3 (history on the channel)" n1 n3 --count 100 --interval 0 --window 4 --size 4096

# peer ARGS...: vdpeer.py in n2's namespace; its JSON line in $PEER.
PEER=
peer() {
	local rc=0
	PEER=$(vdc exec n2 python3 "$VDPEER" "$@" 2>"$VDT_TMP/peer.err") || rc=$?
	echo "vdpeer $1: $PEER"
	if ((rc == 2)) || [[ -z $PEER ]]; then
		fail "vdpeer $* could not run (exit $rc): $(cat "$VDT_TMP/peer.err")"
	fi
	return $rc
}

# still_serving DESC: n1 -> n2 loses nothing, every vdiskd is alive.
still_serving() {
	ping_ok "after $1: ping n1 -> n2" n1 n2 --count 50 --interval 2 --size 4096
	assert_alive "${pids[@]}"
}

step "a) 88 bytes of garbage"
mark=$(log_mark n1)
peer garbage "$N1" "$PORT" || fail "garbage: n1 did not disconnect"
jcheck "garbage: disconnected" "$PEER" '.closed == true and .closed_after_ms < 1000'
expect_log n1 "$mark" "not a vdisk handshake, disconnecting" 2
still_serving "garbage"

step "a) 10 bytes, then silence (less than a handshake message)"
mark=$(log_mark n1)
peer garbage "$N1" "$PORT" --bytes 10 --timeout 6 || fail "short garbage: n1 did not disconnect"
jcheck "short garbage: disconnected by the handshake timeout" "$PEER" \
	'.closed == true and .closed_after_ms >= 2500 and .closed_after_ms < 5000'
expect_log n1 "$mark" "closed: handshake timed out" 2
still_serving "short garbage"

step "a) hello from a non-member (node 7), and from node 2 on the wrong link"
mark=$(log_mark n1)
peer hello "$N1" "$PORT" --node 7 --link 0 --auth none || fail "non-member hello not refused"
jcheck "non-member: refused without a reply" "$PEER" '.closed == true and .reply == null'
expect_log n1 "$mark" "hello from node 7 link 0 refused" 2
peer hello "$N1" "$PORT" --node 2 --link 1 --auth none || fail "wrong-link hello not refused"
jcheck "wrong link: refused without a reply" "$PEER" '.closed == true and .reply == null'
expect_log n1 "$mark" "hello from node 2 link 1 refused" 2
still_serving "refused hellos"

step "b) hello as node 2, challenge answered with the wrong key"
mark=$(log_mark n1)
peer hello "$N1" "$PORT" --node 2 --link 0 --key "$KEY" --auth wrong ||
	fail "wrong key: not disconnected, or n1's reply did not prove the key"
jcheck "wrong key: n1 replied as node 1 with a valid MAC, then disconnected" "$PEER" \
	'.reply.type == 2 and .reply.nodeid == 1 and .reply.link == 0 and .reply_mac_ok == true and .closed == true'
expect_log n1 "$mark" "node 2 failed authentication, disconnecting" 2
log_has n1 "$mark" "connection from node 2 link 0 .* authenticated" &&
	fail "n1 logged the wrong-key connection as authenticated"
still_serving "the wrong key"

step "b) hello as node 2, a data frame instead of AUTH"
mark=$(log_mark n1)
peer hello "$N1" "$PORT" --node 2 --link 0 --key "$KEY" --auth skip ||
	fail "skipped AUTH: not disconnected"
jcheck "skipped AUTH: disconnected" "$PEER" '.reply_mac_ok == true and .closed == true'
expect_log n1 "$mark" "not a vdisk handshake, disconnecting" 2
still_serving "the skipped AUTH"

step "d) heartbeats with a bad MAC are logged and ignored"
mark=$(log_mark n1)
peer hb "$N1" "$PORT" --node 2 --link 0 --type ping --mac bad --count 20 --interval 10
jcheck "bad-MAC heartbeat pings: no answer" "$PEER" '.sent == 20 and .answers == 0'
expect_log n1 "$mark" "heartbeat from 10\.201\.0\.2:[0-9]+ \(claims node 2\) fails authentication" 2
bad_lines=$(log_since n1 "$mark" | grep -c "fails authentication" || true)
echo "n1 logged $bad_lines lines for 20 bad heartbeats"
peer hb "$N1" "$PORT" --node 2 --link 0 --type ping --mac good --key "$KEY" --count 5 --interval 20
jcheck "control: good-MAC heartbeat pings are answered" "$PEER" '.sent == 5 and .answers >= 4'

step "d) forged pongs cannot keep a dead link up"
# Drop n1's real heartbeats on link 1 (they come from port 5420): the link
# dies, but the forged pongs (from another port) still get through.
ip netns exec "$VDC_PREFIX-n1" nft -f - <<'EOF'
table inet vdtr_hb
delete table inet vdtr_hb
table inet vdtr_hb {
	chain input {
		type filter hook input priority -50; policy accept;
		iifname "link1" udp sport 5420 drop
	}
}
EOF
wait_link_state n1 n2 1 down 3
peer hb 10.201.1.1 "$PORT" --node 2 --link 1 --type pong --mac bad --count 75 --interval 20
assert_eq "link 1 to n2 after 1.5 s of bad-MAC pongs" "$(link_state_fast n1 n2 1)" down
peer hb 10.201.1.1 "$PORT" --node 2 --link 1 --type pong --mac good --key "$KEY" --count 25 --interval 20
s=$(link_state_fast n1 n2 1)
[[ $s != down ]] || fail "control: pongs with the right MAC did not revive link 1 (the forged-pong check proves nothing)"
echo "ok: control: pongs with the right MAC do revive it ($s)"
ip netns exec "$VDC_PREFIX-n1" nft delete table inet vdtr_hb
wait_links_up n1 5 n2 n3
still_serving "forged heartbeats"

# c) The right key, then a broken frame. The client claims node 3 (it could
# be any member; the key is what it needs), so n1 -> n2 must not notice.
step "c) handshake with the right key as node 3, then broken frames"
for kind in oversized badmagic wrongsrc badflags; do
	# The real n3 back on both links first: its reconnection would kick
	# the impostor out (a new incarnation resets the channel) and blur
	# what closed it.
	wait_links_up n1 5 n3
	mark=$(log_mark n1)
	peer frame "$N1" "$PORT" --node 3 --link 0 --key "$KEY" --kind "$kind" ||
		fail "$kind frame: not disconnected ($PEER)"
	jcheck "$kind frame: authenticated, then disconnected" "$PEER" \
		'.reply_mac_ok == true and .closed == true'
	expect_log n1 "$mark" "connection from node 3 link 0 \(10\.201\.0\.2:[0-9]+\) authenticated" 2
	expect_log n1 "$mark" "10\.201\.0\.2:[0-9]+: bad frame from node 3 \(.*\), disconnecting" 2
	still_serving "a $kind frame"
done
wait_links_up n1 5 n3
mark=$(log_mark n1)
peer frame "$N1" "$PORT" --node 3 --link 0 --key "$KEY" --kind truncated
jcheck "truncated frame: authenticated, 40 bytes of a header, then we left" "$PEER" \
	'.reply_mac_ok == true'
port=$(sed -nE '/.*connection from node 3 link 0 \(10\.201\.0\.2:([0-9]+)\) authenticated.*/{s//\1/p;q}' <(log_since n1 "$mark"))
[[ -n $port ]] || fail "n1 did not log the truncated-frame client as authenticated"
expect_log n1 "$mark" "connection from node 3 link 0 \(10\.201\.0\.2:$port\) closed: (closed by peer|peer restarted)" 2
if log_has n1 "$mark" "10\.201\.0\.2:$port: bad frame"; then
	fail "n1 decoded a frame out of 40 bytes of a header"
fi
echo "ok: nothing decoded from a truncated header"
still_serving "a truncated frame"
log_since n1 0 | grep -E "bad frame|failed authentication|not a vdisk handshake|refused" | sed 's/^/  n1: /'

# The client held the key, so n1 took it for node 3 and, seeing a new
# incarnation, reset its channel to node 3; the real n3 never restarted and
# keeps its side. Whoever holds the cluster key is a member as far as the
# transport can tell; resynchronising both sides of a channel after such an
# impostor needs a channel epoch in the handshake, which the transport does
# not have yet (a known limitation). Restarting n3's vdiskd gives both sides a
# fresh channel, and n1 must serve it at once.
step "the node the client impersonated is served again after it restarts"
vdc restart n3 vdiskd
vdc wait-synced n3 20
wait_links_up n1 10 n3
ping_ok "ping n1 -> n3 after the impersonation and n3's restart" \
	n1 n3 --count 100 --interval 5 --size 4096
pids=("${pids[@]:0:2}" "$(vdiskd_pid n3)")
assert_alive "${pids[@]}"
