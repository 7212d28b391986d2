"""One `ast.parse` at a time in the server process: CPython before 3.13 keeps the AST constructor's recursion
counter in interpreter-wide state, so two threads building ASTs at once can fail with "SystemError: AST
constructor recursion depth mismatch" (python/cpython#106905). The server's threads do parse: numpy reads every
.npy header with `ast.literal_eval`, torch's lazy imports call `inspect.signature`, tracebacks parse their lines.
"""
from __future__ import annotations

import ast
import functools
import sys
import threading
from typing import Any, Callable

AFFECTED = sys.implementation.name == "cpython" and sys.version_info < (3, 13)


def serialise_ast_parsing(force: bool = False) -> bool:
    """Wrap `ast.parse` (which `literal_eval`, `inspect` and `traceback` go through) in a re-entrant lock, once
    per process, where the interpreter needs it (or with `force`). Returns whether the guard is in place."""
    if getattr(ast.parse, "_deflicker_serialised", False):
        return True
    if not (AFFECTED or force):
        return False
    ast.parse = _serialised(ast.parse, threading.RLock())
    return True


def _serialised(parse: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(parse)
    def parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)
    parse_one_at_a_time._deflicker_serialised = True  # type: ignore[attr-defined]
    return parse_one_at_a_time
