#!/usr/bin/python3
"""The same algorithm as stylize, in plain PyTorch: the benchmark's reference.

Loads the same TorchScript model file (same weights, preprocessing and layer names), resizes the
images the same way (longest side = --size; style at the same size), uses the same layers and
the same loss normalisation (relative squared errors; Gram / (H W); mean squared TV) and L-BFGS
with a strong-Wolfe line search, counting one iteration per loss evaluation. Prints one JSON line:
{"per_iteration_s": median seconds per evaluation after the first, "total_s": first evaluation
to last, targets included, "final_loss": ...}. --synthetic uses the images of
stylize_engine_check (a ramp and seeded noise at --size x --size), for machines without our images;
--device cuda runs it on a GPU.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision.io


def load(path, size):
    image = torchvision.io.read_image(path, torchvision.io.ImageReadMode.RGB).float() / 255.0
    h, w = image.shape[1:]
    scale = size / max(h, w)
    return F.interpolate(image[None], size=(round(h * scale), round(w * scale)), mode="area")


def objective(model, content, style, content_weight=1.0, style_weight=20.0, tv_weight=0.5):
    """Computes the targets once and returns loss(image): the objective stylize minimises with its
    default layers (relu4_2 content, or relu3_2 for a truncated model; relu1_1..relu5_1 style,
    those the model has), relative squared errors, Gram / (H W) and mean squared TV."""
    names = list(model.layer_names)
    layers = list(model.features.children())
    content_layers = ["relu4_2"] if "relu4_2" in names else ["relu3_2"]
    style_layers = [n for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1") if n in names]
    wanted = {names.index(n) for n in content_layers + style_layers}
    last = max(wanted)

    def features(x):
        out = {}
        x = model.preprocess(x)
        for i in range(last + 1):
            x = layers[i](x)
            if i in wanted:
                out[names[i]] = x
        return out

    def gram(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (h * w)

    with torch.no_grad():
        content_targets = {n: features(content)[n] for n in content_layers}
        style_targets = {n: gram(f) for n, f in features(style).items() if n in style_layers}
    ms = lambda t: t.square().mean().clamp_min(1e-8)

    def loss(image):
        f = features(image)
        c = sum((f[n] - t).square().mean() / ms(t) for n, t in content_targets.items()) / len(content_layers)
        s = sum((gram(f[n]) - t).square().mean() / ms(t) for n, t in style_targets.items()) / len(style_layers)
        tv = (image[..., 1:] - image[..., :-1]).square().mean() + \
             (image[..., 1:, :] - image[..., :-1, :]).square().mean()
        return content_weight * c + style_weight * s + tv_weight * tv

    return loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--content")
    parser.add_argument("--style")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=20.0)
    parser.add_argument("--tv-weight", type=float, default=0.5)
    parser.add_argument("--lbfgs-history", type=int, default=20)
    args = parser.parse_args()
    if not args.synthetic and not (args.content and args.style):
        parser.error("give --content and --style, or --synthetic")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    model = torch.jit.load(args.model, map_location=device).eval()
    start = time.perf_counter()
    if args.synthetic:
        torch.manual_seed(0)
        n = args.size
        content = torch.linspace(0, 1, n).view(1, 1, 1, n).expand(1, 3, n, n).clone()
        style = torch.rand(1, 3, n, n)
    else:
        content = load(args.content, args.size)
        style = load(args.style, args.size)
    content, style = content.to(device), style.to(device)
    loss_of = objective(model, content, style, args.content_weight, args.style_weight, args.tv_weight)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=args.iterations, max_eval=args.iterations,
                                  history_size=args.lbfgs_history, tolerance_grad=0.0,
                                  tolerance_change=0.0, line_search_fn="strong_wolfe")
    stamps = []
    losses = []

    def closure():
        optimizer.zero_grad()
        loss = loss_of(image)
        loss.backward()
        stamps.append(time.perf_counter())
        losses.append(loss.item())
        return loss

    optimizer.step(closure)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    print(json.dumps({"per_iteration_s": statistics.median(gaps) if gaps else None,
                      "iterations": len(stamps), "total_s": stamps[-1] - start,
                      "final_loss": min(losses), "device": str(device)}))


if __name__ == "__main__":
    main()
