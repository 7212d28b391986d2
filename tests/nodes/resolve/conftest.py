"""Fixtures for the Resolve script's tests: the stand-in on sys.path, a real server, tiny scenes."""
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
for folder in (HERE / "standin", REPO / "nodes" / "resolve"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import resolve_model  # noqa: E402  (the stand-in; needs the path above)

from tests.conftest import flicker, textured_scene  # noqa: E402
from tests.server.procs import ServerProcess, write_png_sequence  # noqa: E402

FPS = 24
START = 86400            # 01:00:00:00 at 24 fps


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One real server (real engine) for every test here; its root is the session's tmp folder."""
    root = tmp_path_factory.getbasetemp()
    home = root / "resolve-server"
    home.mkdir(exist_ok=True)
    srv = ServerProcess(home, roots=[root]).start()
    yield srv
    srv.stop()


class Media(object):
    """A flickering clip on disk and the clean frames it was made from."""

    def __init__(self, entry, clean, noisy):
        self.entry, self.clean, self.noisy = entry, clean, noisy


def png_media(folder, count=24, seed=0, stem="plate"):
    clean = textured_scene(count, 48, 64, seed=seed, pan=3.0)
    noisy = flicker(clean, seed=seed + 1)
    write_png_sequence(folder, noisy, stem=stem)
    pattern = str(folder / (stem + "_%04d.png"))
    return Media({"FilePath": pattern, "StartIndex": 0, "EndIndex": count - 1}, clean, noisy)


def movie_media(path, count=24, seed=0):
    from deflicker_engine.io import ClipInfo, open_sink
    clean = textured_scene(count, 48, 64, seed=seed, pan=3.0)
    noisy = flicker(clean, seed=seed + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = ClipInfo(kind="video", path="", count=count, width=64, height=48, channels=3, dtype="uint8",
                    encoding="srgb", fps=float(FPS), rate="{}/1".format(FPS))
    with open_sink(str(path), info) as sink:
        for frame in noisy:
            sink.write((frame * 255).round().astype(np.uint8))
    return Media(str(path), clean, noisy)


def new_resolve(**options):
    app = resolve_model.Resolve(fps=FPS, **options)
    import DaVinciResolveScript
    DaVinciResolveScript.app = app
    return app


def timeline_with(app, media, clips):
    """Import `media` and cut it into a new timeline: clips are (start, end exclusive, track, record offset)."""
    project = app.GetProjectManager().GetCurrentProject()
    pool = project.GetMediaPool()
    item = pool.ImportMedia([media.entry])[0]
    timeline = pool.CreateEmptyTimeline("Edit")
    for start, end, track, offset in clips:
        while timeline.GetTrackCount("video") < track:
            timeline.AddTrack("video")
        info = {"mediaPoolItem": item, "startFrame": start, "endFrame": end - 1 if app.end_inclusive else end,
                "trackIndex": track, "recordFrame": START + offset}
        placed = pool.AppendToTimeline([info])
        assert placed and placed[0].GetDuration() == end - start
    return timeline, item


@pytest.fixture
def make_resolve():
    made = []

    def make(**options):
        app = new_resolve(**options)
        made.append(app)
        return app
    yield make
    import DaVinciResolveScript
    DaVinciResolveScript.app = None
