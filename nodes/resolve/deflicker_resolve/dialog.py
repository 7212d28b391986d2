# SPDX-License-Identifier: Apache-2.0
"""A one-message window for problems found before the main window can open (standard library only:
this must work when `bridge`, pyzmq or msgpack cannot be imported)."""
import sys


def find_ui(namespace):
    """(fusion, bmd) from a Resolve script's globals, or (None, None) outside Resolve."""
    fusion = namespace.get("fusion") or namespace.get("fu")
    bmd = namespace.get("bmd")
    if fusion is None:
        resolve = namespace.get("resolve")
        fusion = resolve.Fusion() if resolve is not None and callable(getattr(resolve, "Fusion", None)) else None
    if fusion is None or bmd is None or getattr(fusion, "UIManager", None) is None:
        return None, None
    return fusion, bmd


def message(namespace, title, text, out=None):
    """Print `text`, and show it in a small window with an OK button when Resolve's UI is there."""
    (out or sys.stdout).write("{}: {}\n".format(title, text))
    fusion, bmd = find_ui(namespace)
    if fusion is None:
        return False
    ui = fusion.UIManager
    dispatcher = bmd.UIDispatcher(ui)
    buttons = ui.HGroup({"Weight": 0}, [ui.HGap(), ui.Button({"ID": "OK", "Text": "OK"})])
    win = dispatcher.AddWindow({"ID": "DeflickerMessage", "WindowTitle": title, "Geometry": [250, 250, 480, 200]},
                               ui.VGroup([ui.Label({"Text": text, "WordWrap": True}), buttons]))

    def close(event=None):
        dispatcher.ExitLoop()
    win.On.OK.Clicked = close
    win.On.DeflickerMessage.Close = close
    win.Show()
    dispatcher.RunLoop()
    win.Hide()
    return True


def missing_dependency(namespace, error):
    """Explain that the Python Resolve runs lacks pyzmq/msgpack (or the installed library is broken)."""
    text = ("The Deflicker script cannot start: {}.\n\nIt needs pyzmq and msgpack in the Python that Resolve runs "
            "(Python {}.{} at {}). Install them next to the script with:\n"
            "  python install/resolve/install.py --python <that Python>\n"
            "(see docs/hosts/resolve.md, Troubleshooting).").format(
        error, sys.version_info[0], sys.version_info[1], sys.executable or "unknown")
    return message(namespace, "Deflicker", text)
