#!/usr/bin/python3
"""The look, measured against neural-style's published examples (../shared/reference/neural-style).

For each calibration pair (tubingen x a painting) and each variant, runs build/stylize at --size
with the real blocks 1-3 weights and scores the output with `stylize --measure` (the binary's
yardstick: multi-scale style ratio over a quarter, half and all of --size, content ratio =
content distance / the painting's), beside neural-style's published output scored the same way.
Columns:
  seconds   wall time of the run (2 threads unless --threads)
  ms-style  multi-scale style ratio (lower: closer to the painting; 1 = the photo)
  content   content ratio (0 = the photo, 1 = as far as the painting)
  6L style, 6L content   the same from this project's independent PyTorch yardstick
            (vgg_yardstick: relu1_1 1_2 2_1 2_2 3_1 3_3 at 1/4, 1/2, 1 x --size; relu3_2
            relative to the painting's distance)
A variant is "label=options"; "defaults=" runs the binary's defaults.

  scripts/bench_look.py                                  # defaults and --look subtle, 3 pairs
  scripts/bench_look.py --pairs starry --variants "cw0.1=--content-weight 0.1"
  scripts/bench_look.py --baseline-binary /tmp/a8e693d/stylize --repeats 2   # time, alternating
  scripts/bench_look.py --pairs starry shipwreck --sheet docs/images/look.jpg
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


from PIL import Image

from gallery import draw_sheet
from vgg_yardstick import (CONTENT_LAYER, SHARED, features, load_network, load_rgb,
                           multiscale_style_ratio, resized)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(SHARED, "reference", "neural-style")
PAIRS = {"starry": ("starry_night.jpg", "tubingen_starry.png"),
         "shipwreck": ("shipwreck.jpg", "tubingen_shipwreck.png"),
         "seated-nude": ("seated-nude.jpg", "tubingen_seated_nude.png")}


def six_layer_scores(network, output, photo, painting, size):
    """(multi-scale style ratio, content ratio) on STYLE_LAYERS and CONTENT_LAYER."""
    style = multiscale_style_ratio(network, output, photo, painting, size)
    photo_s = resized(photo, size)
    out_c = features(network, resized(output, size).resize(photo_s.size), [CONTENT_LAYER])
    photo_c = features(network, photo_s, [CONTENT_LAYER])
    paint_c = features(network, painting.resize(photo_s.size), [CONTENT_LAYER])
    distance = float(((out_c[CONTENT_LAYER] - photo_c[CONTENT_LAYER]) ** 2).sum())
    return style, distance / float(
        ((paint_c[CONTENT_LAYER] - photo_c[CONTENT_LAYER]) ** 2).sum())


def measure(a, image, photo, painting):
    line = subprocess.run([a.binary, "--measure", image, "-c", photo, "-s", painting,
                           "--measure-size", str(a.size), "--model", a.model],
                          check=True, capture_output=True, text=True).stdout.splitlines()[0]
    score = json.loads(line)
    return score["multiscale_style_ratio"], score["content_ratio"]


def report(a, network, pair, label, image, photo, painting, seconds):
    style, content = measure(a, image, photo, painting)
    style6, content6 = six_layer_scores(network, load_rgb(image), load_rgb(photo),
                                        load_rgb(painting), a.size)
    print(f"{pair:11} {label:28} {seconds:8.1f} {style:9.4f} {content:8.3f} {style6:9.4f} "
          f"{content6:8.3f}", flush=True)


def contact_sheet(rows, path, tile_px=256):
    """rows: [(pair, [(label, image path)])] as one labelled JPEG (photo | painting | variants)."""
    tiles = [[(Image.open(image).convert("RGB"), [label]) for label, image in row] for _, row in rows]
    draw_sheet(tiles, tile_px).save(path, quality=85, optimize=True)
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--baseline-binary", help="also run this build's defaults, alternating "
                        "with the first variant, for the time ratio")
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models",
                                                        "vgg19-caffe-blocks1-3.pt"))
    parser.add_argument("--pairs", nargs="*", default=list(PAIRS))
    parser.add_argument("--variants", nargs="*", default=["defaults=", "subtle=--look subtle"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", help="folder to keep the outputs in")
    parser.add_argument("--sheet", help="also a contact sheet (JPEG): photo | painting | "
                        "neural-style's | each variant, a row per pair")
    a = parser.parse_args()
    network = load_network()
    work = a.keep or tempfile.mkdtemp(prefix="bench-look-")
    os.makedirs(work, exist_ok=True)
    print(f"{a.size} px, seed {a.seed}, {a.threads} threads, started {time.strftime('%H:%M:%S')}")
    print(f"{'pair':11} {'variant':28} {'seconds':>8} {'ms-style':>9} {'content':>8} "
          f"{'6L style':>9} {'6L cont.':>8}")
    sheet_rows = []
    for pair in a.pairs:
        painting_name, published = PAIRS[pair]
        photo = os.path.join(REFERENCE, "inputs", "tubingen.jpg")
        painting = os.path.join(REFERENCE, "inputs", painting_name)
        report(a, network, pair, "neural-style (published)",
               os.path.join(REFERENCE, "outputs", published), photo, painting, float("nan"))
        runs = [(v.split("=", 1)[0], a.binary, shlex.split(v.split("=", 1)[1])) for v in a.variants]
        times = {}
        for repeat in range(a.repeats):
            order = list(runs)
            if a.baseline_binary:
                order.insert(repeat % 2, ("baseline defaults", a.baseline_binary, []))
            for label, binary, extra in order:
                out = os.path.join(work, f"{pair}-{label}.png".replace(" ", "_"))
                command = [binary, "-c", photo, "-s", painting, "-o", out, "--size", str(a.size),
                           "--seed", str(a.seed), "--threads", str(a.threads), "--model", a.model,
                           "-q"] + extra
                start = time.perf_counter()
                subprocess.run(command, check=True)
                seconds = time.perf_counter() - start
                times.setdefault(label, []).append(seconds)
                report(a, network, pair, label, out, photo, painting, seconds)
        sheet_rows.append((pair, [("photo", photo), ("painting", painting)] +
                           [(label, os.path.join(work, f"{pair}-{label}.png".replace(" ", "_")))
                            for label, _, _ in runs]))
        if a.baseline_binary:
            base = statistics.median(times["baseline defaults"])
            for label, seconds in times.items():
                print(f"{pair:11} {label:28} median {statistics.median(seconds):.1f} s = "
                      f"{statistics.median(seconds) / base:.2f}x the baseline's", flush=True)
    if a.sheet:
        contact_sheet(sheet_rows, a.sheet)


if __name__ == "__main__":
    sys.exit(main())
