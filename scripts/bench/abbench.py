#!/usr/bin/env python3
"""Alternating A/B benchmark of two commands, as whole processes.

Runs an untimed SETUP before every timed run, then A and B in turn (A B A B ...), so a
machine whose speed drifts slows both alike; reports each side's median wall time, the
median of the pair-by-pair ratios A/B, and each side's peak RSS, measured once more
after the timed runs under `/usr/bin/time -f %M` (the largest resident set of the
process or any of its children; measuring it from Python would count the interpreter the
child was forked from).

Commands are split like a shell splits words but run without a shell (a shell would add
its own start-up to both sides and hide the difference); use `sh -c '...'` explicitly
where a side *is* a shell sequence.

    abbench.py --name NAME [--runs N] [--warmup N] [--setup CMD] [--setup-b CMD]
               --a CMD --b CMD [--json-out FILE]
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def run(argv):
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    return elapsed, proc.returncode, proc.stderr.decode(errors="replace")


def peak_rss_kib(argv):
    """Peak RSS in KiB of one run, by GNU time (0 when it is not installed)."""
    if not os.path.exists("/usr/bin/time"):
        return 0
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        return int(proc.stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def setup(cmd):
    if cmd:
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--setup", default="", help="shell command run (untimed) before each run")
    p.add_argument("--setup-b", default=None, help="setup before B runs (default: --setup)")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--json-out")
    args = p.parse_args()
    a, b = shlex.split(args.a), shlex.split(args.b)
    setup_b = args.setup if args.setup_b is None else args.setup_b

    times = {"a": [], "b": []}
    ratios = []
    for i in range(args.warmup + args.runs):
        pair = {}
        for side, argv, setup_cmd in (("a", a, args.setup), ("b", b, setup_b)):
            setup(setup_cmd)
            elapsed, code, err = run(argv)
            if code != 0:
                sys.exit(f"{args.name}: side {side} failed with exit {code}: {' '.join(argv)}\n{err}")
            pair[side] = elapsed
            if i >= args.warmup:
                times[side].append(elapsed)
        if i >= args.warmup:
            ratios.append(pair["a"] / pair["b"])

    rss = {}
    for side, argv, setup_cmd in (("a", a, args.setup), ("b", b, setup_b)):
        setup(setup_cmd)
        rss[side] = peak_rss_kib(argv)

    result = {
        "name": args.name,
        "runs": args.runs,
        "a": args.a,
        "b": args.b,
        "a_median_ms": round(statistics.median(times["a"]) * 1000, 2),
        "b_median_ms": round(statistics.median(times["b"]) * 1000, 2),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "a_peak_rss_kib": rss["a"],
        "b_peak_rss_kib": rss["b"],
    }
    if args.json_out:
        with open(args.json_out, "a") as f:
            f.write(json.dumps(result) + "\n")
    print(f"{result['name']:<48} A {result['a_median_ms']:>9.2f} ms   B {result['b_median_ms']:>9.2f} ms"
          f"   A/B {result['ratio_median']:.3f} ({result['ratio_min']:.2f}-{result['ratio_max']:.2f})"
          f"   RSS A {rss['a'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
