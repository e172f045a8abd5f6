#!/usr/bin/env bash
# Transport policies: with `policy = stripe`, 1 MiB pings n1 -> n2 are split
# across both links: every message has a fragment on each (a single message
# moves about half its bytes over each link, each way; a bulk of N messages
# is at least N frames on each link), the byte counters of both grow by the
# bulk, and every payload comes back intact, once. With the default `passive`
# policy one link carries it all, and the two ends' counters of a link agree;
# one-way pings (--oneway) carry the payload to the peer and nothing back.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

MIB=$((1024 * 1024))
COUNT=50 # 1 MiB pings: 50 MiB each way

# counters NODE PEER: "tx0 rx0 tx1 rx1 txf0 rxf0 txf1 rxf1" of NODE's links
# to PEER, bytes then frames.
counters() {
	local j
	j=$(links_json "$1") || fail "$1: link status failed"
	jq -er --argjson p "${2#n}" '[.links[] | select(.node == $p)] | sort_by(.link) |
		"\(.[0].tx_bytes) \(.[0].rx_bytes) \(.[1].tx_bytes) \(.[1].rx_bytes) " +
		"\(.[0].tx_frames) \(.[0].rx_frames) \(.[1].tx_frames) \(.[1].rx_frames)"' <<<"$j"
}

# ping_counted DESC PING_ARGS...: a ping n1 -> n2 that must lose nothing;
# sets D_TX0 D_RX0 D_TX1 D_RX1 (bytes) and D_TXF0 D_RXF0 D_TXF1 D_RXF1
# (frames), what n1's counters of its links to n2 grew by.
ping_counted() {
	local desc=$1 a b
	shift
	a=$(counters n1 n2)
	ping_ok "$desc" n1 n2 "$@"
	# The counters are a snapshot taken every heartbeat interval (200 ms).
	sleep 0.5
	b=$(counters n1 n2)
	read -r a0 a1 a2 a3 a4 a5 a6 a7 <<<"$a"
	read -r b0 b1 b2 b3 b4 b5 b6 b7 <<<"$b"
	D_TX0=$((b0 - a0)) D_RX0=$((b1 - a1)) D_TX1=$((b2 - a2)) D_RX1=$((b3 - a3))
	D_TXF0=$((b4 - a4)) D_RXF0=$((b5 - a5)) D_TXF1=$((b6 - a6)) D_RXF1=$((b7 - a7))
	printf 'n1 -> n2 counters grew: link 0 tx %d KiB/%d frames rx %d KiB/%d frames, link 1 tx %d KiB/%d frames rx %d KiB/%d frames\n' \
		$((D_TX0 / 1024)) "$D_TXF0" $((D_RX0 / 1024)) "$D_RXF0" \
		$((D_TX1 / 1024)) "$D_TXF1" $((D_RX1 / 1024)) "$D_RXF1"
}

# bulk_ping POLICY: 50 x 1 MiB n1 -> n2, window 4, through ping_counted.
bulk_ping() {
	ping_counted "$COUNT x 1 MiB n1 -> n2 ($1)" --size 1M --count "$COUNT" --interval 0 --window 4
	echo "$1: $(jq -r '.throughput_mib_s * 10 | floor / 10' <<<"$PING_JSON") MiB/s each way (echo)"
}

# ends_agree NODE PEER LINK: NODE's tx counters of LINK to PEER equal PEER's
# rx counters of LINK from NODE, bytes and frames (both count what went on
# the link, acknowledgements included).
ends_agree() {
	local a b
	a=$(jq -er --argjson p "${2#n}" --argjson l "$3" \
		'.links[] | select(.node == $p and .link == $l) | "\(.tx_bytes) \(.tx_frames)"' \
		<<<"$(links_json "$1")") || return 1
	b=$(jq -er --argjson p "${1#n}" --argjson l "$3" \
		'.links[] | select(.node == $p and .link == $l) | "\(.rx_bytes) \(.rx_frames)"' \
		<<<"$(links_json "$2")") || return 1
	[[ $a == "$b" ]]
}

step "stripe: 3 nodes, 2 links, policy = stripe"
export VDC_TRANSPORT_EXTRA="policy = stripe"
vdc up
wait_links_up n1 10 n2 n3
jcheck "n1 runs the stripe policy" "$(links_json n1)" '.policy == "stripe"'
bulk_ping stripe
for v in D_TX0 D_RX0 D_TX1 D_RX1; do
	((${!v} >= 10 * MIB)) || fail "stripe: $v grew by only $((${!v} / 1024)) KiB, want >= 10 MiB on each link each way"
done
echo "ok: stripe: both links carried >= 10 MiB each way"
# Roughly even: neither link carries more than 3/4 of the bulk.
total=$((D_TX0 + D_TX1))
((D_TX0 * 4 <= total * 3 && D_TX1 * 4 <= total * 3)) ||
	fail "stripe: uneven split, link 0 $D_TX0 bytes, link 1 $D_TX1 bytes"
