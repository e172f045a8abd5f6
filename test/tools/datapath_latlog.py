#!/usr/bin/env python3
"""datapath_latlog — I/O stalls from fio latency logs.

fio, run with --write_lat_log=PFX --log_unix_epoch=1 (and the default
log_avg_msec=0), writes one line per I/O to PFX_lat.N.log:

    completion time (ms since the epoch), latency (ns), direction, size, offset[, prio]

This splits the I/Os into phases by completion time and prints, per phase,
how many I/Os completed, the longest latency one of them saw and the longest
gap between two consecutive completions (a gap is charged to the phase of the
completion that ends it, so a stall that starts at a fault belongs to the
fault's phase). A stall is the larger of the two.

  datapath_latlog.py LOG [LOG...] [--phase NAME=EPOCH_MS ...] [--json]

Phases: I/Os completing before the first --phase belong to "before"; each
--phase NAME=T starts phase NAME at T. Output: one line per phase,
  PHASE ios=N max_lat_ms=X max_gap_ms=Y stall_ms=Z
or, with --json, one JSON object {PHASE: {...}}. Exit 2 when a log is empty
or unreadable.
"""
import argparse
import json
import sys


def read_logs(paths):
    ios = []
    for p in paths:
        try:
            with open(p) as f:
                for line in f:
                    parts = [x.strip() for x in line.split(",")]
                    if len(parts) < 3:
                        continue
                    try:
                        t = int(parts[0])
                        lat = int(parts[1])
                    except ValueError:
                        continue
                    ios.append((t, lat))
        except OSError as e:
            print(f"datapath_latlog: {p}: {e}", file=sys.stderr)
            sys.exit(2)
    return ios


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--phase", action="append", default=[])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    phases = [("before", 0)]
    for p in a.phase:
        name, _, t = p.partition("=")
        phases.append((name, int(t)))
    phases.sort(key=lambda x: x[1])

    ios = read_logs(a.logs)
    if not ios:
        print("datapath_latlog: no I/O in " + " ".join(a.logs), file=sys.stderr)
        sys.exit(2)
    ios.sort()

    res = {name: {"ios": 0, "max_lat_ms": 0.0, "max_gap_ms": 0.0} for name, _ in phases}

    def phase_of(t):
        cur = phases[0][0]
        for name, start in phases:
            if t >= start:
                cur = name
        return cur

    prev = None
    for t, lat in ios:
        ph = res[phase_of(t)]
        ph["ios"] += 1
        ph["max_lat_ms"] = max(ph["max_lat_ms"], lat / 1e6)
        if prev is not None:
            ph["max_gap_ms"] = max(ph["max_gap_ms"], float(t - prev))
        prev = t
    for v in res.values():
        v["max_lat_ms"] = round(v["max_lat_ms"], 1)
        v["stall_ms"] = round(max(v["max_lat_ms"], v["max_gap_ms"]), 1)
    if a.json:
        print(json.dumps(res))
    else:
        for name, _ in phases:
            v = res[name]
            print(f"{name} ios={v['ios']} max_lat_ms={v['max_lat_ms']} "
                  f"max_gap_ms={v['max_gap_ms']} stall_ms={v['stall_ms']}")


if __name__ == "__main__":
    main()
