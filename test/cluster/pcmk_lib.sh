# Helpers of the Pacemaker scenarios (pacemaker.sh, pacemaker_rules.sh):
# real Pacemaker on the namespace cluster (test/cluster/pcmk), read through
# crm_mon's XML. Source after lib.sh and datapath_lib.sh.
# shellcheck shell=bash

PCMK=$VDISK_SRC/test/cluster/pcmk
VDISKD=$VDISK_BUILD/service/vdiskd
VDISKCTL=$VDISK_BUILD/cli/vdiskctl

for tool in pacemakerd pcs crm_mon crm_attribute xmllint; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
done

pcmk() { "$PCMK" "$@"; }

# Pacemaker goes before the cluster: left running, it would restart the
# vdiskd that vdcluster down stops.
_pt_cleanup() {
	local rc=$1 d
	set +e
	_dp_cleanup
	if ((rc != 0)) && [[ -r $VDC_DIR/cluster.env ]]; then
		pcmk status >&2 2>&1
		for d in "$VDC_DIR"/n*; do
			[[ -f $d/pacemaker.log ]] || continue
			echo "----- ${d##*/}: the agents in pacemaker.log (last 30)" >&2
			grep -E 'vdisk|vd1|error' "$d/pacemaker.log" | tail -n 30 >&2
		done
	fi
	[[ -r $VDC_DIR/cluster.env ]] && pcmk down
}
# shellcheck disable=SC2154 # _pt_rc is assigned inside the trap string
trap '_pt_rc=$?; _pt_cleanup "$_pt_rc"; (exit $_pt_rc); _vdt_cleanup' EXIT

# mon NODE: crm_mon's XML, as NODE sees the cluster.
mon() { pcmk exec "$1" crm_mon -1 --output-as=xml 2>/dev/null; }

# xq NODE XPATH: an XPath expression over NODE's crm_mon XML.
xq() {
	local xml
	xml=$(mon "$1") || return 1
	xmllint --xpath "$2" - <<<"$xml" 2>/dev/null
}

# role_nodes NODE CLONE ROLE: the nodes where CLONE has an instance in ROLE
# (Started, Promoted, Unpromoted), sorted, space-separated.
role_nodes() {
	xq "$1" "//clone[@id='$2']/resource[@role='$3']/node/@name" |
		sed -E 's/ *name="([^"]*)"/\1\n/g' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

# roles_are NODE CLONE ROLE NODES: as role_nodes, equal to NODES.
roles_are() { [[ $(role_nodes "$1" "$2" "$3") == "$4" ]]; }

# wait_roles NODE CLONE ROLE NODES TIMEOUT_S
wait_roles() {
	retry_until "$5" roles_are "$1" "$2" "$3" "$4" ||
		fail "$2: $3 on '$(role_nodes "$1" "$2" "$3")' after $5s, want '$4'"
	echo "ok: $2 $3 on $4 (as $1 sees it)"
}

# no_failures NODE: crm_mon on NODE lists no failed action.
no_failures() {
	local n
	n=$(xq "$1" 'count(//failures/failure)') || fail "crm_mon on $1 failed"
	if [[ $n != 0 ]]; then
		pcmk exec "$1" crm_mon -1 --failcounts >&2
		fail "$n failed actions in the cluster"
	fi
	echo "ok: no failed action (as $1 sees it)"
}

# failures NODE [OP_KEY_PREFIX]: how many failed actions NODE's crm_mon lists.
failures() {
	xq "$1" "count(//failures/failure[starts-with(@op_key, '${2:-}')])"
}

# failed_once NODE OP_KEY_PREFIX: exactly one failed action of that kind.
failed_once() { [[ $(failures "$1" "$2") == 1 ]]; }

# score NODE [DISK]: DISK's (default vd1) promotion score on NODE ("none"
# when unset).
score() {
	pcmk exec n3 crm_attribute -N "$1" -n "master-${2:-vd1}" -l reboot -G -q 2>/dev/null || echo none
}

primary_of() { ctl "${2:-n3}" --json disk show "$1" | jq -r .disk.primary.node_name; }

# create_resources: the vdiskd clone and vd1's promotable clone, ordered and
# colocated as docs/pacemaker.md says; returns when vdiskd runs everywhere.
create_resources() {
	expect_ok "pcs resource create vdiskd ... clone" pcmk exec n1 pcs resource create vdiskd \
		ocf:vdisk:vdiskd config=/run/vdc/vdisk.conf logfile=/run/vdc/vdiskd.log \
		binary="$VDISKD" vdiskctl="$VDISKCTL" clone
	wait_roles n1 vdiskd-clone Started "n1 n2 n3" 30
	for n in n1 n2 n3; do expect_ok "$n synced" vdc wait-synced "$n" 10; done
	disk_resource_create vd1
}

# disk_resource_create DISK: DISK's promotable clone (DISK-clone), after and
# with the vdiskd clone.
disk_resource_create() {
	expect_ok "pcs resource create $1 ... promotable" pcmk exec n1 pcs resource create "$1" \
		ocf:vdisk:vdisk disk="$1" vdiskctl="$VDISKCTL" config=/run/vdc/vdisk.conf \
		promotable interleave=true
	expect_ok "order vdiskd-clone then $1-clone" \
		pcmk exec n1 pcs constraint order start vdiskd-clone 'then' "$1-clone"
	expect_ok "colocate $1-clone with vdiskd-clone" \
		pcmk exec n1 pcs constraint colocation add "$1-clone" with vdiskd-clone
}

# cluster_up [FN]: 3 nodes, vd1 with its primary path on n1 and its
# secondary on n2 (one file both open: a dual-ported device), n3 without a
# path, and whatever FN does while vdiskd runs; then Pacemaker on every
# node, which runs vdiskd from now on.
cluster_up() {
	local f=$VDC_DIR/shared.img n
	vdc up
	truncate -s 256M "$f"
	expect_ok "disk create vd1" ctl n1 disk create vd1 --primary "n1:$f" --secondary "n2:$f"
	(($# == 0)) || "$1"
	converged 5
	for n in n1 n2 n3; do vdc stop "$n" vdiskd; done
	expect_ok "Pacemaker up" pcmk up 60
}