echo "ok: stripe: split $((D_TX0 * 100 / total))% / $((D_TX1 * 100 / total))%"
# Whole messages dealt out in turn would give each link COUNT / 2 frames
# (acknowledgements aside) but the same bytes: the frame counts and the
# single message below tell fragments from that.
for v in D_TXF0 D_RXF0 D_TXF1 D_RXF1; do
	((${!v} >= COUNT)) || fail "stripe: $v grew by only ${!v} frames, want >= $COUNT (a fragment of each message)"
done
echo "ok: stripe: each link carried >= $COUNT frames each way"

step "stripe: one 1 MiB message is split across both links, both ways"
ping_counted "one 1 MiB ping n1 -> n2" --size 1M --count 1
for v in D_TX0 D_RX0 D_TX1 D_RX1; do
	((${!v} >= MIB / 4)) || fail "stripe: $v grew by only ${!v} bytes for one 1 MiB message, want >= 256 KiB: it was not split"
done
echo "ok: stripe: the request and its echo each went half over link 0, half over link 1"

step "stripe: sizes that do not split evenly, small and odd"
ping_ok "1 MiB + 1 byte" n1 n2 --size 1048577 --count 10 --interval 0 --window 4
ping_ok "64 KiB - 1 (below the striping threshold)" n1 n2 --size 65535 --count 50 --interval 0 --window 8
ping_ok "3 MiB + 7 bytes" n1 n2 --size 3145735 --count 5 --interval 0 --window 2
ping_ok "16 MiB (the largest ping)" n1 n2 --size 16M --count 3 --interval 0 --window 1
ping_ok "empty payloads" n1 n2 --size 0 --count 20 --interval 0 --window 4

step "stripe: link 0 down during a bulk stream"
vctl n1 --json ping n2 --size 1M --count 400 --interval 10 >"$VDT_TMP/ping.json" 2>"$VDT_TMP/ping.err" &
ping_pid=$!
sleep 1
ip -n "$VDC_PREFIX-n1" link set link0 down
wait_link_state n1 n2 0 down 3
sleep 1
ip -n "$VDC_PREFIX-n1" link set link0 up
wait "$ping_pid" || true
ping_check "1 MiB stream across a link failure under stripe" "$(cat "$VDT_TMP/ping.json")"
wait_link_state n1 n2 0 up 5

step "passive: 3 nodes, 2 links, default policy"
export VDC_TRANSPORT_EXTRA=
vdc up
wait_links_up n1 10 n2 n3
jcheck "n1 runs the passive policy" "$(links_json n1)" '.policy == "passive"'
bulk_ping passive
((D_TX0 >= COUNT * MIB && D_RX0 >= COUNT * MIB)) ||
	fail "passive: link 0 carried only tx $D_TX0 / rx $D_RX0 bytes, want >= $COUNT MiB each way"
((D_TX1 < MIB && D_RX1 < MIB)) ||
	fail "passive: link 1 carried tx $D_TX1 / rx $D_RX1 bytes, want < 1 MiB (it is the standby)"
echo "ok: passive: link 0 carried the bulk, link 1 $D_TX1 / $D_RX1 bytes"
# No link of this cluster went down, so nothing was queued on a connection
# that died: what one end sent, the other received.
for l in 0 1; do
	for pair in "n1 n2" "n2 n1"; do
		# shellcheck disable=SC2086 # two words on purpose
		retry_until 3 ends_agree $pair "$l" ||
			fail "link $l: tx counters of ${pair% *} to ${pair#* } != rx counters of ${pair#* } from ${pair% *}: $(links_json "${pair% *}") $(links_json "${pair#* }")"
	done
done
echo "ok: passive: the tx counters of each end equal the rx counters of the other, bytes and frames"

step "passive: one-way pings carry the payload to the peer only"
ping_counted "$COUNT x 1 MiB one way n1 -> n2" --size 1M --count "$COUNT" --interval 0 --window 4 --oneway
jcheck "the session was one way" "$PING_JSON" '.oneway == true and .corrupt == 0'
((D_TX0 >= COUNT * MIB)) || fail "one way: link 0 sent only $D_TX0 bytes, want >= $COUNT MiB"
((D_RX0 < MIB)) || fail "one way: link 0 received $D_RX0 bytes back, want < 1 MiB (answers carry no payload)"
echo "ok: one way: link 0 sent $((D_TX0 / MIB)) MiB and received $((D_RX0 / 1024)) KiB of answers"
ping_ok "one way, empty payloads" n1 n2 --size 0 --count 10 --interval 0 --window 4 --oneway
ping_ok "one way, 3 bytes (shorter than the index)" n1 n2 --size 3 --count 10 --interval 0 --window 4 --oneway
ping_ok "one way, 3 MiB + 7 bytes" n1 n2 --size 3145735 --count 5 --interval 0 --window 2 --oneway
