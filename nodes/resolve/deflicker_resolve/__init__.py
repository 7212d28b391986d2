# SPDX-License-Identifier: Apache-2.0
"""Deflicker for DaVinci Resolve: a Workspace > Scripts entry that deflickers timeline clips.

For each chosen clip it finds the source media and the used source range, deflickers that range
plus handles through a `bridge.Job`, imports the result into a "Deflicker" bin and places it on
the track above at the same record frame. Modules:

- `logic`: pure planning (ranges, handles, paths, clip-info dicts), no Resolve calls;
- `edit`: the Resolve-touching edge (read clips, import, place, undo);
- `run`: one run over many clips, polled from the host's loop, cancellable, all-or-nothing;
- `window`: the Fusion UIManager window, and the console when no UI exists.
"""
__version__ = "1.0.0"
