#!/usr/bin/python3
"""Two stylize jobs started together against the same two jobs one after the other.

On a machine shared with other work (several shards of a batch, a CI runner), each process's
thread pools must not spin against the others'. This runs the same job twice in a row, then
twice at once, --reps times alternating, and prints the median wall time of each and their
ratio (concurrent / sequential: 1.0 means sharing costs nothing, 2.0 means each job was as slow
as both in a row). Each job uses stylize's defaults (all CPUs it may use).

  scripts/bench_concurrency.py [--size 256] [--iterations 20] [--reps 3]
      [--env NAME=VAR=VALUE[,VAR=VALUE]] ...   (the same again under other environments)
"""
import argparse
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def job(args, out, env):
    return [args.binary, "-c", args.content, "-s", args.style, "--model", args.model, "--size",
            str(args.size), "-n", str(args.iterations), "--seed", "1", "-q", "-o", out,
            "--look", "subtle"], env  # one scale: as measured


def run_all(commands, together):
    start = time.perf_counter()
    if together:
        procs = [subprocess.Popen(cmd, env=env) for cmd, env in commands]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(cmd, env=env).returncode for cmd, env in commands]
    if any(codes):
        raise SystemExit(f"bench_concurrency: a job failed ({codes})")
    return time.perf_counter() - start


def main():
    images = os.path.join(ROOT, "..", "shared", "images")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models", "vgg19-random.pt"))
    parser.add_argument("--content", default=os.path.join(images, "baboon.jpg"))
    parser.add_argument("--style", default=os.path.join(images, "starry_night.jpg"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VAR=VALUE[,...]")
    args = parser.parse_args()
    variants = {"defaults": {}}
    for spec in args.env:
        name, _, assignments = spec.partition("=")
        variants[name] = dict(a.split("=", 1) for a in assignments.split(",") if a)
    tmp = os.path.join(ROOT, "build")
    print(f"{os.cpu_count()} CPUs; {args.size} px, {args.iterations} iterations per job")
    rows = []
    for name, extra in variants.items():
        env = dict(os.environ, **extra)
        commands = [job(args, os.path.join(tmp, f"concurrency-{k}.png"), env) for k in range(2)]
        sequential, concurrent = [], []
        for rep in range(args.reps):
            order = [False, True] if rep % 2 == 0 else [True, False]
            for together in order:
                seconds = run_all(commands, together)
                (concurrent if together else sequential).append(seconds)
                print(f"  {name} rep {rep + 1}: {'together' if together else 'in a row'} "
                      f"{seconds:.1f} s", flush=True)
        s, c = statistics.median(sequential), statistics.median(concurrent)
        rows.append((name, s, c, c / s))
    print()
    print(f"| environment | two jobs in a row (median of {args.reps}) | two jobs at once | ratio |")
    print("|---|---|---|---|")
    for name, s, c, ratio in rows:
        print(f"| {name} | {s:.1f} s | {c:.1f} s | {ratio:.2f} |")


if __name__ == "__main__":
    main()
