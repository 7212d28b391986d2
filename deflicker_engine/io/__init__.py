"""Frames in and out: video (PyAV), PNG/JPEG/TIFF (OpenCV), EXR (OpenEXR), colour (encodings, OpenColorIO
colour spaces), atomic outputs.

See docs/architecture.md, "Frames", for the contract. The names below load on first use, so a module that needs
only `atomic_file` (the checkpoint writer, training) does not load FFmpeg and OpenEXR.
"""
from importlib import import_module

_HOMES = {"FrameSource": "base", "from_working": "colour", "to_working": "colour", "DEFAULT_RATE": "encoder",
          "check_output_path": "guard", "ClipInfo": "info", "ColourTransform": "ocio",
          "colour_transform": "ocio", "FrameSink": "sinks", "open_sink": "sinks", "open_source": "source",
          "with_colorspace": "source", "with_colour": "source", "spool_frames": "spool", "atomic_file": "staging"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
