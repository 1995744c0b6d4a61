#!/usr/bin/python3
"""Experiment behind README "Time to a good image": does a better-conditioned problem get L-BFGS
to single-scale's 300-iteration loss sooner?

Runs the same objective as stylize and scripts/reference_gatys.py (relative content/Gram losses,
weights 1 / 20 / 0.5, strong-Wolfe L-BFGS, one iteration per evaluation) in plain PyTorch, either
on the pixels (--levels 0) or with the image written as a Laplacian-style pyramid,
x = z0 + sum_k gain^k * upsample(z_k), z_k at 1/2^k of the size (a preconditioner: coarse
levels move large areas at once), and prints the best loss after 10..300 evaluations.

  /usr/bin/python3 scripts/bench_parameterization.py --size 256 [--levels 4 --gain 0.5]
      [--history 100]
"""
import argparse, json, os, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_gatys import load, objective

p = argparse.ArgumentParser()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p.add_argument("--model", default=os.path.join(ROOT, "build", "test-models", "vgg19-caffe-blocks1-3.pt"))
p.add_argument("--content", default=os.path.join(ROOT, "..", "shared", "images", "chelsea.png"))
p.add_argument("--style", default=os.path.join(ROOT, "..", "shared", "images", "starry_night.jpg"))
p.add_argument("--size", type=int, default=256)
p.add_argument("--iterations", type=int, default=300)
p.add_argument("--levels", type=int, default=0)
p.add_argument("--gain", type=float, default=1.0, help="per-level scale s_k = gain**k")
p.add_argument("--history", type=int, default=20)
p.add_argument("--init", choices=["content", "style-colors"], default="content",
               help="start image: the photo, or the photo recoloured to the style's colour mean and "
               "covariance (stylize --init style-colors)")
a = p.parse_args()


def match_colours(source, reference):
    """The photo's colours moved to the reference's mean and covariance (src/stylize/colour.cpp)."""
    def moments(image):
        px = image.reshape(3, -1).double()
        mean = px.mean(1)
        centred = px - mean[:, None]
        return mean, centred @ centred.T / px.shape[1] + 1e-5 * torch.eye(3, dtype=torch.double)
    def power(m, e):
        values, vectors = torch.linalg.eigh(m)
        return (vectors * values.clamp_min(1e-10).pow(e)) @ vectors.T
    sm, sc = moments(source); rm, rc = moments(reference)
    t = power(rc, 0.5) @ power(sc, -0.5)
    out = (t @ source.reshape(3, -1).double() + (rm - t @ sm)[:, None]).reshape(source.shape)
    return out.float().clamp(0, 1)
torch.set_num_threads(2)
model = torch.jit.load(a.model).eval()
content = load(a.content, a.size); style = load(a.style, a.size)
loss_of = objective(model, content, style)
H, W = content.shape[2:]
start = content if a.init == "content" else match_colours(content, style)
params = [start.clone().requires_grad_(True)]
for k in range(1, a.levels + 1):
    h, w = max(1, H >> k), max(1, W >> k)
    params.append(torch.zeros(1, 3, h, w, requires_grad=True))
def compose():
    x = params[0]
    for k in range(1, len(params)):
        x = x + (a.gain ** k) * F.interpolate(params[k], size=(H, W), mode="bilinear", align_corners=False)
    return x
opt = torch.optim.LBFGS(params, lr=1.0, max_iter=a.iterations, max_eval=a.iterations, history_size=a.history,
                        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
curve = []; best = [float("inf")]; t0 = time.perf_counter()
def closure():
    opt.zero_grad(); l = loss_of(compose()); l.backward()
    best[0] = min(best[0], l.item()); curve.append(best[0]); return l
opt.step(closure)
marks = [10, 20, 30, 50, 75, 100, 150, 200, 250, 300]
print(json.dumps({"init": a.init, "levels": a.levels, "gain": a.gain, "size": a.size, "time_s": round(time.perf_counter() - t0, 1),
                  "best": {m: round(curve[m - 1], 4) for m in marks if m <= len(curve)}}))
