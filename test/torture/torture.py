#!/usr/bin/env python3
"""torture.py — the schedule, the I4 log analysis and the summary of the
torture suite (test/torture/run.sh).

  torture.py schedule --seed S --cycles N --nodes N --links L --disks vd1,vd2
                      --fault-disk vd3 --faults k1,k2 --cycle-seconds S
                      --io-timeout-ms MS
      one line per cycle: KIND TARGET HOLD_MS. The same arguments always give
      the same schedule (random.Random(seed), independent of the host).

  torture.py acks --from MS --to MS LOG...
      the write acknowledgements (A lines) logged by vdwriter with a wall
      clock time in [FROM, TO]: prints "COUNT FIRST_MS LAST_MS".

  torture.py summary RECORDS.jsonl META.json
      the summary table of a run from its per-cycle records.
"""

import argparse
import json
import random
import re
import sys

# Kinds and what their target is.
NODE_KINDS = {"vdiskd-kill", "vdiskd-term", "vdiskd-stop", "corosync-stop",
              "node-kill", "isolate", "partition-asym", "fast-restart"}
LINK_KINDS = {"link-down", "link-flap", "partition-link"}
FAULT_DISK_KINDS = {"disk-error", "disk-stall"}
DISK_KINDS = {"map-promote", "map-set", "suspend"}
ALL_KINDS = NODE_KINDS | LINK_KINDS | FAULT_DISK_KINDS | DISK_KINDS


def min_hold(kind, io_timeout_ms, fence_bound_ms, nodes):
    """The shortest hold that makes the fault what it claims to be."""
    if kind in ("vdiskd-stop", "disk-stall", "disk-error"):
        # Longer than [io] timeout_ms (and the heartbeat timeout): the
        # others give up on the frozen node or path and re-route.
        return io_timeout_ms + 1500
    if kind in ("corosync-stop", "isolate", "partition-asym"):
        # The membership changes after corosync's token timeout (token 1000
        # + 650 per node beyond two: token_coefficient) and consensus (1.2
        # times the token), and vdiskd's notice (~600 ms); then the fence
        # bound, then a window of 2 s in which the node must not have
        # written (I4).
        token = 1000 + 650 * (nodes - 2)
        return int(2.2 * token) + 600 + fence_bound_ms + 2000
    if kind == "link-flap":
        return 3000
    return 1000


def cmd_schedule(a):
    kinds = [k for k in a.faults.split(",") if k]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad or not kinds:
        sys.exit(f"torture.py: unknown fault kind(s): {','.join(bad) or '(none)'}; "
                 f"known: {','.join(sorted(ALL_KINDS))}")
    if a.nodes < 3:
        sys.exit("torture.py: at least 3 nodes")
    rng = random.Random(a.seed)
    disks = [d for d in a.disks.split(",") if d]
    base = a.cycle_seconds * 1000
    for _ in range(a.cycles):
        kind = rng.choice(kinds)
        node = f"n{rng.randint(1, a.nodes)}"
        link = rng.randrange(a.links)
        disk = rng.choice(disks)
        hold = int(base * rng.uniform(0.5, 1.5))
        hold = max(hold, min_hold(kind, a.io_timeout_ms, a.fence_bound_ms, a.nodes))
        if kind in NODE_KINDS:
            target = node
        elif kind in LINK_KINDS:
            target = f"{node}/link{link}"
        elif kind in FAULT_DISK_KINDS:
            target = a.fault_disk
        else:
            target = disk
        print(kind, target, hold)


# vdwriter's acknowledgement line: "A BLOCK GEN MS" (MS the wall clock).
ACK_RE = re.compile(r"^A (\d+) (\d+) (\d+)$")



