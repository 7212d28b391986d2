"""Server logging: to stderr and to a rotating file in the cache folder (what a user service keeps)."""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(threadName)s: %(message)s"


def configure(log_path: Path, verbose: bool = False) -> logging.Logger:
    """Set up the "deflicker.server" logger once per process; returns it."""
    logger = logging.getLogger("deflicker.server")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=5 << 20, backupCount=3)
    file_handler.setFormatter(formatter)
    logger.addHandler(file_handler)
    return logger
