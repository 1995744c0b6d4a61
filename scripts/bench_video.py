#!/usr/bin/python3
"""Video, measured: how steady stylize's clips are, what it costs, and whether the look holds.

Clips (made here, not committed):
  pan    a 192x128 window panning 3 px a frame over a photo (known motion), 10 frames
  zoom   the same window zooming in 2 % a frame about its centre, 10 frames
  real   the first frames of a sample clip from Debian's opencv-doc (apt-get download, then
         dpkg-deb -x; skipped when neither works), at --size
Modes, each frame from --iterations (the first of a chain too):
  independent   --temporal-weight 0: every frame on its own, as an image is made
  temporal      stylize's defaults: the temporal loss, --frame-iterations as --iterations
  temporal ...  the same with --variants' options
Columns:
  warp     mean |out_t+1(x) - out_t(x + flow)| in grey levels over the pixels whose flow is
           consistent (stylize_warp_error: DIS flow of the input frames, forward-backward check)
  known    the same with the true motion (pan only: x + 3 px)
  s/frame  median seconds per frame after the first (the JSON frame events)
  style, content   the look of the frames written (after the first), by this project's
           yardstick (vgg_yardstick.style_content_scores: real VGG-19 blocks 1-3, style over
           three evaluation sizes): each frame against its own input frame and the painting.
           Not the engine's logged losses: those are of the optimised float image, whose finest
           structure (below one grey level) a PNG or a sub-pixel shift does not keep
Then the shard check: a longer pan clip (--shard-frames) in 2 shards for each --shard-leads, the
warp error of the pairs the fade spans against the ordinary pairs', and the look of the faded
frames against the others'.

  scripts/bench_video.py                       # everything, 100 iterations
  scripts/bench_video.py --clips pan -n 50 --variants "--temporal-frames 1,2,4"
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from vgg_yardstick import load_network, load_rgb, style_content_scores

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
PAN_PX = 3


def make_pan(photo, folder, frames, zoom=False):
    os.makedirs(folder, exist_ok=True)
    image = Image.open(photo).convert("RGB")
    width, height = 192, 128
    scale = max(1.0, 2.5 * width / image.width)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    left, top = (image.width - width - PAN_PX * frames) // 2, (image.height - height) // 2
    for t in range(frames):
        if zoom:
            factor = 1.02 ** t
            w, h = width / factor, height / factor
            cx, cy = left + width / 2, top + height / 2
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            frame = image.resize((width, height), Image.LANCZOS, box=box)
        else:
            frame = image.crop((left + PAN_PX * t, top, left + PAN_PX * t + width, top + height))
        frame.save(os.path.join(folder, f"{t + 1:04d}.png"))
    return os.path.join(folder, "%04d.png")


def make_real(work, frames):
    """Frames of opencv-doc's vtest.avi as PNG files, or None."""
    deb_dir = os.path.join(work, "deb")
    os.makedirs(deb_dir, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=deb_dir, check=True,
                       capture_output=True)
        deb = [f for f in os.listdir(deb_dir) if f.endswith(".deb")][0]
        subprocess.run(["dpkg-deb", "-x", deb, "x"], cwd=deb_dir, check=True, capture_output=True)
    except (subprocess.CalledProcessError, IndexError, FileNotFoundError) as error:
        print(f"real clip skipped: {error}")
        return None
    clip = os.path.join(deb_dir, "x/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    folder = os.path.join(work, "real")
    os.makedirs(folder)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", clip, "-frames:v",
                    str(frames), os.path.join(folder, "%04d.png")], check=True)
    return os.path.join(folder, "%04d.png")


def stylize(a, clip, out_pattern, extra, events):
    command = [a.binary, "-c", clip, "-s", a.style, "-o", out_pattern, "--size", str(a.size),
               "-n", str(a.iterations), "--seed", "1", "--model", a.model, "--look", a.look,
               "--progress-json", events, "-q"] + extra
    subprocess.run(command, check=True)
    return [e for e in map(json.loads, open(events)) if e["type"] == "frame"]


