#!/usr/bin/python3
"""Export VGG-19 weights to the TorchScript model file that stylize loads.

Run with Debian's /usr/bin/python3 (python3-torch 1.13.1, the same build as libtorch-dev), so the
file loads in the C++ binary. Input: a state dict in torchvision's `vgg19().features` layout
(`features.N.weight` / `features.N.bias`, or the same keys without the `features.` prefix). A state
dict holding only the first k conv layers gives a model truncated after relu of the k-th conv.

The model file carries everything the tool needs, so the C++ side never takes a flag for it:
  * `preprocess(x)`: RGB in [0,1] -> the network's input convention
      caffe:       BGR, 0-255, minus mean (B 103.939, G 116.779, R 123.68)
      torchvision: RGB, [0,1], minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225)
  * `features`: the layers in order (conv, relu, pool), ReLUs not in place;
  * `layer_names`: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ... one per layer;
  * `convention`, `random_init`, `source` (the weights file) and `format_version`.

Exit codes: 0 ok, 1 bad input (missing or malformed weights), 2 usage, 3 cannot write output,
4 download failed (no network, or a corrupt download).
"""
import argparse
import hashlib
import os
import sys
import tempfile
from typing import List

FORMAT_VERSION = 1
# Channels of each conv in VGG-19; "M" is a 2x2 max pool.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# The two published VGG-19 files: name -> (convention, URL). As in torchvision, the 8 hex digits
# in each name are the start of the file's SHA-256, which --download verifies.
KNOWN_WEIGHTS = {
    "vgg19-dcbb9e9d.pth": ("torchvision", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    "vgg19-d01eb7cb.pth": ("caffe", "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth"),
}
DOWNLOAD_TIMEOUT_S = 20


def fail(code: int, message: str) -> None:
    print(f"export_vgg19: error: {message}", file=sys.stderr)
    sys.exit(code)


def layer_plan(conv_count: int):
    """(kind, name, torchvision index, out channels) for the first conv_count convs."""
    plan = []
    block, conv_in_block, index, convs = 1, 0, 0, 0
    for item in VGG19_CFG:
        if item == "M":
            if convs == conv_count:
                break
            plan.append(("pool", f"pool{block}", index, None))
            index += 1
            block, conv_in_block = block + 1, 0
            continue
        if convs == conv_count:
            break
        conv_in_block += 1
        convs += 1
        plan.append(("conv", f"conv{block}_{conv_in_block}", index, item))
        plan.append(("relu", f"relu{block}_{conv_in_block}", index + 1, None))
        index += 2
    return plan


def build_module(torch, state, conv_count: int, convention: str, random_init: bool, source: str):
    nn = torch.nn

    class VGGFeatures(nn.Module):
        layer_names: List[str]
        convention: str
        random_init: bool
        source: str
        format_version: int
        bgr: bool

        def __init__(self):
            super().__init__()
            layers, names = [], []
            in_channels = 3
            for kind, name, _, out_channels in layer_plan(conv_count):
                if kind == "conv":
                    layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
                    in_channels = out_channels
                elif kind == "relu":
                    layers.append(nn.ReLU(inplace=False))
                else:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                names.append(name)
            self.features = nn.Sequential(*layers)
            self.layer_names = names
            self.convention = convention
            self.random_init = random_init
            self.source = source
            self.format_version = FORMAT_VERSION
            if convention == "caffe":
                self.bgr = True
                self.register_buffer("scale", torch.tensor(255.0))
                self.register_buffer("mean", torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1))
                self.register_buffer("std", torch.ones(1, 3, 1, 1))
            else:
                self.bgr = False
                self.register_buffer("scale", torch.tensor(1.0))
                self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        @torch.jit.export
        def preprocess(self, x):
            if self.bgr:
                x = x.flip(1)
            return (x * self.scale - self.mean) / self.std

        def forward(self, x):
            return self.features(self.preprocess(x))

    module = VGGFeatures()
    if state is not None:
        mapped = {}
        for pos, (kind, _, tv_index, _) in enumerate(layer_plan(conv_count)):
            if kind != "conv":
                continue
            for part in ("weight", "bias"):
                mapped[f"features.{pos}.{part}"] = state[f"{tv_index}.{part}"]
        own = module.state_dict()
        for key, value in mapped.items():
            if tuple(own[key].shape) != tuple(value.shape):
                fail(1, f"weights file '{source}': {key} has shape {tuple(value.shape)}, "
                        f"expected {tuple(own[key].shape)}")
        module.load_state_dict({**own, **mapped})
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def load_state(torch, path: str):
    if not os.path.isfile(path):
        fail(1, f"weights file '{path}' does not exist")
    try:
        raw = torch.load(path, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        fail(1, f"weights file '{path}' is not a readable torch state dict ({type(exc).__name__})")
    if not isinstance(raw, dict):
        fail(1, f"weights file '{path}' does not hold a state dict")
    state = {}
    for key, value in raw.items():
        if key.startswith("features."):
            key = key[len("features."):]
        elif key.startswith("classifier."):
            continue
        state[key] = value
    conv_indices = [idx for kind, _, idx, _ in layer_plan(16) if kind == "conv"]
    count = 0
    for idx in conv_indices:
        if f"{idx}.weight" in state and f"{idx}.bias" in state:
            count += 1
        else:
            break
    if count == 0:
        fail(1, f"weights file '{path}' has no VGG-19 conv weights "
                "(expected keys like features.0.weight in torchvision's layout)")
    return state, count


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(name: str, out_dir: str) -> str:
    """Fetches a published weights file into out_dir, verifying its SHA-256 prefix."""
    import urllib.request
    _, url = KNOWN_WEIGHTS[name]
    target = os.path.join(out_dir, name)
    if os.path.isfile(target) and sha256_of(target).startswith(name.split("-")[1][:8]):
        return target
    print(f"export_vgg19: downloading {url} (timeout {DOWNLOAD_TIMEOUT_S} s)", file=sys.stderr)
    partial = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(partial, "wb") as handle:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                handle.write(chunk)
    except OSError as exc:
        if os.path.exists(partial):
            os.unlink(partial)
        fail(4, f"cannot download {url}: {getattr(exc, 'reason', exc)}. This machine seems to "
                "have no network access: download the file elsewhere and pass --weights FILE")
    expected = name.split("-")[1][:8]
    if not sha256_of(partial).startswith(expected):
        os.unlink(partial)
        fail(4, f"download of {url} is corrupt: its SHA-256 does not start with {expected}")
    os.replace(partial, target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="VGG-19 state dict (.pth) in torchvision's layout")
    parser.add_argument("--convention", choices=["caffe", "torchvision"],
                        help="input convention of the weights (default: from the known file "
                             "names, else caffe)")
    parser.add_argument("--output", required=True, help="TorchScript file to write")
    parser.add_argument("--download", choices=sorted(KNOWN_WEIGHTS),
                        help="fetch a published weights file (needs network access) into the "
                             "output's directory, verify its checksum, and export it")
    parser.add_argument("--random-init", action="store_true",
                        help="full 16-conv VGG-19 with random weights (tests and timing only)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    args = parser.parse_args()

    if sum(map(bool, (args.weights, args.random_init, args.download))) != 1:
        parser.error("give exactly one of --weights FILE, --download NAME or --random-init")

    import torch  # imported late so --help and usage errors are instant

    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        fail(3, f"output directory '{out_dir}' does not exist")

    if args.download:
        args.weights = download(args.download, out_dir)

    if args.random_init:
        torch.manual_seed(args.seed)
        convention = args.convention or "caffe"
        module = build_module(torch, None, 16, convention, True, f"random-init seed {args.seed}")
        if convention == "caffe":
            # Default init is tuned for unit-variance inputs; scale the first conv for 0-255 input
            # so activations stay finite and comparable to real weights.
            with torch.no_grad():
                module.features[0].weight.mul_(1.0 / 64.0)
        conv_count = 16
    else:
        state, conv_count = load_state(torch, args.weights)
        base = os.path.basename(args.weights)
        convention = args.convention or KNOWN_WEIGHTS.get(base, ("caffe",))[0]
        module = build_module(torch, state, conv_count, convention, False, base)

    scripted = torch.jit.script(module)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".pt", dir=out_dir)
    os.close(fd)
    try:
        scripted.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.output)
    except OSError as exc:
        os.unlink(tmp)
        fail(3, f"cannot write '{args.output}': {exc.strerror}")
    kind = "random-init (NOT for real use)" if args.random_init else "pretrained"
    print(f"export_vgg19: wrote {args.output}: {conv_count} conv layers, "
          f"{len(module.layer_names)} layers ending at {module.layer_names[-1]}, "
          f"{convention} convention, {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
