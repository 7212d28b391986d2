# SPDX-License-Identifier: Apache-2.0
"""Deflicker (DaVinci Resolve: Workspace > Scripts > Deflicker).

Deflickers the clip under the playhead (or every clip of a track) through the deflicker server and
places the result on the track above. Installed into Resolve's Scripts/Edit folder by
install/resolve/install.py, which writes LIB_DIR below; run from a checkout it finds its library
beside it. Outside Resolve: `python Deflicker.py --help` (Resolve Studio, external scripting on).
See docs/hosts/resolve.md.
"""
import os
import sys

try:
    import builtins as _builtins
except ImportError:         # pragma: no cover - Python 2
    import __builtin__ as _builtins

LIB_DIR = None  # set by install/resolve/install.py: the folder with deflicker_resolve/, deflicker_bridge/ and vendor/


def _deflicker_library_paths():
    if LIB_DIR:
        return [os.path.join(LIB_DIR, "vendor"), LIB_DIR]
    here = os.path.dirname(os.path.abspath(__file__))
    return [here, os.path.dirname(os.path.dirname(here))]


for _folder in reversed(_deflicker_library_paths()):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)



def _resolve_names():
    """The objects Resolve gives a script it runs (module globals or builtins, depending on the version)."""
    names = {}
    for name in ("resolve", "fu", "fusion", "bmd", "app"):
        value = globals().get(name, getattr(_builtins, name, None))
        if value is not None:
            names[name] = value
    return names


_HOST = _resolve_names()
_INSIDE_RESOLVE = any(name in _HOST for name in ("resolve", "fu", "fusion", "bmd"))
try:
    from deflicker_resolve import entry as _deflicker_entry
except ImportError as _error:
    from deflicker_resolve import dialog as _deflicker_dialog
    _deflicker_dialog.missing_dependency(_HOST, _error)
    if not _INSIDE_RESOLVE:
        sys.exit(2)
else:
    if _INSIDE_RESOLVE:
        _deflicker_entry.launch(_HOST)
    elif __name__ == "__main__":
        sys.exit(_deflicker_entry.main())
