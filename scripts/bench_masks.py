#!/usr/bin/python3
"""Spatial control, measured: two paintings on complementary halves, and --mask.

Runs build/stylize twice on one photo:
  two styles   -s A -s B --style-mask left.png --style-mask right.png
  one region   -s A --mask left.png
and scores the halves with its own yardstick (real VGG-19 blocks 1-3, Caffe convention, the
weights in ../shared/models), on layers the runs did not optimise (relu1_2, relu2_2, relu3_3;
the runs use style relu1_1, relu2_1, relu3_1 and content relu3_2):

  style ratio of a half to a painting = |G(output half) - G(painting)|^2 / |G(photo half) - G(painting)|^2
  (G: Gram matrix of the half's features; 1 = as far as the photo, lower = closer)

and the --mask run's unstylized half by its mean absolute difference to the photo, in grey
levels, beyond the feather. With --sheet it also draws the contact sheet of the docs.

  scripts/bench_masks.py                      # tubingen, starry night | shipwreck, 192 px
  scripts/bench_masks.py --size 256 -n 300 --sheet docs/images/masks.jpg
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

from vgg_yardstick import ROOT, WEIGHTS, features, gram, load_network, load_rgb, resized

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
REFERENCE = os.path.join(SHARED, "reference", "neural-style", "inputs")
EVAL_LAYERS = ["relu1_2", "relu2_2", "relu3_3"]  # not optimised by the runs


def half(f, side, margin_frac):
    """The left or right half of a feature map, without a margin either side of the middle."""
    w = f.shape[3]
    margin = int(round(w * margin_frac))
    return f[..., : w // 2 - margin] if side == "left" else f[..., w // 2 + margin :]


def style_ratio(out_f, photo_f, painting_f, side, margin_frac):
    ratios = []
    for name in EVAL_LAYERS:
        target = gram(painting_f[name])
        out = gram(half(out_f[name], side, margin_frac))
        photo = gram(half(photo_f[name], side, margin_frac))
        ratios.append(float(((out - target) ** 2).sum() / ((photo - target) ** 2).sum()))
    return sum(ratios) / len(ratios)


def run(binary, args, label):
    start = time.time()
    done = subprocess.run([binary] + args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{label}: stylize failed ({done.returncode}): {done.stderr.strip()}")
    return time.time() - start


def draw_sheet(path, tiles, labels):
    width, height = tiles[0].size
    caption = 16
    sheet = Image.new("RGB", (width * len(tiles), height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (tile, label) in enumerate(zip(tiles, labels)):
        sheet.paste(tile.resize((width, height)), (k * width, 0))
        draw.text((k * width + 4, height + 2), label, fill="black")
    sheet.save(path, quality=85)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models",
                                                        "vgg19-caffe-blocks1-3.pt"))
    parser.add_argument("--weights", default=WEIGHTS)
    parser.add_argument("--content", default=os.path.join(REFERENCE, "tubingen.jpg"))
    parser.add_argument("--style-a", default=os.path.join(REFERENCE, "starry_night.jpg"))
    parser.add_argument("--style-b", default=os.path.join(REFERENCE, "shipwreck.jpg"))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("-n", "--iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feather", type=int, default=8, help="--mask-feather in px")
    parser.add_argument("--margin", type=float, default=0.1,
                        help="share of the width left out either side of the middle")
    parser.add_argument("--sheet", help="write the contact sheet here (JPEG)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        # The photo at the output size as a PNG: stylize then reads exactly these pixels, and
        # the kept half can be compared with the photo to the grey level.
        photo = resized(load_rgb(args.content), args.size)
        size = photo.size
        photo_path = os.path.join(tmp, "photo.png")
        photo.save(photo_path)
        left = np.zeros((size[1], size[0]), np.uint8)
        left[:, : size[0] // 2] = 255
        left_path, right_path = os.path.join(tmp, "left.png"), os.path.join(tmp, "right.png")
        Image.fromarray(left).save(left_path)
        Image.fromarray(255 - left).save(right_path)
        common = ["-c", photo_path, "--size", str(args.size), "-n", str(args.iterations),
                  "--seed", str(args.seed), "--model", args.model, "-q",
                  "--look", "subtle"]  # the balance the masks were judged with
        two = os.path.join(tmp, "two.png")
        two_s = run(args.binary, common + ["-s", args.style_a, "-s", args.style_b,
                                           "--style-mask", left_path, "--style-mask",
                                           right_path, "-o", two], "two styles")
        region = os.path.join(tmp, "region.png")
        region_s = run(args.binary, common + ["-s", args.style_a, "--mask", left_path,
                                              "--mask-feather", str(args.feather), "-o", region],
                       "--mask")

        plain = os.path.join(tmp, "plain.png")
        plain_s = run(args.binary, common + ["-s", args.style_a, "-o", plain], "no mask")

        model = load_network(args.weights)
        painting_a = load_rgb(args.style_a)
        painting_b = load_rgb(args.style_b)
        a_f = features(model, resized(painting_a, args.size), EVAL_LAYERS)
        b_f = features(model, resized(painting_b, args.size), EVAL_LAYERS)
        photo_f = features(model, photo, EVAL_LAYERS)
        two_img = load_rgb(two)
        two_f = features(model, two_img, EVAL_LAYERS)
        rows = []
        for side in ("left", "right"):
            rows.append({"run": "two styles", "half": side,
                         "ratio_to_a": style_ratio(two_f, photo_f, a_f, side, args.margin),
                         "ratio_to_b": style_ratio(two_f, photo_f, b_f, side, args.margin)})
        region_img = load_rgb(region)
        region_f = features(model, region_img, EVAL_LAYERS)
        diff = np.abs(np.asarray(region_img, np.float32) - np.asarray(photo, np.float32))
        beyond = size[0] // 2 + args.feather
        rows.append({"run": "--mask left", "half": "left",
                     "ratio_to_a": style_ratio(region_f, photo_f, a_f, "left", args.margin),
                     "mean_abs_diff_grey": float(diff[:, : size[0] // 2].mean())})
        rows.append({"run": "--mask left", "half": f"right (x >= {beyond})",
                     "ratio_to_a": style_ratio(region_f, photo_f, a_f, "right", args.margin),
                     "mean_abs_diff_grey": float(diff[:, beyond:].mean())})
        print(f"{size[0]}x{size[1]} px, {args.iterations} iterations; seconds: two styles "
              f"{two_s:.1f}, --mask {region_s:.1f}, one style without a mask {plain_s:.1f}")
        print(f"{'run':12} {'half':18} {'ratio to A':>10} {'ratio to B':>10} {'|out-photo|':>11}")
        for row in rows:
            b = row.get("ratio_to_b")
            d = row.get("mean_abs_diff_grey")
            print(f"{row['run']:12} {row['half']:18} {row['ratio_to_a']:10.3f} "
                  f"{'' if b is None else f'{b:10.3f}':>10} {'' if d is None else f'{d:11.2f}':>11}")
        print(json.dumps({"size": size, "iterations": args.iterations, "rows": rows,
                          "seconds": {"two_styles": two_s, "mask": region_s, "plain": plain_s}}))
        if args.sheet:
            mask_tile = Image.fromarray(np.stack([left] * 3, 2))
            draw_sheet(args.sheet,
                       [photo, painting_a, painting_b, mask_tile, two_img, region_img],
                       ["photo", "A: starry night", "B: the shipwreck", "mask: A left, B right",
                        "--style-mask x2", "--mask left (A)"])


if __name__ == "__main__":
    main()
