"""Cheap size/channel/bit-depth probes that read a file's header instead of decoding its pixels.

Used to reject mixed sequences before any work starts. Each probe returns
(width, height, channels, dtype) as the readers would deliver the frame, or None when the header
is not one this module understands (the caller then decodes the file to find out).
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Optional, Tuple

Signature = Tuple[int, int, int, str]


def probe_png(handle: BinaryIO) -> Optional[Signature]:
    if handle.read(8) != b"\x89PNG\r\n\x1a\n":
        return None
    length, kind = struct.unpack(">I4s", handle.read(8))
    if kind != b"IHDR" or length != 13:
        return None
    width, height, depth, colour = struct.unpack(">IIBB", handle.read(10))
    handle.read(3 + 4)  # compression, filter, interlace, crc
    has_trns = False
    while True:  # a palette or grey image gains an alpha channel from a tRNS chunk
        head = handle.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"IDAT", b"IEND"):
            break
        has_trns |= kind == b"tRNS"
        handle.seek(length + 4, 1)
    channels = {0: 3, 2: 3, 3: 3, 4: 4, 6: 4}.get(colour)
    if channels is None or (has_trns and colour != 3):
        return None  # rare layouts: let the decoder decide
    return width, height, 4 if has_trns else channels, "uint16" if depth == 16 else "uint8"


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def probe_jpeg(handle: BinaryIO) -> Optional[Signature]:
    if handle.read(2) != b"\xff\xd8":
        return None
    while True:
        byte = handle.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        marker = handle.read(1)
        while marker == b"\xff":
            marker = handle.read(1)
        if not marker or marker[0] in (0xD9, 0xDA):
            return None
        if 0xD0 <= marker[0] <= 0xD7 or marker[0] == 0x01:
            continue
        length = struct.unpack(">H", handle.read(2))[0]
        if marker[0] in _SOF:
            precision, height, width, components = struct.unpack(">BHHB", handle.read(6))
            if precision != 8 or components not in (1, 3):
                return None
            return width, height, 3, "uint8"
        handle.seek(length - 2, 1)


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4)}


def probe_tiff(handle: BinaryIO) -> Optional[Signature]:
    order = {b"II": "<", b"MM": ">"}.get(handle.read(2))
    if order is None or struct.unpack(order + "H", handle.read(2))[0] != 42:
        return None
    handle.seek(struct.unpack(order + "I", handle.read(4))[0])
    tags = {}
    for _ in range(struct.unpack(order + "H", handle.read(2))[0]):
        tag, kind, count, raw = struct.unpack(order + "HHI4s", handle.read(12))
        if kind in _TIFF_TYPES:  # keep the first value of SHORT/LONG tags (inline or not)
            code, size = _TIFF_TYPES[kind]
            if count * size <= 4:
                tags[tag] = struct.unpack(order + code, raw[:size])[0]
            else:
                here = handle.tell()
                handle.seek(struct.unpack(order + "I", raw)[0])
                tags[tag] = struct.unpack(order + code, handle.read(size))[0]
                handle.seek(here)
    width, height = tags.get(256), tags.get(257)
    bits, samples, fmt, photometric = tags.get(258, 1), tags.get(277, 1), tags.get(339, 1), tags.get(262)
    dtype = {(8, 1): "uint8", (16, 1): "uint16", (32, 3): "float32"}.get((bits, fmt))
    channels = {(1, 0): 3, (1, 1): 3, (3, 2): 3, (4, 2): 4}.get((samples, photometric))
    if width is None or height is None or dtype is None or channels is None:
        return None
    return width, height, channels, dtype


def probe_header(path: str, ext: str) -> Optional[Signature]:
    """Probe by (normalised) extension; any parse trouble means "unknown", never an error."""
    probe = {".png": probe_png, ".jpg": probe_jpeg, ".tiff": probe_tiff}.get(ext)
    if probe is None:
        return None
    try:
        with open(path, "rb") as handle:
            return probe(handle)
    except (OSError, struct.error):
        return None
