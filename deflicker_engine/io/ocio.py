"""A clip's colour space by its OpenColorIO name, and the exact way into and out of the working encoding.

Studios name colour spaces in an OpenColorIO config: the show's (`$OCIO`), or OCIO's built-in ACES
studio config when none is set. The networks were trained on sRGB-encoded photographs, so the analysis
runs in a perceptual, display-like encoding of the clip where flicker stays a gain and [0, 1] is the
normal range:

- scene-referred spaces (linear, log, camera, video encodings): OCIO's own path (through the config's
  interchange roles) to the built-in config's "sRGB Encoded Rec.709 (sRGB)" when the space's gamut fits in
  Rec.709, else to "sRGB Encoded AP1" (the sRGB curve over ACEScg's primaries, so a camera's saturated
  colours stay positive); the curve is extended above 1 and below 0, so highlights survive;
  a config without interchange roles goes to its `scene_linear` role and then the same curve;
- display-referred spaces (an sRGB or PQ display encoding) and data are perceptual already: unchanged.

The way back is OCIO's inverse of the same transform, computed losslessly in float32, so an untouched
frame returns to its own space far inside float16 precision. The transform is chosen once per clip
(`colour_transform`) and travels on its ClipInfo, so every reader of the clip uses the same one.
"""
from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import numpy as np

from ..errors import ParameterError

BUILTIN_CONFIG = "ocio://studio-config-latest"   # OCIO's ACES studio config: cameras' log spaces included
# Working encodings, in the built-in config: the sRGB curve over Rec.709 primaries for spaces whose gamut fits
# in Rec.709 (what the networks were trained on), over AP1 (ACEScg's) for wider ones, whose saturated colours
# would otherwise become large negative values.
REC709_WORKING = "sRGB Encoded Rec.709 (sRGB)"
WIDE_WORKING = "sRGB Encoded AP1"
LINEAR_REC709 = "Linear Rec.709 (sRGB)"
SCENE_LINEAR = "scene_linear"

# Everyday names that the built-in config spells otherwise (used only when the config lacks the name).
FRIENDLY_NAMES = {
    "srgb": "sRGB Encoded Rec.709 (sRGB)",
    "rec.709": "Camera Rec.709",
    "rec709": "Camera Rec.709",
    "linear": "Linear Rec.709 (sRGB)",
    "linear rec.709": "Linear Rec.709 (sRGB)",
    "arri logc": "ARRI LogC3 (EI800)",
    "logc": "ARRI LogC3 (EI800)",
    "logc3": "ARRI LogC3 (EI800)",
    "logc4": "ARRI LogC4",
    "slog3": "S-Log3 S-Gamut3",
    "s-log3": "S-Log3 S-Gamut3",
    "vlog": "V-Log V-Gamut",
    "v-log": "V-Log V-Gamut",
    # what hosts call them in their own configs (Nuke's default, Blender's, Resolve's colour spaces)
    "alexav3logc": "ARRI LogC3 (EI800)",
    "arri logc3": "ARRI LogC3 (EI800)",
    "arri logc4": "ARRI LogC4",
    "rec.709 gamma 2.4": "Gamma 2.4 Encoded Rec.709",
    "rec.709 gamma 2.2": "Gamma 2.2 Encoded Rec.709",
    "gamma 2.4": "Gamma 2.4 Encoded Rec.709",
    "gamma 2.2": "Gamma 2.2 Encoded Rec.709",
    "rec.1886": "Rec.1886 Rec.709 - Display",
    "non-color": "Raw",
}


def _ocio():
    try:
        import PyOpenColorIO
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise ParameterError(f"a colour space needs OpenColorIO ({error}); install it with "
                             "'pip install opencolorio', or leave colorspace empty") from None
    return PyOpenColorIO


def config_source() -> str:
    """Where the config comes from: `$OCIO` when set (the show's), else OCIO's built-in studio config."""
    return os.environ.get("OCIO", "").strip() or BUILTIN_CONFIG


@functools.lru_cache(maxsize=8)
def _load_config(source: str, stamp: float):
    ocio = _ocio()
    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as error:  # OCIO raises its own Exception for unreadable or invalid configs
        hint = "fix or unset $OCIO" if source == os.environ.get("OCIO", "").strip() else "check the path"
        raise ParameterError(f"cannot load the OpenColorIO config {source}: {error}; {hint}") from None


def _stamp(source: str) -> float:
    """The config file's modification time (0 for built-in URIs), so an edited config is read again."""
    if source.startswith("ocio://"):
        return 0.0
    try:
        return os.stat(source).st_mtime
    except OSError:
        return -1.0


def load_config(source: Optional[str] = None):
    """The OCIO config at `source` (default: `config_source()`), cached until the file changes."""
    source = source or config_source()
    return _load_config(source, _stamp(source))


def colour_space_names(config) -> List[str]:
    return [cs.getName() for cs in config.getColorSpaces()]


