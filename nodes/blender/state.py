# SPDX-License-Identifier: GPL-3.0-or-later
"""What the registered add-on holds, in a module of its own: `addon` sets it, `operators`, `panel` and
`headless` read it, so none of them imports `addon` (which imports them)."""

session = None  # runtime.Session while the add-on is registered


def prefs(context):
    """The add-on preferences, or None (registered without them, e.g. in tests)."""
    entry = context.preferences.addons.get(__package__)
    return getattr(entry, "preferences", None)
