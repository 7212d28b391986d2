"""Blind video deflickering engine: frames in, analysis at working resolution, corrected frames out."""
from .config import AnalysisParams, RenderParams
from .errors import Cancelled, DeflickerError, InputError, OutputError, ParameterError


def __getattr__(name: str):
    # torch-heavy parts load on first use, so `import deflicker_engine` stays cheap (the CLI's --help, the server's imports)
    if name in ("Deflicker", "ClipAnalysis"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)


__all__ = ["Deflicker", "ClipAnalysis", "AnalysisParams", "RenderParams", "DeflickerError", "InputError",
           "OutputError", "ParameterError", "Cancelled"]
