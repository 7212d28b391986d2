# SPDX-License-Identifier: Apache-2.0
"""sources.SourceMap against real Blender: at each scene frame, the compositor shows the source frame
the add-on will ask the server for (Image sequence / movie through an image user, Movie Clip
sequence / movie with its own Start Frame and Offset)."""
import av
import cv2
import numpy as np
import pytest

from .conftest import bpy_params, run_in_blender

FIRST_NUMBER, COUNT = 5, 10
W, H = 32, 16


def sequence_value(position):
    return (FIRST_NUMBER + position) * 10


def movie_value(position):
    return (position + 1) * 20


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Frames whose grey level says which frame they are: f_0005..f_0014.png and a lossless movie."""
    folder = tmp_path_factory.mktemp("blender-frames")
    for position in range(COUNT):
        cv2.imwrite(str(folder / "f_{:04d}.png".format(FIRST_NUMBER + position)),
                    np.full((H, W, 3), sequence_value(position), np.uint8))
    with av.open(str(folder / "movie.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        stream.options = {"qp": "0"}
        for position in range(COUNT):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), movie_value(position), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return folder


def cases(folder):
    seq, mov = str(folder / "f_0005.png"), str(folder / "movie.mp4")
    out = []
    for start, offset in ((1, 4), (3, 4), (2, 0), (-4, 7)):
        out.append({"kind": "image", "sequence": True, "path": seq, "start": start, "offset": offset,
                    "count": 100})
    for start, offset in ((1, 0), (3, 2), (-2, 3)):
        out.append({"kind": "image", "sequence": False, "path": mov, "start": start, "offset": offset, "count": 100})
    for path, start, offset in ((seq, 1, 0), (seq, 3, 2), (str(folder / "f_0007.png"), 1, 0), (mov, 1, 0),
                                (mov, 3, 2)):
        out.append({"kind": "clip", "path": path, "start": start, "offset": offset})
    return out


@pytest.mark.parametrize("python", bpy_params())
def test_blender_shows_the_frame_the_server_is_asked_for(python, media, tmp_path):
    result = run_in_blender(python, "frames", {"width": W, "height": H, "cases": cases(media),
                                               "render_dir": str(tmp_path / "render")}, tmp_path)
    assert len(result["cases"]) == 12
    for case in result["cases"]:
        movie = case["case"]["path"].endswith(".mp4")
        assert case["count"] == COUNT
        values = [movie_value(p) for p in range(COUNT)] if movie else [sequence_value(p) for p in range(COUNT)]
        for seen in case["seen"]:
            grey = float(cv2.imread(seen["file"])[H // 2, W // 2].mean())
            shown = int(np.argmin([abs(grey - v) for v in values]))
            assert abs(grey - values[shown]) < 4, (case["case"], seen, grey)
            assert shown == seen["predicted"], (case["case"], seen["frame"], shown, seen["predicted"])
