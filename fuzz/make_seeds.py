#!/usr/bin/python3
"""Writes small seed images (PNG: grey, RGB, RGBA, 16-bit; BMP) for fuzz_image_decode.

Standard library only. Each file starts with one byte that the fuzz target uses to pick the
resize target, followed by the image file itself."""
import os
import struct
import sys
import zlib


def png(width, height, color_type, bit_depth, channels):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    bytes_per = channels * bit_depth // 8
    rows = b"".join(b"\0" + bytes((x * 7 + y * 3) % 256 for x in range(width * bytes_per))
                    for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bmp(width, height):
    row = bytes((x * 5) % 256 for x in range(width * 3))
    row += b"\0" * ((4 - len(row) % 4) % 4)
    pixels = row * height
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "grey.png": png(20, 18, 0, 8, 1),
        "rgb.png": png(24, 16, 2, 8, 3),
        "rgba.png": png(17, 19, 6, 8, 4),
        "grey-alpha.png": png(16, 16, 4, 8, 2),
        "rgb16.png": png(16, 20, 2, 16, 3),
        "small.png": png(4, 4, 2, 8, 3),
        "image.bmp": bmp(18, 17),
    }
    for i, (name, data) in enumerate(sorted(seeds.items())):
        with open(os.path.join(out, "seed-" + name), "wb") as handle:
            handle.write(bytes([i % 4]) + data)


if __name__ == "__main__":
    main()
