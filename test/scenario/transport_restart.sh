#!/usr/bin/env bash
# Transport across a peer restart: n2's vdiskd is killed (SIGKILL) and
# started again. n1 sees the new incarnation and resets the channel, both
# links come back within a few seconds, a ping to n2 then loses nothing, and
# n3 is served without a hiccup throughout. A ping to n2 that the kill cuts
# short fails, but still reports how far it got.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/transport_lib.sh
source "$VDISK_SRC/test/tools/transport_lib.sh"

BACK_S=5

step "3 nodes, 2 links"
vdc up
wait_links_up n1 10 n2 n3
p1=$(vdiskd_pid n1)
p3=$(vdiskd_pid n3)
old2=$(vdiskd_pid n2)
ping_ok "ping n2 before (so the channel has history)" n1 n2 --count 200 --interval 0 --window 4 --size 8192
downs0=$(link_field n1 n2 0 downs)
downs1=$(link_field n1 n2 1 downs)

step "ping stream n1 -> n3 while n2 is killed and started again"
vctl n1 --json ping n3 --count 300 --interval 20 --size 1024 >"$VDT_TMP/ping3.json" \
	2>"$VDT_TMP/ping3.err" &
ping3=$!
# And one to n2 that the kill cuts short: its answers are lost, but must
# not upset n1.
vctl n1 --json ping n2 --count 100 --interval 20 --size 1024 >"$VDT_TMP/ping2.json" \
	2>"$VDT_TMP/ping2.err" &
ping2=$!
sleep 1
mark=$(log_mark n1)

step "kill -KILL n2's vdiskd"
vdc kill n2 vdiskd
wait_link_state n1 n2 0 down 5
wait_link_state n1 n2 1 down 5
jcheck "n2 is no longer a member on n1" "$(links_json n1)" \
	'.links | map(select(.node == 2)) | all(.member == false and .state == "down")'
sleep 1

step "start n2's vdiskd"
vdc start n2 vdiskd
t0=$(now_ms)
retry_until "$BACK_S" links_all_up n1 n2 || {
	vctl n1 link status >&2
	fail "n1: links to n2 not up $BACK_S s after n2's vdiskd started"
}
echo "both links n1 -> n2 up $(($(now_ms) - t0)) ms after vdiskd started on n2"
new2=$(vdiskd_pid n2)
[[ $new2 != "$old2" ]] || fail "n2's vdiskd pid did not change ($new2)"
vctl n1 link status
expect_log n1 "$mark" "node 2 restarted \(new incarnation\)" 2
jcheck "n1 counted the downs of both links to n2" "$(links_json n1)" \
	"[.links[] | select(.node == 2)] | (.[0].downs > $downs0 and .[1].downs > $downs1)"
wait_links_up n2 "$BACK_S" n1 n3

ping_ok "ping n2 after its restart" n1 n2 --count 100 --interval 5 --size 4096
ping_ok "ping n2 after its restart, 1 MiB back to back" n1 n2 --count 20 --interval 0 --window 4 --size 1M
ping_ok "ping n1 from the restarted n2" n2 n1 --count 50 --interval 5 --size 4096

rc=0
wait "$ping2" || rc=$?
pj=$(cat "$VDT_TMP/ping2.json")
echo "the ping to n2 cut by the kill: $(jq -c '{sent, received, lost, corrupt, duplicates, error}' <<<"$pj" 2>/dev/null) (exit $rc): $(cat "$VDT_TMP/ping2.err")"
((rc != 0)) || fail "the ping cut by the kill exited 0"
jcheck "the ping cut by the kill reports the error with its figures" "$pj" \
	'(.error | test("^ping n2: ")) and .sent > 0 and .sent < .count and
	 .received <= .sent and .lost == .sent - .received'
jcheck "the ping cut by the kill got nothing corrupt, nothing twice" "$pj" \
	'.corrupt == 0 and .duplicates == 0'
wait "$ping3" || true
ping_check "ping stream n1 -> n3 across n2's restart" "$(cat "$VDT_TMP/ping3.json")"
assert_alive "$p1" "$new2" "$p3"
