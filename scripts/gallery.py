#!/usr/bin/python3
"""Contact sheet: content | style | one result per setting, labelled, as one PNG.

Runs build/stylize once per setting (and per content image: one row each), scores every result
with `stylize --measure` (style ratio: 1 = the untouched photo, lower = more stylized, at the
measure size and averaged over a quarter, half and the whole of it; content ratio: 0 = the photo,
1 = as far as the painting), and draws the tiles with their label, time and scores underneath. For
the README and for eyeballing regressions between versions.

  scripts/gallery.py -c photo.jpg -s starry.jpg -o gallery.png \
      --setting "gram (default)=" --setting "w2=--style-loss w2" \
      --setting "keep colours=--preserve-colors luminance"

Every setting gets --size, --iterations, --seed and --model unless it sets them itself.
Needs /usr/bin/python3 with PIL (python3-pil, installed by scripts/setup.sh).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SETTINGS = [
    "gram (default)=",
    "w2 style loss=--style-loss w2",
    "mean-cov style loss=--style-loss mean-cov",
    "keep colours: luminance=--preserve-colors luminance",
    "keep colours: stats=--preserve-colors stats",
    "average pooling=--pooling avg",
]
LABEL_LINES = 3
LINE_PX = 14
PAD_PX = 6


def font():
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if os.path.exists(path):
            return ImageFont.truetype(path, 11)
    return ImageFont.load_default()


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"gallery: {shlex.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--content", action="append", required=True)
    parser.add_argument("-s", "--style", required=True)
    parser.add_argument("-o", "--output", default="gallery.png")
    parser.add_argument("--setting", action="append", metavar="LABEL=ARGS",
                        help="a column: its label and the stylize options it adds")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tile", type=int, default=256, help="tile width in px")
    parser.add_argument("--model", default=None)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    args = parser.parse_args()
    settings = []
    for item in args.setting or DEFAULT_SETTINGS:
        label, _, extra = item.partition("=")
        settings.append((label.strip(), shlex.split(extra)))
    model = ["--model", args.model] if args.model else []

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for c, content in enumerate(args.content):
            tiles = [(Image.open(content).convert("RGB"), ["content", os.path.basename(content)]),
                     (Image.open(args.style).convert("RGB"), ["style", os.path.basename(args.style)])]
            for k, (label, extra) in enumerate(settings):
                out = os.path.join(tmp, f"{c}_{k}.png")
                cmd = [args.binary, "-c", content, "-s", args.style, "-o", out, "-q"]
                for flag, value in (("--size", args.size), ("--iterations", args.iterations),
                                    ("--seed", args.seed)):
                    if flag not in extra:
                        cmd += [flag, str(value)]
                if "--model" not in extra:
                    cmd += model
                start = time.perf_counter()
                run(cmd + extra)
                seconds = time.perf_counter() - start
                score = json.loads(run([args.binary, "--measure", out, "-c", content, "-s", args.style]
                                       + model).splitlines()[0])
                tiles.append((Image.open(out).convert("RGB"),
                              [label, f"{seconds:.0f} s, style ratio {score['style_ratio']:.3f}, "
                                      f"multi-scale {score['multiscale_style_ratio']:.3f}",
                               f"content ratio {score['content_ratio']:.3f}"]))
                print(f"{os.path.basename(content)} | {label} | {seconds:.1f} s | style ratio "
                      f"{score['style_ratio']:.4f} | multi-scale {score['multiscale_style_ratio']:.4f}"
                      f" | content distance {score['content_distance']:.4f} | content ratio "
                      f"{score['content_ratio']:.4f}", flush=True)
            rows.append(tiles)

    sheet = draw_sheet(rows, args.tile)
    sheet.save(args.output)
    print(f"gallery: wrote {args.output} ({sheet.width}x{sheet.height})")


def draw_sheet(rows, tile_w):
    """rows of (PIL image, [label lines]) as one sheet, each tile tile_w px wide, the lines under it."""
    draw_font = font()
    heights = [max(round(im.height * tile_w / im.width) for im, _ in tiles) for tiles in rows]
    label_h = LABEL_LINES * LINE_PX + PAD_PX
    columns = max(len(t) for t in rows)
    sheet = Image.new("RGB", (columns * (tile_w + PAD_PX) + PAD_PX,
                              sum(h + label_h + PAD_PX for h in heights) + PAD_PX), "white")
    draw = ImageDraw.Draw(sheet)
    y = PAD_PX
    for tiles, height in zip(rows, heights):
        for i, (image, lines) in enumerate(tiles):
            x = PAD_PX + i * (tile_w + PAD_PX)
            scaled = image.resize((tile_w, round(image.height * tile_w / image.width)), Image.LANCZOS)
            sheet.paste(scaled, (x, y))
            for j, text in enumerate(lines[:LABEL_LINES]):
                draw.text((x, y + height + 2 + j * LINE_PX), text, fill="black", font=draw_font)
        y += height + label_h + PAD_PX
    return sheet


if __name__ == "__main__":
    main()
