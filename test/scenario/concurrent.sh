#!/usr/bin/env bash
# Concurrent updates: the same name created on two nodes at the same moment
# ends with exactly one winner, the loser told that the disk exists, and every
# node agreeing on the winner. Different names at once all succeed.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links"
vdc up
g0=$(generation n1)

# race NAME NODE_A NODE_B: disk create NAME on both nodes at once, each with
# its own device; prints "rcA rcB".
race() {
	local name=$1 a=$2 b=$3 fa fb go pa pb ra=0 rb=0
	fa=$(backing "$a" "$name")
	fb=$(backing "$b" "$name-$b")
	go=$VDT_TMP/go.$name
	# Both start when the go file appears, so neither waits for a fork.
	(
		while [[ ! -e $go ]]; do sleep 0.005; done
		exec "$VDC_HARNESS" ctl "$a" disk create "$name" --primary "$a:$fa"
	) >"$VDT_TMP/$name.$a.out" 2>"$VDT_TMP/$name.$a.err" &
	pa=$!
	(
		while [[ ! -e $go ]]; do sleep 0.005; done
		exec "$VDC_HARNESS" ctl "$b" disk create "$name" --primary "$b:$fb"
	) >"$VDT_TMP/$name.$b.out" 2>"$VDT_TMP/$name.$b.err" &
	pb=$!
	sleep 0.1
	touch "$go"
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	echo "$ra $rb"
}

step "10 races between n1 and n2 for the same name"
wins_a=0
wins_b=0
for i in $(seq 1 10); do
	name=race$i
	read -r ra rb < <(race "$name" n1 n2)
	if [[ $ra == 0 && $rb == 1 ]]; then
		winner=n1 loser=n2
		wins_a=$((wins_a + 1))
	elif [[ $ra == 1 && $rb == 0 ]]; then
		winner=n2 loser=n1
		wins_b=$((wins_b + 1))
	else
		fail "$name: exit codes n1=$ra n2=$rb, want exactly one 0 and one 1
  n1 stderr: $(cat "$VDT_TMP/$name.n1.err")
  n2 stderr: $(cat "$VDT_TMP/$name.n2.err")"
	fi
	err=$(cat "$VDT_TMP/$name.$loser.err")
	grep -qi "exist" <<<"$err" || fail "$name: the loser ($loser) says '$err', want an 'exists' error"
	[[ $(grep -c . <<<"$err") == 1 ]] || fail "$name: the loser's stderr is not one line: $err"
	converged 1
	d=$(disk_json n3 "$name") || fail "$name missing on n3"
	if [[ $winner == n1 ]]; then dev=$VDC_DIR/n1/$name.img; else dev=$VDC_DIR/n2/$name-n2.img; fi
	assert_jq "$name belongs to the winner $winner" "$d" \
		".primary.node_name == \"$winner\" and .primary.device == \"$dev\""
done
echo "ok: 10 races, n1 won $wins_a, n2 won $wins_b"
assert_eq "one generation per winner" "$(generation n3)" "$((g0 + 10))"

step "three different names at once on three nodes"
g1=$(generation n1)
pids=()
for n in n1 n2 n3; do
	f=$(backing "$n" "multi-$n")
	ctl "$n" disk create "multi-$n" --primary "$n:$f" >"$VDT_TMP/multi.$n.out" 2>&1 &
	pids+=("$!")
done
for i in 0 1 2; do
	wait "${pids[$i]}" || fail "create multi-n$((i + 1)) failed: $(cat "$VDT_TMP/multi.n$((i + 1)).out")"
done
converged 1
assert_eq "three more generations" "$(generation n2)" "$((g1 + 3))"

step "delete and perm set of the same disk at once"
for i in 1 2 3; do
	name=race$i
	g=$(generation n1)
	ctl n1 disk delete "$name" >"$VDT_TMP/del.out" 2>&1 &
	pd=$!
	ctl n3 perm set "$name" --mode 0600 >"$VDT_TMP/perm.out" 2>&1 &
	pp=$!
	rd=0
	rp=0
	wait "$pd" || rd=$?
	wait "$pp" || rp=$?
	[[ $rd == 0 ]] || fail "delete $name failed ($rd): $(cat "$VDT_TMP/del.out")"
	converged 1
	if disk_json n1 "$name" >/dev/null; then
		fail "$name still exists after its delete succeeded"
	fi
	if [[ $rp == 0 ]]; then
		assert_eq "perm set before delete: two updates" "$(generation n2)" "$((g + 2))"
	else
		grep -qiE "no such|not found|does not exist|unknown" "$VDT_TMP/perm.out" ||
			fail "perm set after delete failed without a clear reason: $(cat "$VDT_TMP/perm.out")"
		assert_eq "perm set after delete: one update" "$(generation n2)" "$((g + 1))"
	fi
done
