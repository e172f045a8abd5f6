#!/usr/bin/env bash
# Transport policies: with `policy = stripe`, 1 MiB pings n1 -> n2 are split
# across both links (the byte counters of both grow by the bulk, both ways,
# and every payload comes back intact); with the default `passive` policy
# one link carries it all.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

MIB=$((1024 * 1024))
COUNT=50 # 1 MiB pings: 50 MiB each way

# counters NODE PEER: "tx0 rx0 tx1 rx1" of NODE's links to PEER.
counters() {
	local j
	j=$(links_json "$1") || fail "$1: link status failed"
	jq -er --argjson p "${2#n}" '[.links[] | select(.node == $p)] | sort_by(.link) |
		"\(.[0].tx_bytes) \(.[0].rx_bytes) \(.[1].tx_bytes) \(.[1].rx_bytes)"' <<<"$j"
}

# bulk_ping: 50 x 1 MiB n1 -> n2, window 4; sets D_TX0 D_RX0 D_TX1 D_RX1 (bytes).
bulk_ping() {
	local a b
	a=$(counters n1 n2)
	ping_ok "$COUNT x 1 MiB n1 -> n2 ($1)" n1 n2 --size 1M --count "$COUNT" --interval 0 --window 4
	echo "$1: $(jq -r '.throughput_mib_s * 10 | floor / 10' <<<"$PING_JSON") MiB/s (payload one way)"
	# The counters are a snapshot taken every heartbeat interval (200 ms).
	sleep 0.5
	b=$(counters n1 n2)
	read -r a0 a1 a2 a3 <<<"$a"
	read -r b0 b1 b2 b3 <<<"$b"
	D_TX0=$((b0 - a0)) D_RX0=$((b1 - a1)) D_TX1=$((b2 - a2)) D_RX1=$((b3 - a3))
	printf 'n1 -> n2 byte counters grew: link 0 tx %d MiB rx %d MiB, link 1 tx %d MiB rx %d MiB\n' \
		$((D_TX0 / MIB)) $((D_RX0 / MIB)) $((D_TX1 / MIB)) $((D_RX1 / MIB))
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