def resolve_name(config, name: str) -> str:
    """The config's own name for `name` (exact, alias, role, any case, or an everyday name), or a
    ParameterError that lists the closest and all known names."""
    found = config.getColorSpace(name)
    if found is None and name.strip().lower() in FRIENDLY_NAMES:
        found = config.getColorSpace(FRIENDLY_NAMES[name.strip().lower()])
    if found is not None:
        return found.getName()
    names = colour_space_names(config)
    lowered = {n.lower(): n for n in names}
    close = [n for n in names if name.strip().lower() and name.strip().lower() in n.lower()]
    close += [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
              if lowered[n] not in close]
    hint = f"closest: {', '.join(close[:4])}. " if close else ""
    raise ParameterError(f"colorspace {name!r} is not in the OpenColorIO config '{config.getName()}'; {hint}"
                         f"known: {', '.join(names)}")


@dataclass(frozen=True)
class ColourTransform:
    """One clip's colour handling: its space, the config it is from, and the processors both ways.

    Equal when the space and the config are; pickles as (colorspace, config) and is rebuilt on load.
    """

    colorspace: str                 # the config's own name
    config: str                     # where the config came from ($OCIO path or ocio:// URI)
    config_name: str                # the config's name, for reports
    working: str                    # how the analysis sees it, in words
    _forward: Any = field(default=None, compare=False, repr=False)
    _inverse: Any = field(default=None, compare=False, repr=False)

    def to_working(self, rgb: np.ndarray) -> np.ndarray:
        """Values in the clip's space -> the working encoding (float32 H x W x 3; in place when it can)."""
        return _apply(self._forward, rgb)

    def from_working(self, rgb: np.ndarray) -> np.ndarray:
        """The exact inverse of `to_working`."""
        return _apply(self._inverse, rgb)

    def __reduce__(self):
        return (colour_transform, (self.colorspace, self.config))


def _apply(processor, rgb: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(rgb, dtype=np.float32)
    if processor is not None and out.size:
        processor.applyRGB(out)
    return out


def _cpu(processor):
    ocio = _ocio()
    return processor.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_LOSSLESS)


def _within_rec709(config, name: str) -> bool:
    """Whether the space's primaries lie inside Rec.709's: its own pure red, green and blue (at the codes of
    linear 1.0, the others at the code of black) have no negative component in linear Rec.709."""
    ocio = _ocio()
    codes = np.array([[0, 0, 0], [1, 1, 1]], np.float32)
    _cpu(ocio.Config.GetProcessorFromBuiltinColorSpace(LINEAR_REC709, config, name)).applyRGB(codes)
    black, white = codes
    primaries = np.where(np.eye(3, dtype=bool), white[None, :], black[None, :]).astype(np.float32)
    _cpu(ocio.Config.GetProcessorToBuiltinColorSpace(config, name, LINEAR_REC709)).applyRGB(primaries)
    return bool(primaries.min() > -1e-3)


def _processors(config, name: str) -> Tuple[Any, Any, str]:
    """(forward, inverse, words) between the space `name` of `config` and the working encoding."""
    ocio = _ocio()
    space = config.getColorSpace(name)
    if space.isData():
        return None, None, "the values as they are (data)"
    if space.getReferenceSpaceType() == ocio.REFERENCE_SPACE_DISPLAY:
        return None, None, "the values as they are (display-referred, already perceptual)"
    try:
        working = REC709_WORKING if _within_rec709(config, name) else WIDE_WORKING
        forward = ocio.Config.GetProcessorToBuiltinColorSpace(config, name, working)
        inverse = ocio.Config.GetProcessorFromBuiltinColorSpace(working, config, name)
        return _cpu(forward), _cpu(inverse), f"{working} (via the config's interchange roles)"
    except Exception:  # no interchange roles: the config's own scene-linear space, then the sRGB curve
        pass
    linear = config.getColorSpace(SCENE_LINEAR)
    if linear is None:
        raise ParameterError(f"the OpenColorIO config '{config.getName()}' has neither interchange roles nor a "
                             f"scene_linear role, so {name!r} cannot be brought to a working space; add the "
                             "scene_linear role to the config")
    group = ocio.GroupTransform([
        ocio.ColorSpaceTransform(src=name, dst=linear.getName()),
        ocio.ExponentWithLinearTransform(gamma=[2.4, 2.4, 2.4, 1.0], offset=[0.055, 0.055, 0.055, 0.0],
                                         direction=ocio.TRANSFORM_DIR_INVERSE),
    ])
    forward = config.getProcessor(group)
    inverse = config.getProcessor(group, ocio.TRANSFORM_DIR_INVERSE)
    return _cpu(forward), _cpu(inverse), f"sRGB curve over the config's scene_linear ({linear.getName()})"


def colour_transform(colorspace: str, config: Optional[str] = None) -> Optional[ColourTransform]:
    """The colour handling for a clip in `colorspace` (None when empty: the file decides, as before).

    `config` is an OCIO config path or ocio:// URI; default `$OCIO`, else OCIO's built-in studio config.
    Unknown names raise ParameterError with the config's names.
    """
    if not isinstance(colorspace, str):
        raise ParameterError(f"colorspace must be text (an OpenColorIO colour space name), got {colorspace!r}")
    if not colorspace.strip():
        return None
    source = config or config_source()
    return _transform(colorspace.strip(), source, _stamp(source))


@functools.lru_cache(maxsize=32)
def _transform(colorspace: str, source: str, stamp: float) -> ColourTransform:
    config = _load_config(source, stamp)
    name = resolve_name(config, colorspace)
    forward, inverse, words = _processors(config, name)
    return ColourTransform(name, source, config.getName() or os.path.basename(source), words, forward, inverse)
