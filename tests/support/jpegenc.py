#!/usr/bin/env python3
"""tests/support/jpegenc.py - a baseline grayscale JPEG encoder in the Python standard library,
for the integration tests (JPEGs of the Fashion-MNIST images sent to gliad) and the fuzz seeds
(tests/fuzz/seeds.py). Debian's python3 has no JPEG encoder without PIL, and the tests must not
need one; libjpeg-turbo decodes what this writes, which is the point."""
import math
import struct


def jpeg_bytes(pixels, w=28, h=28, quant=3):
    """A baseline grayscale JPEG of 8-bit pixels, encoded here (the Python standard library has
    no JPEG encoder and the test needs no PIL): a flat quantisation table, and Huffman tables
    that give every DC category a 4-bit code and every AC symbol an 8-bit one (valid, if not
    small). Blocks past the edge repeat the last row and column."""
    cos = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]
    scale = [math.sqrt(0.5) if u == 0 else 1.0 for u in range(8)]
    zigzag = sorted(((r, c) for r in range(8) for c in range(8)),
                    key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else -rc[0]))
    ac_symbols = [0x00, 0xf0] + [(run << 4) | size for run in range(16) for size in range(1, 11)]
    ac_code = {sym: i for i, sym in enumerate(ac_symbols)}
    out, acc, nbits = bytearray(), 0, 0

    def put(value, n):
        nonlocal acc, nbits
        acc, nbits = (acc << n) | (value & ((1 << n) - 1)), nbits + n
        while nbits >= 8:
            nbits -= 8
            byte = (acc >> nbits) & 0xff
            out.append(byte)
            if byte == 0xff:
                out.append(0)  # byte stuffing

    def magnitude(v):
        size = min(abs(v).bit_length(), 10)
        v = max(-(1 << size) + 1, min((1 << size) - 1, v))
        return size, (v if v >= 0 else v + (1 << size) - 1)
    previous = 0
    for by in range(0, h, 8):
        for bx in range(0, w, 8):
            f = [[pixels[min(by + y, h - 1) * w + min(bx + x, w - 1)] - 128 for x in range(8)] for y in range(8)]
            rows = [[sum(f[y][x] * cos[u][x] for x in range(8)) for u in range(8)] for y in range(8)]
            coef = [[0.25 * scale[u] * scale[v] * sum(rows[y][u] * cos[v][y] for y in range(8)) for u in range(8)]
                    for v in range(8)]
            q = [int(round(coef[r][c] / quant)) for r, c in zigzag]
            size, bits = magnitude(q[0] - previous)
            previous = q[0]
            put(size, 4)
            put(bits, size)
            run = 0
            for a in q[1:]:
                if a == 0:
                    run += 1
                    continue
                while run > 15:
                    put(ac_code[0xf0], 8)
                    run -= 16
                size, bits = magnitude(a)
                put(ac_code[(run << 4) | size], 8)
                put(bits, size)
                run = 0
            if run:
                put(ac_code[0x00], 8)
    if nbits:
        put(0xff, 8 - nbits)  # pad with 1 bits

    def segment(marker, body):
        return bytes([0xff, marker]) + struct.pack(">H", len(body) + 2) + body
    dc_bits = bytes([0, 0, 0, 12] + [0] * 12)
    ac_bits = bytes([0] * 7 + [len(ac_symbols)] + [0] * 8)
    return (b"\xff\xd8" + segment(0xdb, b"\x00" + bytes([quant]) * 64) +
            segment(0xc0, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00") +
            segment(0xc4, b"\x00" + dc_bits + bytes(range(12)) + b"\x10" + ac_bits + bytes(ac_symbols)) +
            segment(0xda, b"\x01\x01\x00\x00\x3f\x00") + bytes(out) + b"\xff\xd9")
