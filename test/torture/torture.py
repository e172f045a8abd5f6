#!/usr/bin/env python3
"""torture.py — the schedule, the judgement of each cycle and the summary of
the torture suite (test/torture/run.sh).

  torture.py schedule --seed S --cycles N --nodes N --links L --disks vd1,vd2
                      --fault-disk vd3 --faults k1,k2 --cycle-seconds S
                      --io-timeout-ms MS --fence-bound-ms MS --membership-ms MS
      one line per cycle: KIND TARGET HOLD_MS. The same arguments always give
      the same schedule (random.Random(seed), independent of the host).

  torture.py cycle --logdir DIR --records FILE --cycle C ... (run.sh's facts)
      judges one cycle from its checks' verdicts, its writers' logs (I4) and
      the facts run.sh passes (I6, crashes, sanitizer reports), prints the
      cycle's line, appends its record to FILE, and prints "violations N".

  torture.py summary RECORDS.jsonl META.json
      the summary table of a run from its per-cycle records.
"""

import argparse
import json
import random
import re
import sys
import time

# Kinds and what their target is.
NODE_KINDS = {"vdiskd-kill", "vdiskd-term", "vdiskd-stop", "corosync-stop",
              "node-kill", "isolate", "partition-asym", "fast-restart"}
LINK_KINDS = {"link-down", "link-flap", "partition-link"}
FAULT_DISK_KINDS = {"disk-error", "disk-stall"}
DISK_KINDS = {"map-promote", "map-set", "suspend"}
ALL_KINDS = NODE_KINDS | LINK_KINDS | FAULT_DISK_KINDS | DISK_KINDS


def min_hold(kind, io_timeout_ms, fence_bound_ms, membership_ms):
    """The shortest hold that makes the fault what it claims to be."""
    if kind in ("vdiskd-stop", "disk-stall", "disk-error"):
        # Longer than [io] timeout_ms (and the heartbeat timeout): the
        # attempts out to the frozen node or path pass their deadline (a
        # failed path is left for the other; a frozen one is waited for).
        return io_timeout_ms + 1500
    if kind in ("corosync-stop", "isolate", "partition-asym"):
        # The membership changes after corosync's token timeout and
        # consensus (MEMBERSHIP_MS, as the cluster runs them), and the
        # witness's notice (~600 ms: its polling); then the fence bound,
        # then a window of 1 s in which the node must not have written (I4:
        # at RATE writes/s per writer, hundreds of acknowledgements if it
        # still did).
        return membership_ms + 600 + fence_bound_ms + 1000
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
        hold = max(hold, min_hold(kind, a.io_timeout_ms, a.fence_bound_ms, a.membership_ms))
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


def acks_between(paths, t_from, t_to):
    """The acknowledgements logged in PATHS with a time in [T_FROM, T_TO]."""
    count = 0
    for path in paths:
        try:
            f = open(path, encoding="utf-8", errors="replace")
        except OSError:
            continue
        with f:
            for line in f:
                m = ACK_RE.match(line.strip())
                if m and t_from <= float(m.group(3)) <= t_to:
                    count += 1
    return count


