#!/usr/bin/python3
"""Per-iteration speed and peak memory of stylize against a plain PyTorch implementation.

In one run on this machine: measures the compute ceiling (a large sgemm through torch on all
cores), then times `stylize` and scripts/reference_gatys.py (the same algorithm, weights, layers,
size and iteration count in Python with Debian's python3-torch) alternately for --reps
repetitions at each size, and prints medians, their ratio, achieved GFLOP/s as a fraction of the
ceiling, and the peak RSS of each process.

FLOPs per iteration are counted analytically (see flops_per_iteration): every 3x3 convolution up
to the deepest layer used costs 2*Cin*Cout*9*H*W for the forward pass and the same again for the
input gradient (the weights are frozen, so there is no weight gradient); each style layer's Gram
matrix costs 2*C^2*H*W forward and twice that backward. Pooling, ReLU and the losses are ignored.
For VGG-19 to relu5_1 at 512x512 this gives 405 GFLOP. These are the direct method's FLOPs
whatever stylize computes: its Winograd convolutions (--conv auto, the default where oneDNN has
them) do a quarter of the multiplications, so "GFLOP/s" is a direct-equivalent rate and can exceed
the sgemm ceiling.

  scripts/bench_perf.py [--model FILE] [--sizes 256,512,1024] [--iterations 8] [--reps 3]
      [--variant NAME=VAR=VALUE[,VAR=VALUE]] ...  (stylize again under other environments, e.g.
      --variant glibc-default=STYLIZE_MALLOC=default to compare heap settings)
      [--variant-args NAME=ARGS] ...  (stylize again with more options, e.g. direct='--conv direct')
      [--variant-binary NAME=PATH] ...  (another build of stylize, for A/B comparisons)
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def flops_per_iteration(names, height, width, deepest, style_layers):
    total, pools, cin = 0.0, 0, 3
    for i, name in enumerate(names[:deepest + 1]):
        hw = (height >> pools) * (width >> pools)
        if name.startswith("pool"):
            pools += 1
        elif name.startswith("conv"):
            cout = CHANNELS[int(name[4])]
            total += 2 * (2 * cin * cout * 9 * hw)
            cin = cout
        elif name in style_layers:
            c = CHANNELS[int(name[4])]
            total += 3 * (2 * c * c * hw)
    return total


def measure_ceiling(threads):
    code = ("import torch,time,statistics;torch.set_num_threads(%d);a=torch.randn(4096,4096);"
            "b=torch.randn(4096,4096);torch.mm(a,b);t=[]\n"
            "for _ in range(5):\n s=time.perf_counter();torch.mm(a,b);t.append(time.perf_counter()-s)\n"
            "print(2*4096**3/statistics.median(t)/1e9)") % threads
    return float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout)


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (stdout, peak RSS in MiB)."""
    result = subprocess.run(["/usr/bin/time", "-f", "RSS_KB %M"] + cmd, capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})))
    if result.returncode != 0:
        sys.exit(f"bench_perf: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    rss = [l for l in result.stderr.splitlines() if l.startswith("RSS_KB")][-1]
    return result.stdout, int(rss.split()[1]) / 1024


def run_stylize(args, size, variant=None):
    variant = variant or {}
    out, rss = timed([variant.get("binary", args.binary), "-c", args.content, "-s", args.style, "--model", args.model,
                      "--size", str(size), "-n", str(args.iterations), "--seed", "1",
                      "--print-every", "1", "--progress-json", "-", "-q", "-o",
                      os.path.join(args.tmp, "bench.png")]
                     # one scale: the time per iteration at this size (not for older builds)
                     + (["--min-size", "0"] if "binary" in variant else ["--look", "subtle"])
                     + variant.get("args", []),
                     variant.get("env"))
    elapsed = [e["elapsed_s"] for e in map(json.loads, out.splitlines()) if e["type"] == "iteration"]
    gaps = [b - a for a, b in zip(elapsed, elapsed[1:])]
    return statistics.median(gaps), rss


def run_reference(args, size):
    out, rss = timed([PY, os.path.join(ROOT, "scripts", "reference_gatys.py"), "--model", args.model,
                      "--content", args.content, "--style", args.style, "--size", str(size),
                      "--iterations", str(args.iterations), "--threads", str(args.threads)])
    return json.loads(out.splitlines()[-1])["per_iteration_s"], rss


def main():
    images = os.path.join(ROOT, "..", "shared", "images")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models", "vgg19-random.pt"))
    parser.add_argument("--content", default=os.path.join(images, "baboon.jpg"))
    parser.add_argument("--style", default=os.path.join(images, "starry_night.jpg"))
    parser.add_argument("--sizes", default="512")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--no-reference", action="store_true", help="time stylize only")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=VAR=VALUE[,...]",
                        help="also time stylize with these environment variables")
    parser.add_argument("--variant-args", action="append", default=[], metavar="NAME=ARGS",
                        help="also time stylize with these extra options")
    parser.add_argument("--variant-binary", action="append", default=[], metavar="NAME=PATH",
                        help="also time this other stylize binary")
    args = parser.parse_args()
    args.tmp = os.path.join(ROOT, "build")

    import torch  # noqa: E402 - only to read the model's layer names
    model = torch.jit.load(args.model)
    names = list(model.layer_names)
    style_layers = [n for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1") if n in names]
    content_layer = "relu4_2" if "relu4_2" in names else "relu3_2"
    deepest = max(names.index(n) for n in style_layers + [content_layer])
    del model

    variants = {}
    for spec in args.variant:
        name, _, assignments = spec.partition("=")
        variants["stylize " + name] = {"env": dict(a.split("=", 1) for a in assignments.split(",") if a)}
    for spec in args.variant_args:
        name, _, extra = spec.partition("=")
        variants["stylize " + name] = {"args": shlex.split(extra)}
    for spec in args.variant_binary:
        name, _, path = spec.partition("=")
        variants["stylize " + name] = {"binary": path}
    impls = ["stylize", "python"] + list(variants)
    ceiling = measure_ceiling(args.threads)
    print(f"ceiling: {ceiling:.1f} GFLOP/s (4096^3 sgemm through torch, {args.threads} threads)")
    rows = []
    for size in map(int, args.sizes.split(",")):
        times = {impl: [] for impl in impls}
        rss = {impl: [] for impl in impls}
        for rep in range(args.reps):
            order = impls if rep % 2 == 0 else impls[::-1]
            for impl in order:
                if impl == "python" and args.no_reference:
                    continue
                if impl == "python":
                    t, r = run_reference(args, size)
                else:
                    t, r = run_stylize(args, size, variants.get(impl))
                times[impl].append(t)
                rss[impl].append(r)
                print(f"  {size} px rep {rep + 1}: {impl:16s} {t:.3f} s/iteration, peak RSS {r:.0f} MiB",
                      flush=True)
        # The benchmark images are square, so H = W = size.
        gflop = flops_per_iteration(names, size, size, deepest, style_layers) / 1e9
        for impl in impls:
            if not times[impl]:
                continue
            t = statistics.median(times[impl])
            rows.append((size, impl, t, gflop / t, gflop / t / ceiling, max(rss[impl]), gflop))
    print()
    print(f"| size | implementation | s/iteration (median of {args.reps}) | GFLOP/iteration (direct) | GFLOP/s | of ceiling | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for size, impl, t, rate, frac, r, gflop in rows:
        print(f"| {size} | {impl} | {t:.3f} | {gflop:.0f} | {rate:.0f} | {frac:.0%} | {r:.0f} MiB |")
    for size in sorted({r[0] for r in rows}):
        pair = {r[1]: r[2] for r in rows if r[0] == size}
        if "python" in pair:
            print(f"{size} px: stylize is {pair['python'] / pair['stylize']:.2f}x the speed of the Python reference")


if __name__ == "__main__":
    main()
