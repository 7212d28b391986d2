"""Deflicker for Nuke 13+: a Group node that sends its input's frames to the deflicker server.

Only `host` imports `nuke`; the other modules are plain Python (3.7+, standard library and
`bridge`), so the node's logic is tested without Nuke:

- `knobspec`: the knobs, built from the server's `describe` (never a hard-coded parameter list);
- `plan`: what a button press asks for (range with handles, folders, parameters), checked up front;
- `files`: the exported frames and the results on disk;
- `connecting`: finding (or starting) the server, with messages a user can act on;
- `runner`: one job watched from a worker thread (progress, cancel, one call back on the main thread);
- `host`: the thin layer of Nuke calls (menu, node, buttons, knobChanged).
"""
