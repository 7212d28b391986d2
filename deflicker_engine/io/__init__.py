"""Frames in and out: video (PyAV), PNG/JPEG/TIFF (OpenCV), EXR (OpenEXR), colour (encodings, OpenColorIO
colour spaces), atomic outputs.

See docs/architecture.md, "Frames", for the contract.
"""
from .base import FrameSource
from .colour import from_working, to_working
from .encoder import DEFAULT_RATE
from .guard import check_output_path
from .info import ClipInfo
from .ocio import ColourTransform, colour_transform
from .sinks import FrameSink, open_sink
from .source import open_source, with_colorspace, with_colour
from .spool import spool_frames
from .staging import atomic_file

__all__ = ["DEFAULT_RATE", "ClipInfo", "ColourTransform", "FrameSink", "FrameSource", "atomic_file",
           "check_output_path", "colour_transform", "from_working", "open_sink", "open_source", "spool_frames",
           "to_working", "with_colorspace", "with_colour"]
