#!/usr/bin/python3
"""Tiled outputs, measured: quality against an untiled run, seams, memory and time at print size.

quality: one photo and painting at --size px, untiled and with --tile-size (plus any
  --variants), the same iterations; each output scored with this project's yardstick (real
  VGG-19 blocks 1-3, ../shared/models):
    style distance   = mean over evaluation sides size/4, size/2, size and layers relu1_1,
                       relu1_2, relu2_1, relu2_2, relu3_1, relu3_3 of
                       |G(output) - G(painting)|^2 / |G(photo) - G(painting)|^2
    content distance = |F(output) - F(photo)|^2 / |F(photo)|^2 at relu3_2, full size
    seam ratio       = mean |step| between neighbouring pixels across the tile grids' core
                       boundaries / the same within 2-8 px of them (1: no seam); for the untiled
                       run at the same places
big: --big-sizes (default 2048 4096) under --max-memory each (default 1500M, 2800M): peak RSS
  (/usr/bin/time -f %M), wall time, the tile size stylize chose, and the time of one pass over
  the full-size image against the untiled time per iteration at 1024 px scaled by the pixels.

  scripts/bench_tiles.py                          # quality at 768 px / 384 px tiles, then big
  scripts/bench_tiles.py --only quality --variants "--tile-overlap 0 --tile-passes 1"
  scripts/bench_tiles.py --only big --big-sizes 2048 --budgets 1500M -n 6
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from vgg_yardstick import ROOT, WEIGHTS, load_network, load_rgb, style_content_scores as scores

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
REFERENCE = os.path.join(SHARED, "reference", "neural-style", "inputs")
ALIGN_PX = 4  # the blocks 1-3 plan's deepest layer follows two poolings


def tile_bounds(length, tile, margin, offset):
    """Inner core boundaries of one axis, as stylize's tile_spans puts them."""
    if length <= tile:
        return []
    margin = (margin + ALIGN_PX - 1) // ALIGN_PX * ALIGN_PX
    core = (tile - 2 * margin) // ALIGN_PX * ALIGN_PX
    first = (offset % core) // ALIGN_PX * ALIGN_PX or core
    bounds = list(range(first, length, core))
    if bounds and length - bounds[-1] < ALIGN_PX:
        bounds.pop()
    return bounds


