#!/usr/bin/python3
"""Batch mode versus one invocation per image, measured side by side.

Runs N content images (default 8 at 128 px) through `stylize` once as a single batch run and once
as N separate invocations, alternating the two for several repetitions, and prints the median
time per image of each and their ratio. Both use the same model, style, size, iterations, seed
and threads.

  scripts/bench_batch.py [--images DIR] [--style FILE] [--n 8] [--size 128] [--iterations 20]
                         [--reps 3] [--model FILE]
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "images"))
    parser.add_argument("--style", default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    args = parser.parse_args()

    style = args.style or os.path.join(args.images, "starry_night.jpg")
    contents = sorted(p for p in glob.glob(os.path.join(args.images, "*"))
                      if p.lower().endswith((".jpg", ".png")) and os.path.abspath(p) != os.path.abspath(style))
    if len(contents) < args.n:
        sys.exit(f"bench_batch: need {args.n} content images in {args.images}, found {len(contents)}")
    contents = contents[:args.n]
    common = ["--style", style, "--size", str(args.size), "--iterations", str(args.iterations),
              "--seed", "1", "-q", "--look", "subtle"]  # one scale: as measured
    if args.model:
        common += ["--model", args.model]

    batch_times, separate_times = [], []
    with tempfile.TemporaryDirectory() as out:
        for rep in range(args.reps):
            for mode in ("batch", "separate") if rep % 2 == 0 else ("separate", "batch"):
                start = time.perf_counter()
                if mode == "batch":
                    cmd = [args.binary] + sum((["--content", c] for c in contents), []) + common + \
                          ["--output-dir", os.path.join(out, f"batch{rep}")]
                    subprocess.run(cmd, check=True)
                else:
                    for i, c in enumerate(contents):
                        cmd = [args.binary, "--content", c] + common + \
                              ["--output", os.path.join(out, f"sep{rep}_{i}.png")]
                        subprocess.run(cmd, check=True)
                per_image = (time.perf_counter() - start) / len(contents)
                (batch_times if mode == "batch" else separate_times).append(per_image)
                print(f"rep {rep + 1}: {mode:8s} {per_image:.3f} s/image", flush=True)

    b, s = statistics.median(batch_times), statistics.median(separate_times)
    print()
    print(f"{args.n} images, {args.size} px, {args.iterations} iterations, {args.reps} repetitions (medians)")
    print(f"  one batch run:        {b:.3f} s/image")
    print(f"  separate invocations: {s:.3f} s/image")
    print(f"  batch is {s / b:.2f}x faster per image ({(s - b) * args.n:.1f} s saved per {args.n} images)")


if __name__ == "__main__":
    main()
