"""What a batch has finished, so that running it again skips those shots (resumable batches).

One JSON file in the output folder, rewritten atomically (temp file, then rename) after every shot,
so a batch killed at any moment leaves either the previous manifest or the new one. A shot counts
as done only with the same parameters and while its output still exists.
"""
from __future__ import annotations

import glob
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional

NAME = ".deflicker-batch.json"
VERSION = 1
COUNTER = re.compile(r"%0?\d*d|#+")


def output_exists(output: str) -> bool:
    """A file or folder output exists; a pattern output has at least one of its frames."""
    folder, name = os.path.split(output)
    if COUNTER.search(name):
        return bool(glob.glob(os.path.join(glob.escape(folder), COUNTER.sub("*", glob.escape(name)))))
    return os.path.exists(output)


def params_key(params: Dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class Manifest:
    def __init__(self, outdir: Path) -> None:
        self.path = Path(outdir) / NAME
        self.shots: Dict[str, Dict[str, Any]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == VERSION and isinstance(data.get("shots"), dict):
                    self.shots = data["shots"]
            except (OSError, ValueError):
                self.shots = {}     # unreadable: start over rather than trust it

    def done(self, source: str, output: str, params: Dict[str, Any]) -> bool:
        entry = self.shots.get(source)
        return bool(entry and entry.get("status") == "done" and entry.get("params") == params_key(params)
                    and entry.get("output") == output and output_exists(output))

    def record(self, source: str, output: str, params: Dict[str, Any], status: str,
               reason: Optional[str] = None, **extra: Any) -> None:
        self.shots[source] = dict(extra, output=output, params=params_key(params), status=status, reason=reason,
                                  finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{NAME}.", suffix=".partial", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"version": VERSION, "shots": self.shots}, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
