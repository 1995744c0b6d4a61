#!/usr/bin/python3
"""What the network sees, measured: stylize texture, reconstruct and visualize.

Runs build/stylize's three subcommands with the real (blocks 1-3) weights and scores their
images with an independent yardstick (scripts/vgg_yardstick.py):

  texture      style ratio = |G(texture) - G(painting)|^2 / |G(mid-grey) - G(painting)|^2, mean
               over relu1_1 relu2_1 relu3_1 (optimised) and relu1_2 relu2_2 relu3_3 (not);
               wrap ratio = mean |last column - first column| / mean |neighbouring columns|
               (and rows), plain and --tileable; the size.
  reconstruct  relative feature error at the layer, mean((F - F_photo)^2) / mean(F_photo^2), and
               the mean pixel error against the photo (grey levels), per layer.
  visualize    per channel: its mean activation on the image / its mean activation over the
               sample photos (which no run sees), and the channel's rank among the layer's
               channels by that ratio (1 = the image excites this channel most, relatively).

  scripts/bench_views.py                        # all three, defaults
  scripts/bench_views.py --only visualize --variants   # the regularisation choices side by side
  scripts/bench_views.py --sheets docs/images   # also the README's sheets
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from vgg_yardstick import ROOT, SHARED, features, gram, load_network, load_rgb, resized

TEXTURE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu1_2", "relu2_2", "relu3_3"]
VISUALIZE_VARIANTS = {
    "plain ascent (no jitter, one octave, no tv)": ["--jitter", "0", "--min-size", "0",
                                                     "--tv-weight", "0", "--contrast", "0"],
    "jitter only": ["--min-size", "0", "--tv-weight", "0", "--contrast", "0"],
    "jitter + octaves": ["--tv-weight", "0", "--contrast", "0"],
    "jitter + octaves + tv": ["--contrast", "0"],
    "jitter + octaves + tv + contrast 1": ["--contrast", "1"],
    "jitter + octaves + tv + contrast 3 (defaults)": [],
}


def run(binary, args):
    start = time.time()
    done = subprocess.run([binary] + args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"stylize {' '.join(args[:1])} failed ({done.returncode}): {done.stderr.strip()}")
    return time.time() - start


def wrap_ratio(image):
    a = np.asarray(image, np.float32)
    cols = np.abs(a[:, -1] - a[:, 0]).mean() / np.abs(np.diff(a, axis=1)).mean()
    rows = np.abs(a[-1] - a[0]).mean() / np.abs(np.diff(a, axis=0)).mean()
    return float(cols), float(rows)


def texture(args, net, tmp):
    painting = resized(load_rgb(args.painting), 256)
    target = features(net, painting, TEXTURE_LAYERS)
    grey = features(net, Image.new("RGB", (256, 160), (128, 128, 128)), TEXTURE_LAYERS)
    rows = []
    for label, extra in (("plain", []), ("--tileable", ["--tileable"])):
        out = os.path.join(tmp, f"texture{len(rows)}.png")
        seconds = run(args.binary, ["texture", "-s", args.painting, "--size", "256x160", "-n",
                                    str(args.iterations), "--seed", "1", "--model", args.model,
                                    "-q", "-o", out] + extra)
        image = load_rgb(out)
        f = features(net, image, TEXTURE_LAYERS)
        ratios = [float(((gram(f[n]) - gram(target[n])) ** 2).sum() /
                        ((gram(grey[n]) - gram(target[n])) ** 2).sum()) for n in TEXTURE_LAYERS]
        cols, rows_ = wrap_ratio(image)
        rows.append({"texture": label, "size": list(image.size), "seconds": seconds,
                     "style_ratio_optimised": float(np.mean(ratios[:3])),
                     "style_ratio_other": float(np.mean(ratios[3:])),
                     "wrap_ratio_columns": cols, "wrap_ratio_rows": rows_, "path": out})
    return rows


def reconstruct(args, net, tmp):
    photo = resized(load_rgb(args.photo), 192)
    photo_path = os.path.join(tmp, "photo.png")
    photo.save(photo_path)  # stylize reads exactly these pixels
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu3_4"]
    out = os.path.join(tmp, "rec.png")
    command = ["reconstruct", "-c", photo_path, "--size", "192", "-n", str(args.iterations),
               "--seed", "1", "--model", args.model, "-q", "-o", out]
    for layer in layers:
        command += ["--layer", layer]
    seconds = run(args.binary, command)
    target = features(net, photo, layers)
    rows = []
    for layer in layers:
        image = load_rgb(os.path.join(tmp, f"rec_{layer}.png"))
        f = features(net, image, [layer])[layer]
        error = float(((f - target[layer]) ** 2).mean() / (target[layer] ** 2).mean())
        pixels = float(np.abs(np.asarray(image, np.float32) - np.asarray(photo, np.float32)).mean())
        rows.append({"layer": layer, "feature_error": error, "pixel_error_grey": pixels})
    return rows, seconds, out


def visualize(args, net, tmp, variants):
    photos = [p for p in sorted(glob.glob(os.path.join(SHARED, "images", "*")))
              if p.endswith((".jpg", ".png")) and "starry" not in p]
    layer = args.layer
    natural = torch.stack([features(net, resized(load_rgb(p), 256), [layer])[layer]
                           .mean(dim=(0, 2, 3)) for p in photos]).mean(0)
    results = {}
    for name, extra in variants.items():
        out_dir = os.path.join(tmp, f"vis{len(results)}")
        seconds = run(args.binary, ["visualize", "--layer", layer, "--channels", args.channels,
                                    "--output-dir", out_dir, "--seed", "1", "--model",
                                    args.model, "-q", "-o", os.path.join(out_dir, "sheet.png")]
                      + extra)
        rows = []
        for path in sorted(glob.glob(os.path.join(out_dir, f"{layer}_*.png"))):
            channel = int(os.path.basename(path)[len(layer) + 1:-4])
            activation = features(net, load_rgb(path), [layer])[layer].mean(dim=(0, 2, 3))
            ratios = activation / natural.clamp_min(1e-6)
            rank = int((ratios > ratios[channel]).sum()) + 1
            rows.append({"channel": channel, "ratio": float(ratios[channel]), "rank": rank})
        results[name] = {"rows": rows, "seconds": seconds,
                         "sheet": os.path.join(out_dir, "sheet.png")}
    return results, len(photos)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models",
                                                        "vgg19-caffe-blocks1-3.pt"))
    parser.add_argument("--painting", default=os.path.join(SHARED, "images", "starry_night.jpg"))
    parser.add_argument("--photo", default=os.path.join(SHARED, "images", "chelsea.png"))
    parser.add_argument("-n", "--iterations", type=int, default=200)
    parser.add_argument("--layer", default="relu3_1", help="visualize's layer")
    parser.add_argument("--channels", default="0-7", help="visualize's channels")
    parser.add_argument("--only", choices=["texture", "reconstruct", "visualize"])
    parser.add_argument("--variants", action="store_true",
                        help="visualize: compare the regularisations, not just the defaults")
    parser.add_argument("--sheets", help="copy the sheets (JPEG) into this directory")
    args = parser.parse_args()
    net = load_network()
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "texture"):
            report["texture"] = texture(args, net, tmp)
            for row in report["texture"]:
                print(f"texture {row['texture']:11} {row['size'][0]}x{row['size'][1]} px "
                      f"{row['seconds']:.0f} s: style ratio {row['style_ratio_optimised']:.3f} "
                      f"(other layers {row['style_ratio_other']:.3f}), wrap ratio columns "
                      f"{row['wrap_ratio_columns']:.2f} rows {row['wrap_ratio_rows']:.2f}")
        if args.only in (None, "reconstruct"):
            rows, seconds, sheet = reconstruct(args, net, tmp)
            report["reconstruct"] = rows
            print(f"reconstruct 192 px, {args.iterations} iterations per layer, {seconds:.0f} s:")
            for row in rows:
                print(f"  {row['layer']}: feature error {row['feature_error']:.4f}, pixel error "
                      f"{row['pixel_error_grey']:.2f} grey levels")
            if args.sheets:
                load_rgb(sheet).save(os.path.join(args.sheets, "reconstruct.jpg"), quality=85)
        if args.only in (None, "visualize"):
            variants = VISUALIZE_VARIANTS if args.variants else {
                "jitter + octaves + tv + contrast 3 (defaults)": []}
            results, photo_count = visualize(args, net, tmp, variants)
            report["visualize"] = results
            print(f"visualize {args.layer} channels {args.channels} (activation against "
                  f"{photo_count} sample photos):")
            for name, result in results.items():
                ratios = [r["ratio"] for r in result["rows"]]
                ranks = [r["rank"] for r in result["rows"]]
                print(f"  {name:45} median ratio {np.median(ratios):6.1f}x, min "
                      f"{min(ratios):6.1f}x, ranks {ranks}, {result['seconds']:.0f} s")
            if args.sheets:
                last = list(results.values())[-1]
                load_rgb(last["sheet"]).save(os.path.join(args.sheets, "visualize.jpg"),
                                             quality=85)
        if args.sheets and "texture" in report:
            tiled = load_rgb(report["texture"][1]["path"])
            sheet = Image.new("RGB", (tiled.width * 2, tiled.height * 2))
            for i in range(2):
                for j in range(2):
                    sheet.paste(tiled, (i * tiled.width, j * tiled.height))
            sheet.save(os.path.join(args.sheets, "texture.jpg"), quality=85)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
