"""Host adapters (Nuke, Blender, Resolve) and headless batch rendering, installed as `deflicker_nodes`."""
