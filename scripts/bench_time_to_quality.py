#!/usr/bin/python3
"""Time to quality: how soon each setting reaches what single-scale L-BFGS reaches in N iterations.

Runs `stylize` once single-scale from the photo (--init content) for --baseline-iterations
(default 300) at --size, taking the lowest full-size loss it reaches as the quality bar, then
runs each candidate setting (stylize's defaults, coarse to fine ladders) and reports the time at
which its loss *at full size* (the same loss, same targets, same normalisation) first reaches the
bar, and the speed-up. All runs use the same model, images, weights and seed; times come from
--progress-json (compute only, startup excluded; earlier scales' time is included).

  scripts/bench_time_to_quality.py [--size 512] [--baseline-iterations 300]
      [--baseline-args '--conv direct']  (options for the baseline run only: e.g. the direct
      convolutions stylize had before its Winograd ones, to measure that speed-up too)
      [--baseline-binary PATH]  (another build for the baseline run only: e.g. the product before
      the performance work, rebuilt from its commit, so both are measured back to back)
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CANDIDATES = {
    "single": ("single scale, --look subtle (the warm start), 300", ["-n", "300"]),
    "content": ("single scale from the photo (--init content), 300", ["--init", "content", "-n", "300"]),
    "c2f-q": ("coarse-to-fine 1/4 -> 1, 300 + 150/scale", ["--init", "content", "--min-size", "{q}", "--initial-iterations", "300", "-n", "150"]),
    "c2f-q-short": ("coarse-to-fine 1/4 -> 1, 150 + 100/scale", ["--init", "content", "--min-size", "{q}", "--initial-iterations", "150", "-n", "100"]),
    "c2f-h": ("coarse-to-fine 1/2 -> 1, 300 + 150", ["--init", "content", "--min-size", "{h}", "--initial-iterations", "300", "-n", "150"]),
    "warm-c2f-q": ("style colours + coarse-to-fine 1/4 -> 1, 300 + 150/scale", ["--init", "style-colors", "--min-size", "{q}", "--initial-iterations", "300", "-n", "150"]),
}


def run(args, extra, name="ttq", binary=None):
    out_dir = args.keep or os.path.join(ROOT, "build")
    cmd = [binary or args.binary, "-c", args.content, "-s", args.style, "--size", str(args.size), "--seed", "1",
           "--print-every", "1", "--progress-json", "-", "-q", "-o", os.path.join(out_dir, name + ".png")]
    if args.model:
        cmd += ["--model", args.model]
    if binary is None:  # the weights and the single scale this comparison was made with
        cmd += ["--look", "subtle"]
    out = subprocess.run(cmd + extra, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_time_to_quality: {' '.join(cmd + extra)} failed: {out.stderr[-1500:]}")
    events = [json.loads(l) for l in out.stdout.splitlines()]
    its = [e for e in events if e["type"] == "iteration"]
    # Cumulative compute time: each scale's elapsed restarts at 0.
    offset, last_scale, last_elapsed, trace = 0.0, 0, 0.0, []
    for e in its:
        if e["scale"] != last_scale:
            offset += last_elapsed
            last_scale = e["scale"]
        last_elapsed = e["elapsed_s"]
        trace.append((offset + e["elapsed_s"], e["scale"] == e["scales"] - 1, e["loss"]["total"]))
    return trace


def main():
    images = os.path.join(ROOT, "..", "shared", "images")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", default=os.path.join(images, "chelsea.png"))
    parser.add_argument("--style", default=os.path.join(images, "starry_night.jpg"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--baseline-iterations", type=int, default=300)
    parser.add_argument("--model", default=None)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--candidates", default="single,content,c2f-q,c2f-q-short,c2f-h,warm-c2f-q",
                        help="comma list of: " + ", ".join(CANDIDATES))
    parser.add_argument("--keep", metavar="DIR", help="keep each result as DIR/<candidate>.png "
                        "(baseline.png for the baseline), e.g. to score them with stylize --measure")
    parser.add_argument("--baseline-args", default="", metavar="ARGS",
                        help="extra stylize options for the baseline run only")
    parser.add_argument("--baseline-binary", metavar="PATH",
                        help="another stylize build for the baseline run only, e.g. the product "
                        "before the performance work, rebuilt, to measure both back to back")
    parser.add_argument("--baseline", metavar="LOSS,SECONDS",
                        help="reuse a baseline measured earlier instead of running it")
    args = parser.parse_args()

    if args.baseline:
        bar, base_time = (float(x) for x in args.baseline.split(","))
        base = [(base_time, True, bar)]
    else:
        # The classic method: from the photo (stylize's default start is the warm one).
        base = run(args, ["--init", "content", "-n", str(args.baseline_iterations)] + shlex.split(args.baseline_args),
                   "baseline", args.baseline_binary)
        bar = min(loss for _, _, loss in base)
        base_time = next(t for t, _, loss in base if loss <= bar)
    with_args = f" ({args.baseline_args})" if args.baseline_args else ""
    if args.baseline_binary:
        with_args += f" ({args.baseline_binary})"
    print(f"baseline: single-scale L-BFGS{with_args}, {args.baseline_iterations} iterations at {args.size} px: "
          f"best loss {bar:.4f} reached after {base_time:.1f} s")
    print()
    print("| setting | time to the baseline's loss | speed-up | final loss | total time |")
    print("|---|---|---|---|---|")
    print(f"| single scale, {args.baseline_iterations} iterations | {base_time:.1f} s | 1.00x | {bar:.4f} | {base[-1][0]:.1f} s |")
    for key in args.candidates.split(","):
        name, extra = CANDIDATES[key]
        extra = [x.format(q=args.size // 4, h=args.size // 2) for x in extra]
        trace = run(args, extra, key)
        full = [(t, loss) for t, at_full, loss in trace if at_full]
        reached = next((t for t, loss in full if loss <= bar), None)
        best = min(loss for _, loss in full)
        speed = f"{base_time / reached:.2f}x" if reached else "not reached"
        when = f"{reached:.1f} s" if reached else "-"
        print(f"| {name} | {when} | {speed} | {best:.4f} | {trace[-1][0]:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