def grid_bounds(length, tile, margin, passes):
    core = (tile - 2 * ((margin + ALIGN_PX - 1) // ALIGN_PX * ALIGN_PX)) // ALIGN_PX * ALIGN_PX
    found = set()
    for p in range(passes):
        found.update(tile_bounds(length, tile, margin, p * core // passes))
    return sorted(found)


def seam_ratio(image, tile, margin, passes):
    """Step size across the grids' boundaries against the steps 2-8 px beside them."""
    rgb = np.asarray(image, dtype=np.float32)
    steps_x = np.abs(np.diff(rgb, axis=1)).sum(2).mean(0)  # step between column x and x+1
    steps_y = np.abs(np.diff(rgb, axis=0)).sum(2).mean(1)
    at, beside = [], []
    for steps, length in ((steps_x, rgb.shape[1]), (steps_y, rgb.shape[0])):
        for b in grid_bounds(length, tile, margin, passes):
            at.append(steps[b - 1])  # between b-1 and b
            beside.extend(steps[b - 1 + d] for d in (-8, -6, -4, -2, 2, 4, 6, 8)
                          if 0 <= b - 1 + d < len(steps))
    return float(np.mean(at) / np.mean(beside)) if at else float("nan")


def run(cmd, label):
    start = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{label}: failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return time.time() - start, done.stderr


def option(args, name, default):
    return int(args[args.index(name) + 1]) if name in args else default


def quality(a, base, network, work):
    photo, painting = load_rgb(a.content), load_rgb(a.style)
    rows = [] if a.variants_only else [("untiled", []), ("tiled", ["--tile-size", str(a.tile_size)])]
    rows += [("tiled " + v, ["--tile-size", str(a.tile_size)] + v.split()) for v in a.variants]
    print(f"quality: {os.path.basename(a.content)} x {os.path.basename(a.style)}, {a.size} px, "
          f"{a.iterations} iterations, tiles of {a.tile_size} px")
    print(f"{'run':<44} {'style':>7} {'content':>8} {'seams':>6} {'time s':>7}")
    for label, extra in rows:
        out = os.path.join(work, f"q{len(label)}_{abs(hash(label))}.png")
        seconds, _ = run(base + ["-s", a.style, "--size", str(a.size), "-o", out] + extra, label)
        image = load_rgb(out)
        style, content = scores(network, image, photo, painting, a.size)
        tiled = extra or ["--tile-size", str(a.tile_size)]  # the untiled run: the same places
        seams = seam_ratio(image, option(tiled, "--tile-size", a.tile_size),
                           option(tiled, "--tile-overlap", 80), option(tiled, "--tile-passes", 2))
        print(f"{label:<44} {style:7.4f} {content:8.4f} {seams:6.3f} {seconds:7.1f}", flush=True)
        if a.keep:
            os.replace(out, os.path.join(a.keep, label.replace(" ", "_") + ".png"))


def untiled_seconds_per_iteration(base, a, work, side):
    out = os.path.join(work, "probe.png")
    events = os.path.join(work, "probe.jsonl")
    run(base + ["-s", a.style, "--size", str(side), "-n", "6", "-o", out, "--progress-json",
                events, "--print-every", "1"], f"untiled {side} px")
    elapsed = [json.loads(line)["elapsed_s"] for line in open(events)
               if '"iteration"' in line and json.loads(line)["type"] == "iteration"]
    return float(np.median(np.diff(elapsed[1:])))


def big(a, base, work):
    per_iteration_1024 = untiled_seconds_per_iteration(base, a, work, 1024)
    print(f"big: untiled 1024 px: {per_iteration_1024:.2f} s/iteration (median of 4)")
    print(f"{'size':>5} {'budget':>7} {'tile px':>7} {'peak RSS MiB':>12} {'wall s':>7} "
          f"{'pass s':>7} {'untiled est. s':>14} {'ratio':>6}")
    for size, budget in zip(a.big_sizes, a.budgets):
        out = os.path.join(work, f"big{size}.png")
        events = os.path.join(work, f"big{size}.jsonl")
        cmd = ["/usr/bin/time", "-f", "%M"] + base + [
            "-s", a.style, "--size", str(size), "--max-memory", budget, "-o", out,
            "--progress-json", events, "--print-every", "1", "-n", str(a.big_iterations)]
        seconds, err = run(cmd, f"{size} px")
        peak_mib = int(err.strip().splitlines()[-1]) / 1024
        tile = re.search(r"run in tiles of (\d+) px", err)
        last = {}
        for line in open(events):
            event = json.loads(line)
            if event["type"] == "iteration" and event["scale"] == event["scales"] - 1:
                last = event
        # One pass over the image = each tile's share of one iteration: the scale's time / n.
        pass_s = last["elapsed_s"] / a.big_iterations if last else float("nan")
        estimate = per_iteration_1024 * (size / 1024) ** 2
        print(f"{size:5d} {budget:>7} {tile.group(1) if tile else '-':>7} {peak_mib:12.0f} "
              f"{seconds:7.0f} {pass_s:7.1f} {estimate:14.1f} {pass_s / estimate:6.2f}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models",
                                                        "vgg19-caffe-blocks1-3.pt"))
    parser.add_argument("--weights", default=WEIGHTS)
    parser.add_argument("--content", default=os.path.join(REFERENCE, "tubingen.jpg"))
    parser.add_argument("--style", default=os.path.join(REFERENCE, "starry_night.jpg"))
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--tile-size", type=int, default=384)
    parser.add_argument("-n", "--iterations", type=int, default=200)
    parser.add_argument("--variants", nargs="*", default=[],
                        help='extra tiled runs, each a string of options, e.g. "--tile-passes 1"')
    parser.add_argument("--big-sizes", type=int, nargs="*", default=[2048, 4096])
    parser.add_argument("--budgets", nargs="*", default=["1500M", "2800M"])
    parser.add_argument("--big-iterations", type=int, default=10)
    parser.add_argument("--only", choices=["quality", "big"])
    parser.add_argument("--keep", help="folder to keep the quality outputs in")
    parser.add_argument("--variants-only", action="store_true",
                        help="quality: only the --variants rows (the runs are deterministic, so "
                             "the untiled and default rows of an earlier run still stand)")
    a = parser.parse_args()
    base = [a.binary, "-c", a.content, "--model", a.model, "--seed", "1",
            "--look", "subtle"]  # one scale, the balance the tiles were measured with
    with tempfile.TemporaryDirectory() as work:
        if a.only != "big":
            quality(a, base + ["-n", str(a.iterations)], load_network(a.weights), work)
        if a.only != "quality":
            big(a, base, work)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