def cmd_acks(a):
    count, first, last = 0, None, None
    for path in a.logs:
        try:
            f = open(path, encoding="utf-8", errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                m = ACK_RE.match(line.strip())
                if not m:
                    continue
                t = float(m.group(3))
                if a.t_from <= t <= a.t_to:
                    count += 1
                    first = t if first is None else min(first, t)
                    last = t if last is None else max(last, t)
    print(count, int(first or 0), int(last or 0))


# vdwriter reports writes answered with an error that are on disk apart:
# not a violation (an error leaves the blocks unknown; one landing over a
# newer acknowledged write is an I2).
INVARIANTS = ["I1", "I2", "I3", "I4", "I6", "corrupt", "crash", "sanitizer"]


def cmd_summary(a):
    recs = []
    with open(a.records, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    with open(a.meta, encoding="utf-8") as f:
        meta = json.load(f)
    kinds = {}
    viol = {k: 0 for k in INVARIANTS}
    store = {}
    verified = 0
    secs = 0.0
    for r in recs:
        k = kinds.setdefault(r["kind"], {"n": 0, "stall": 0, "viol": 0, "secs": 0.0, "whole": 0.0})
        if r.get("whole_ms") and r.get("heal_ms"):
            k["whole"] = max(k["whole"], (r["whole_ms"] - r["heal_ms"]) / 1000.0)
        k["n"] += 1
        k["stall"] = max(k["stall"], r.get("stall_ms") or 0)
        k["secs"] += r.get("cycle_s", 0)
        secs += r.get("cycle_s", 0)
        verified += r.get("verified", 0)
        for inv, c in (r.get("storage_violations") or {}).items():
            store[inv] = store.get(inv, 0) + c
        for inv, c in (r.get("violations") or {}).items():
            viol[inv] = viol.get(inv, 0) + c
            if inv != "I3":  # vdwriter counts every I3 as an I1 too
                k["viol"] += c
    out = []
    out.append("=" * 72)
    out.append("vdisk torture summary")
    out.append(f"  seed {meta['seed']}, {len(recs)} of {meta['cycles']} cycles, "
               f"{meta['nodes']} nodes, faults: {meta['faults']}")
    out.append(f"  date {meta['date']}, machine {meta['machine']}, cpu {meta['cpu']}")
    out.append(f"  git {meta['git']}, build {meta['build']}")
    out.append(f"  [io] timeout_ms {meta['io_timeout_ms']}, FENCE_BOUND_MS {meta['fence_bound_ms']}, "
               f"{meta['blocks']} blocks per writer, {meta['writers']} writers")
    if recs:
        out.append(f"  average cycle {secs / len(recs):.1f} s (fault, heal, sync, stop writers, "
                   f"check from every node, restart writers)")
    out.append("")
    out.append(f"  {'fault kind':<16} {'cycles':>6} {'violations':>10} {'longest stall ms':>17} {'avg cycle s':>11} {'heal->whole s':>13}")
    out.append(f"  {'':<16} {'':>6} {'':>10} {'(other nodes)':>17} {'':>11} {'(longest)':>13}")
    for name in sorted(kinds):
        k = kinds[name]
        out.append(f"  {name:<16} {k['n']:>6} {k['viol']:>10} {k['stall']:>17} {k['secs'] / k['n']:>11.1f} {k['whole']:>13.1f}")
    out.append("")
    out.append(f"  writes verified (blocks judged, all checks): {verified}")
    out.append("  violations by invariant: " +
               ", ".join(f"{k} {viol[k]}" for k in INVARIANTS if k in viol))
    out.append("    (I3: lost writes a FLUSH had covered, also counted as I1; per disk, the most"
               " any node's reading showed)")
    out.append("  of which on the storage itself (read without vdiskd): " +
               (", ".join(f"{k} {c}" for k, c in sorted(store.items())) or "none") +
               "; the rest only in what nodes read")
    for k in sorted(set(viol) - set(INVARIANTS)):
        out.append(f"    also {k}: {viol[k]}")
    i6 = meta.get("i6")
    if i6:
        out.append("  I6 (first cycle -> last cycle, per node): " + "; ".join(i6))
    total = sum(c for k, c in viol.items() if k != "I3")
    out.append(f"  RESULT: {'FAIL' if total or meta.get('failed') else 'PASS'}"
               f" ({total} violation(s){'; ' + meta['failed'] if meta.get('failed') else ''})")
    out.append("=" * 72)
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser(prog="torture.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schedule")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--cycles", type=int, required=True)
    s.add_argument("--nodes", type=int, required=True)
    s.add_argument("--links", type=int, default=2)
    s.add_argument("--disks", required=True)
    s.add_argument("--fault-disk", required=True)
    s.add_argument("--faults", required=True)
    s.add_argument("--cycle-seconds", type=float, default=5)
    s.add_argument("--io-timeout-ms", type=int, default=3000)
    s.add_argument("--fence-bound-ms", type=int, default=3000)
    s = sub.add_parser("acks")
    s.add_argument("--from", dest="t_from", type=float, required=True)
    s.add_argument("--to", dest="t_to", type=float, required=True)
    s.add_argument("logs", nargs="*")
    s = sub.add_parser("summary")
    s.add_argument("records")
    s.add_argument("meta")
    a = p.parse_args()
    {"schedule": cmd_schedule, "acks": cmd_acks, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