def read_text(path, limit=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return ""


def positive(d):
    return {k: v for k, v in d.items() if isinstance(v, int) and v > 0}


def judge_checks(a, nodes, disks):
    """The verdicts of the cycle's checks (vdwriter check --json of every disk
    from every node's socket and from the storage): blocks verified (by the
    nodes' readings), violations per kind (per disk the most any reading
    showed: one bad block read from three nodes counts once), the storage's
    own, the disks nodes read differently, examples."""
    viol, store, verified = {}, {}, 0
    disagree, examples = [], []
    for d in disks:
        readers = nodes + ["storage"]
        verdicts, dmax = [], {}
        for n in readers:
            base = f"{a.logdir}/check.{d}.{n}.c{a.cycle}"
            rc = read_text(base + ".rc").strip()
            rc = int(rc) if rc.isdigit() else 2
            try:
                out = json.loads(read_text(base + ".json") or "{}")
            except ValueError:
                out, rc = {}, (rc if rc > 1 else 2)
            if rc > 1:
                viol["check_error"] = viol.get("check_error", 0) + 1
                err = " ".join(read_text(base + ".err", 200).split())
                examples.append(f"{d} from {n}: check exit {rc}: {err}")
                verdicts.append({"check_error": 1})
                continue
            if n != "storage":
                verified += out.get("blocks_verified", 0)
            v = out.get("violations") or {}
            verdicts.append(v)
            if rc == 1:
                for k, c in positive(v).items():
                    dmax[k] = max(dmax.get(k, 0), c)
                examples.append(f"{d} from {n}: " + json.dumps(out.get("examples", [])[:2])[:300])
        for k, c in dmax.items():
            viol[k] = viol.get(k, 0) + c
        for k, c in positive(verdicts[-1]).items():
            store[k] = store.get(k, 0) + c
        if any(positive(v) != positive(verdicts[0]) for v in verdicts):
            said = [f"{n}:" + (",".join(f"{k}={c}" for k, c in positive(v).items()) or "clean")
                    for n, v in zip(readers, verdicts)]
            disagree.append(f"{d}({' '.join(said)})")
    return viol, store, verified, disagree, examples


def writer_stalls(a, nodes, disks):
    """The longest stall a writer saw (vdwriter's last line), on the other
    nodes and on the fault's own node."""
    other = own = 0
    for n in nodes:
        for d in disks:
            lines = read_text(f"{a.logdir}/{d}.{n}.c{a.cycle}.out").strip().splitlines()
            try:
                st = int(json.loads(lines[-1]).get("longest_stall_ms", 0)) if lines else 0
            except (ValueError, AttributeError):
                st = 0
            if n == a.fault_node:
                own = max(own, st)
            else:
                other = max(other, st)
    return other, own


def i4_judge(a, disks):
    """I4: the node put outside the membership got no write acknowledgement
    from FENCE_BOUND_MS after the others saw the change until the heal."""
    n = a.out_node
    if not n:
        return 0, ""
    if not a.change_ms:
        return 0, f"I4: no membership change seen on the witness of {n}; "
    t_from, t_to = a.change_ms + a.fence_bound_ms, a.heal_ms
    if t_from >= t_to:
        return 0, (f"I4: change seen {t_to - a.change_ms} ms before the heal, "
                   f"shorter than the bound; ")
    cnt = acks_between([f"{a.logdir}/{d}.{n}.c{a.cycle}.log" for d in disks], t_from, t_to)
    return cnt, (f"I4: {n} outside from +{a.change_ms - a.inject_ms} ms, {cnt} acks in the "
                 f"{t_to - t_from} ms after the bound; ")


def cmd_cycle(a):
    """Judge one cycle: print its line (and notes), append its record, and
    print "violations N" last (N without I3, which vdwriter counts as an I1
    too)."""
    end_ms = int(time.time() * 1000)
    nodes = [n for n in a.nodes.split(",") if n]
    disks = [d for d in a.disks.split(",") if d]
    viol, store, verified, disagree, examples = judge_checks(a, nodes, disks)
    i4, i4_note = i4_judge(a, disks)
    extra = {"I4": i4, "I6": a.i6, "crash": len(a.died.split()), "sanitizer": a.sanitizer}
    for k, c in extra.items():
        if c > 0:
            viol[k] = viol.get(k, 0) + c
    nv = sum(c for k, c in viol.items() if k != "I3")
    stall, stall_own = writer_stalls(a, nodes, disks)
    cycle_s = (end_ms - a.t0_ms) / 1000.0
    note = a.note + i4_note + (f"died: {a.died}; " if a.died.strip() else "") + \
        (f"nodes read different data: {' '.join(disagree)}; " if disagree else "")
    ex = "; ".join(examples)
    vtxt = ",".join(f"{k}={c}" for k, c in viol.items())
    own = f" ({a.target}'s own: {stall_own} ms)" if a.fault_node else ""
    print(f"cycle {a.cycle:4d}/{a.cycles}  {a.kind:<14} {a.target:<11} "
          f"fault {(a.heal_ms - a.inject_ms) / 1000:5.1f}s  whole +{(a.whole_ms - a.heal_ms) / 1000:4.1f}s  "
          f"cycle {cycle_s:5.1f}s  verified {verified:6d}  violations {nv}"
          f"{' (' + vtxt + ')' if vtxt else ''}  stall {stall:6d} ms{own}")
    if note:
        print(f"      {note}")
    if ex:
        print(f"      e.g. {ex[:400]}")
    rec = {"cycle": a.cycle, "kind": a.kind, "target": a.target, "hold_ms": a.hold_ms,
           "inject_ms": a.inject_ms, "heal_ms": a.heal_ms, "whole_ms": a.whole_ms,
           "writers_stop_ms": a.stopped_ms - a.whole_ms, "check_ms": a.checked_ms - a.stopped_ms,
           "cycle_s": cycle_s, "verified": verified, "violations": viol,
           "storage_violations": store, "stall_ms": stall, "stall_target_ms": stall_own,
           "note": note, "examples": ex, "procs": a.procs}
    with open(a.records, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"violations {nv}")


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
               f"{meta['blocks']} blocks per writer, {meta['writers']} writers"
               + (f" at {meta['rate']} writes/s" if 'rate' in meta else ""))
    out.append(f"  corosync token + consensus {meta['membership_ms']} ms "
               f"(token_coefficient {meta['token_coefficient']})")
    if recs:
        out.append(f"  average cycle {secs / len(recs):.1f} s (fault, heal, sync, stop writers, "
                   f"check from every node); the run {meta['run_s']} s, "
                   f"{meta['run_s'] / len(recs):.1f} s per cycle with the writers' restarts")
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
    s.add_argument("--membership-ms", type=int, default=3000)
    s = sub.add_parser("cycle")
    s.add_argument("--logdir", required=True)
    s.add_argument("--records", required=True)
    s.add_argument("--nodes", required=True)
    s.add_argument("--disks", required=True)
    for opt in ("cycle", "cycles", "hold-ms", "inject-ms", "heal-ms", "whole-ms", "t0-ms",
                "stopped-ms", "checked-ms", "fence-bound-ms"):
        s.add_argument("--" + opt, type=int, required=True)
    for opt in ("change-ms", "i6", "sanitizer"):
        s.add_argument("--" + opt, type=int, default=0)
    for opt in ("kind", "target"):
        s.add_argument("--" + opt, required=True)
    for opt in ("fault-node", "out-node", "died", "note", "procs"):
        s.add_argument("--" + opt, default="")
    s = sub.add_parser("summary")
    s.add_argument("records")
    s.add_argument("meta")
    a = p.parse_args()
    {"schedule": cmd_schedule, "cycle": cmd_cycle, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
