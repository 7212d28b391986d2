"""Atomic publishing: outputs are built under a hidden temporary name beside the target and only
renamed into place once complete, so a failure or a cancel never leaves a half-written result."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, List, Optional, Union

from ..errors import OutputError


def _hidden_sibling(target: Path, tag: str) -> Path:
    return target.parent / f".{target.name}.{tag}-{secrets.token_hex(4)}"


def _fail(action: str, path: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot {action} {path}: {error.strerror or error}")


@contextmanager
def atomic_file(target: Union[str, os.PathLike], mode: str = "wb",
                permissions: Optional[int] = None) -> Iterator[IO]:
    """Write one file through a hidden `.partial` temporary beside `target`, renamed over it only if the
    block completes; on any failure the temporary is removed and `target` is untouched."""
    target = Path(target)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        if permissions is not None:
            os.chmod(temp, permissions)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class StagedFile:
    """One file: written at `temp`, then `os.replace`d over the target."""

    def __init__(self, target: Path) -> None:
        self.target, self.temp = target, _hidden_sibling(target, "partial")

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.target)
        except OSError as error:
            raise _fail("publish", self.target, error) from None

    def abort(self) -> None:
        self.temp.unlink(missing_ok=True)


class StagedFolder:
    """A whole folder: built at `temp`; an existing target is swapped out only after the new one is complete."""

    def __init__(self, target: Path) -> None:
        self.target, self.temp = target, _hidden_sibling(target, "partial")
        try:
            self.temp.mkdir()
        except OSError as error:
            raise _fail("create a folder in", target.parent, error) from None

    def commit(self) -> None:
        try:
            if not self.target.exists():
                os.replace(self.temp, self.target)
                return
            old = _hidden_sibling(self.target, "old")
            os.replace(self.target, old)
            try:
                os.replace(self.temp, self.target)
            except OSError:
                os.replace(old, self.target)  # put the previous result back
                raise
        except OSError as error:
            raise _fail("publish", self.target, error) from None
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)


class StagedFiles:
    """Numbered files added to an existing folder: staged in a hidden subfolder, then each moved in.

    Each move is atomic and nothing is moved before every frame was written; files of the folder
    that the new frames do not replace are left alone (as compositing apps do).
    """

    def __init__(self, folder: Path, stem: str) -> None:
        self.folder, self.temp = folder, _hidden_sibling(folder / stem, "partial")
        try:
            self.temp.mkdir()
        except OSError as error:
            raise _fail("create a folder in", folder, error) from None

    def commit(self, names: List[str]) -> None:
        try:
            for name in names:
                os.replace(self.temp / name, self.folder / name)
        except OSError as error:
            raise _fail("publish frames into", self.folder, error) from None
        shutil.rmtree(self.temp, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)
