"""The add-on's `vendor/` folder (bridge, and pyzmq/msgpack when installed there) on sys.path while
the add-on is registered, and only then."""
import importlib.util
import os
import sys

REQUIRED = ("zmq", "msgpack")


def folder():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")


def add(path=None):
    """Put `vendor/` first on sys.path (our bridge wins over any other `bridge`); a no-op without it."""
    path = path or folder()
    if os.path.isdir(path) and path not in sys.path:
        sys.path.insert(0, path)


def remove(path=None):
    path = path or folder()
    while path in sys.path:
        sys.path.remove(path)


def missing_modules(names=REQUIRED):
    """The required modules this Python cannot import (Blender's Python has neither by default)."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module blocked or broken in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def pip_command(python=None, target=None):
    """The command that installs the missing modules into the add-on's vendor folder."""
    return [python or sys.executable, "-m", "pip", "install", "--target", target or folder()] + ["pyzmq", "msgpack"]
