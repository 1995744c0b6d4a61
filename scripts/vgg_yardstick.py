"""An independent yardstick for the benchmarks: VGG-19 blocks 1-3 in plain PyTorch with the real
Caffe weights of ../shared/models (BGR, 0-255, mean subtracted), and the statistics the
benchmarks compare. Needs /usr/bin/python3 (python3-torch, python3-pil)."""
import os

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
WEIGHTS = os.path.join(SHARED, "models", "vgg19-caffe-blocks1-3.pth")
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16]  # conv1_1 .. conv3_4 in vgg19().features
RELU_NAMES = {1: "relu1_1", 3: "relu1_2", 6: "relu2_1", 8: "relu2_2", 11: "relu3_1",
              13: "relu3_2", 15: "relu3_3", 17: "relu3_4"}
MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
STYLE_LAYERS = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_3"]
CONTENT_LAYER = "relu3_2"


def load_network(weights_path=WEIGHTS):
    """torchvision's vgg19().features up to relu3_4 with the shared Caffe weights."""
    state = torch.load(weights_path)
    layers = []
    channels = 3
    for index in range(18):
        if index in CONV_INDICES:
            weight = state[f"features.{index}.weight"]
            conv = torch.nn.Conv2d(channels, weight.shape[0], 3, padding=1)
            conv.weight.data = weight
            conv.bias.data = state[f"features.{index}.bias"]
            channels = weight.shape[0]
            layers.append(conv)
        elif index in (4, 9):
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def load_rgb(path):
    return Image.open(path).convert("RGB")


def resized(image, longest_side_px):
    """image with its longest side longest_side_px, by area averaging."""
    scale = longest_side_px / max(image.size)
    width, height = round(image.size[0] * scale), round(image.size[1] * scale)
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    small = torch.nn.functional.adaptive_avg_pool2d(rgb, (height, width))
    return Image.fromarray(small[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy())


@torch.no_grad()
def features(network, image, names):
    """{name: activations [1,C,H,W]} of a PIL image at the named ReLU layers."""
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    x = rgb.flip(1) - MEAN_BGR
    out = {}
    last = max(k for k, name in RELU_NAMES.items() if name in names)
    for index, layer in enumerate(network):
        if index > last:
            break
        x = layer(x)
        if RELU_NAMES.get(index) in names:
            out[RELU_NAMES[index]] = x
    return out


def gram(f):
    flat = f.reshape(f.shape[1], -1)
    return flat @ flat.T / flat.shape[1]


def multiscale_style_ratio(network, output, photo, painting, size):
    """Mean over evaluation sides size/4, size/2, size and STYLE_LAYERS of
    |G(output) - G(painting)|^2 / |G(photo) - G(painting)|^2 (PIL images)."""
    style = []
    for side in (size // 4, size // 2, size):
        out_f = features(network, resized(output, side), STYLE_LAYERS)
        photo_f = features(network, resized(photo, side), STYLE_LAYERS)
        paint_f = features(network, resized(painting, side), STYLE_LAYERS)
        for name in STYLE_LAYERS:
            target = gram(paint_f[name])
            style.append(float(((gram(out_f[name]) - target) ** 2).sum() /
                               ((gram(photo_f[name]) - target) ** 2).sum()))
    return float(np.mean(style))


def style_content_scores(network, output, photo, painting, size):
    """(style distance, content distance) of a PIL output against its photo and painting:
    style = multiscale_style_ratio; content = |F(output) - F(photo)|^2 / |F(photo)|^2 at
    CONTENT_LAYER, at the output's size."""
    style = multiscale_style_ratio(network, output, photo, painting, size)
    out_c = features(network, output, [CONTENT_LAYER])[CONTENT_LAYER]
    photo_c = features(network, resized(photo, max(output.size)), [CONTENT_LAYER])[CONTENT_LAYER]
    content = float(((out_c - photo_c) ** 2).sum() / (photo_c ** 2).sum())
    return style, content