def warp_error(a, clip, out_pattern, first, last):
    result = subprocess.run([a.warp_error, clip, out_pattern, str(first), str(last)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["warp_error"]


def known_pan_error(out_pattern, frames):
    errors = []
    for t in range(1, frames):
        a = np.asarray(Image.open(out_pattern % t), dtype=np.float32)
        b = np.asarray(Image.open(out_pattern % (t + 1)), dtype=np.float32)
        errors.append(np.abs(b[:, :-PAN_PX] - a[:, PAN_PX:]).mean())
    return float(np.mean(errors))


def look(network, a, clip, out_pattern, frames):
    painting = load_rgb(a.style)
    scores = [style_content_scores(network, load_rgb(out_pattern % t), load_rgb(clip % t), painting,
                                   a.size) for t in range(2, frames + 1)]
    return tuple(float(np.mean(column)) for column in zip(*scores))


def row(a, network, work, name, clip, frames, label, extra):
    out_dir = os.path.join(work, f"{name}-{label}".replace(" ", "_").replace(",", "_"))
    os.makedirs(out_dir)
    out_pattern = os.path.join(out_dir, "%04d.png")
    events = os.path.join(out_dir, "events.jsonl")
    reports = stylize(a, clip, out_pattern, extra, events)
    later = [r for r in reports if r["frame"] > 1]
    warp = warp_error(a, clip, out_pattern, 1, frames)
    known = known_pan_error(out_pattern, frames) if name == "pan" else float("nan")
    seconds = statistics.median(r["seconds"] for r in later)
    style, content = look(network, a, clip, out_pattern, frames)
    print(f"{name:5} {label:34} {warp:7.2f} {known:7.2f} {seconds:8.2f} {style:8.4f} "
          f"{content:8.4f}", flush=True)
    if a.keep:
        shutil.copytree(out_dir, os.path.join(a.keep, os.path.basename(out_dir)))
    return warp, seconds, style, content


def shard_check(a, network, work, lead):
    """The pan clip (--shard-frames) in 2 shards, shard 2 starting `lead` frames early: the pairs
    the fade spans (the last lead+1 into shard 2's first frame) against the ordinary ones."""
    out_dir = os.path.join(work, f"shards-lead{lead}")
    os.makedirs(out_dir)
    frames = a.shard_frames
    clip = make_pan(a.photo, os.path.join(out_dir, "clip"), frames)
    out_pattern = os.path.join(out_dir, "%04d.png")
    for shard in ("2/2", "1/2"):  # the first chunk finishes last: it fades and writes
        stylize(a, clip, out_pattern, ["--shard", shard, "--shard-lead", str(lead)],
                os.path.join(out_dir, "e.jsonl"))
    first = frames // 2 + 1  # shard 2's first frame
    pairs = {t: warp_error(a, clip, out_pattern, t, t + 1) for t in range(1, frames)}
    fade = [pairs[t] for t in range(max(1, first - lead - 1), first)]
    ordinary = [p for t, p in pairs.items() if t < first - lead - 1 or t >= first]
    painting = load_rgb(a.style)
    scores = {t: style_content_scores(network, load_rgb(out_pattern % t), load_rgb(clip % t),
                                      painting, a.size) for t in range(2, frames + 1)}
    faded = [scores[t] for t in range(first - lead, first) if t >= 2]
    others = [v for t, v in scores.items() if t < first - lead or t >= first]
    print(f"shards, lead {lead:2}: {len(fade)} pairs across the boundary (frames "
          f"{first - len(fade)}-{first}): warp max {max(fade):.2f} mean {statistics.mean(fade):.2f}; "
          f"ordinary pairs median {statistics.median(ordinary):.2f} max {max(ordinary):.2f}", flush=True)
    if faded:
        print(f"                 faded frames style {np.mean([f[0] for f in faded]):.4f} content "
              f"{np.mean([f[1] for f in faded]):.4f}; the others style "
              f"{np.mean([o[0] for o in others]):.4f} content {np.mean([o[1] for o in others]):.4f}",
              flush=True)
    if a.keep:
        shutil.copytree(out_dir, os.path.join(a.keep, os.path.basename(out_dir)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "stylize"))
    parser.add_argument("--warp-error", default=os.path.join(ROOT, "build", "stylize_warp_error"))
    parser.add_argument("--model", default=os.path.join(ROOT, "build", "test-models",
                                                        "vgg19-caffe-blocks1-3.pt"))
    parser.add_argument("--photo", default=os.path.join(SHARED, "reference", "neural-style",
                                                        "inputs", "tubingen.jpg"))
    parser.add_argument("--style", default=os.path.join(SHARED, "images", "starry_night.jpg"))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("-n", "--iterations", type=int, default=100)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--look", default="subtle",
                        help="stylize's --look (the video settings were chosen with subtle)")
    parser.add_argument("--clips", nargs="*", default=["pan", "zoom", "real"])
    parser.add_argument("--variants", nargs="*", default=[],
                        help="more temporal rows: extra stylize arguments each")
    parser.add_argument("--no-shards", action="store_true")
    parser.add_argument("--shard-frames", type=int, default=24,
                        help="length of the pan clip of the shard check")
    parser.add_argument("--shard-leads", type=int, nargs="*", default=[8],
                        help="--shard-lead values to check")
    parser.add_argument("--keep", help="folder to copy the outputs to")
    a = parser.parse_args()
    for path in (a.binary, a.warp_error, a.model):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: build first (cmake --build build)")
    work = tempfile.mkdtemp(prefix="bench-video-")
    try:
        clips = {}
        if "pan" in a.clips:
            clips["pan"] = make_pan(a.photo, os.path.join(work, "pan"), a.frames)
        if "zoom" in a.clips:
            clips["zoom"] = make_pan(a.photo, os.path.join(work, "zoom"), a.frames, zoom=True)
        if "real" in a.clips:
            real = make_real(work, a.frames)
            if real:
                clips["real"] = real
        print(f"{a.frames} frames, {a.size} px, {a.iterations} iterations, style "
              f"{os.path.basename(a.style)}, started {time.strftime('%H:%M:%S')}")
        print(f"{'clip':5} {'mode':34} {'warp':>7} {'known':>7} {'s/frame':>8} {'style':>8} "
              f"{'content':>8}")
        network = load_network()
        modes = [("independent", ["--temporal-weight", "0"]), ("temporal", [])]
        modes += [("temporal " + v, v.split()) for v in a.variants]
        for name, clip in clips.items():
            base = None
            for label, extra in modes:
                measured = row(a, network, work, name, clip, a.frames, label, extra)
                if base is None:
                    base = measured
                else:
                    print(f"      {'':34} against independent: warp {measured[0] / base[0]:.2f}x, "
                          f"time {measured[1] / base[1]:.2f}x, style {measured[2] / base[2]:.2f}x, "
                          f"content {measured[3] / base[3]:.2f}x")
        if not a.no_shards:
            for lead in a.shard_leads:
                shard_check(a, network, work, lead)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
