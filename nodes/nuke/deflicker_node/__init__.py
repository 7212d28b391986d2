# SPDX-License-Identifier: Apache-2.0
"""Deflicker for Nuke 13+: a Group node that sends its input's frames to the deflicker server.

Only `menu` and `host` import `nuke`; the other modules are plain Python (3.7+, standard library and
`bridge`), so the node's logic is tested without Nuke:

- `knobspec`: the knobs, built from the server's `describe` (never a hard-coded parameter list);
- `plan`: what a button press asks for (range with handles, folders, parameters), checked up front;
- `files`: the exported frames and the results on disk;
- `connecting`: finding (or starting) the server, with messages a user can act on;
- `runner`: one job watched from a worker thread (progress, cancel, one call back on the main thread);
- `guard`: the stored key of what a result was made from, and why it is out of date;
- `menu`: what Nuke imports at start-up (toolbar entry, knob callbacks, stale checks), never the bridge;
- `host`: the thin layer of Nuke calls (the node, buttons, knobChanged), imported on first use.
"""
