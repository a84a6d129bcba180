#!/usr/bin/env python3
"""Writes a folder of N 28x28 grayscale PNGs in ImageFolder layout (class0..class9) from Debian's Fashion-MNIST:
the 70,000 images, then horizontal mirror images of them, as many as N asks. For the streaming benchmarks
(tests/bench/stream_memory.sh): a folder far larger than memory would hold decoded. Standard library only.
Usage: big_folder.py OUT N"""
import gzip
import os
import struct
import sys
import zlib

ROOT = "/usr/share/datasets/fashion-mnist"


def idx(name, header):
    with gzip.open(os.path.join(ROOT, name)) as f:
        data = f.read()
    return data[header:]


def png(pixels, w, h):
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    images = idx("train-images-idx3-ubyte.gz", 16) + idx("t10k-images-idx3-ubyte.gz", 16)
    labels = idx("train-labels-idx1-ubyte.gz", 8) + idx("t10k-labels-idx1-ubyte.gz", 8)
    count = len(labels)
    for c in range(10):
        os.makedirs(os.path.join(out, "class%d" % c), exist_ok=True)
    for i in range(n):
        k = i % count
        pixels = images[k * 784:(k + 1) * 784]
        if i >= count:  # mirrored
            pixels = b"".join(pixels[y * 28:(y + 1) * 28][::-1] for y in range(28))
        with open(os.path.join(out, "class%d" % labels[k], "%06d.png" % i), "wb") as f:
            f.write(png(pixels, 28, 28))


if __name__ == "__main__":
    main()
