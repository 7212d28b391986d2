"""Long takes on the server (issue 12): analyses live on disk chunk by chunk, a render reads only the chunks
it needs, and an analysis interrupted by a cancel or a killed server resumes from its finished chunks."""
import os
from pathlib import Path

import numpy as np
import pytest

import deflicker_bridge as bridge
from tests.conftest import flicker, textured_scene
from tests.server.procs import FAKE_ENGINE, wait_until as _wait_until, write_png_sequence

# The real engine on a long-enough clip, cheaply: windows of 16 frames (many windows), a few atlas steps,
# the smallest working size; 180 frames make chunks of 64, 64 and 52 frames. Pass two yields a chunk only once
# the consolidation's tail (51 frames at 0.9) is read past it, so after the first chunk there must still be
# plenty of work left for a kill to land inside pass two.
LONG = {"window": 16, "overlap": 4, "atlas_steps": 8, "working_size": 128}
LONG_FRAMES, CHUNK = 180, 64


def _entry(cache: Path) -> Path:
    """The one analysis folder of a cache."""
    folders = [p for p in (cache / "analyses").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _chunks(folder: Path):
    return [np.load(p) for p in sorted(folder.glob("chunk_*.npy"))]


@pytest.mark.slow
def test_a_killed_server_resumes_the_analysis_from_its_chunks(server_factory, tmp_path):
    """Killed (SIGKILL) once pass two is past its first chunk, a new server on the same cache finishes that
    analysis from its chunks when a client asks again: the first chunk is not written again, and the result
    matches an analysis nobody interrupted."""
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(LONG_FRAMES, 48, 64, seed=7, pan=0.5)))
    first = server_factory(cache=tmp_path / "cache").start()
    with first.connect(timeout=30) as conn:
        clip = conn.open(path=str(shot))
        pending = conn.submit("analyse", {"clip": clip.id, "params": LONG})
        stages = []
        for header, _ in conn.events(pending, timeout=600):
            if header["kind"] == "progress":
                stages.append(header["stage"])
                if header["stage"] == "finalise" and header["done"] > CHUNK + 1:
                    first.kill()
                    break
        else:
            pytest.fail("the analysis ended before it could be interrupted")
    assert not first.alive() and stages[0] == "survey"
    folder = _entry(first.cache)
    assert not (folder / "meta.json").exists(), "finished before the kill: the clip is too short for this machine"
    written = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("chunk_*.npy")}
    assert "chunk_000000.npy" in written and (folder / "survey.npz").is_file()

    second = server_factory(cache=first.cache).start()
    with second.connect(timeout=30) as conn:
        assert conn.status()["memory"]["disk_unfinished"] == 1
        clip = conn.open(path=str(shot))
        seen = []
        result = clip.analyse(LONG, progress=lambda stage, done, total: seen.append((stage, done)), timeout=600)
        assert (result["cached"], result["resumed_from"]) == ("", CHUNK * len(written))          # (a) finished,
        assert result["chunks"] == 3 and (folder / "meta.json").is_file()                        # resumed
        assert "survey" not in [s for s, _ in seen] and min(d for _, d in seen) > CHUNK           # no pass one again
        assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
                for p in folder.glob("chunk_*.npy") if p.name in written} == written              # (b) not rewritten
        resumed = [f.array.copy() for f in clip.render(56, 72, params=LONG)]
        memory = conn.status()["memory"]
        assert (memory["chunks"], memory["disk_chunks"]) == (2, 3)       # frames 56-71: chunks 0 and 1 only

    reference = server_factory(cache=tmp_path / "reference").start()      # (c) nobody interrupted this one
    with reference.connect(timeout=30) as conn:
        clip = conn.open(path=str(shot))
        assert clip.analyse(LONG, timeout=600)["cached"] == ""
        uninterrupted = [f.array.copy() for f in clip.render(56, 72, params=LONG)]
    for got, want in zip(_chunks(folder), _chunks(_entry(reference.cache))):
        assert got.shape == want.shape and np.abs(got.astype(np.float32) - want.astype(np.float32)).max() < 5e-3
    assert len(resumed) == len(uninterrupted) == 16
    assert max(np.abs(r.astype(int) - u.astype(int)).max() for r, u in zip(resumed, uninterrupted)) <= 2


def test_a_killed_server_resumes_the_analysis_from_its_chunks_fake_engine(server_factory, tmp_path):
    """The same on the fake engine (fast; runs where the real engine cannot load its weights)."""
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(24, 16, 24, seed=2)))
    first = server_factory(engine=FAKE_ENGINE, env={"FAKE_ANALYSE_DELAY": "0.1"}).start()
    with first.connect() as conn:
        clip = conn.open(path=str(shot))
        pending = conn.submit("analyse", {"clip": clip.id})
        for header, _ in conn.events(pending, timeout=60):
            if header["kind"] == "progress" and header["stage"] == "finalise" and header["done"] >= 10:
                first.kill()
                break
    folder = _entry(first.cache)
    written = {p.name: p.stat().st_ino for p in folder.glob("chunk_*.npy")}
    assert len(written) >= 2 and not (folder / "meta.json").exists()
    second = server_factory(engine=FAKE_ENGINE, cache=first.cache).start()
    with second.connect() as conn:
        result = conn.open(path=str(shot)).analyse()
    assert (result["cached"], result["resumed_from"], result["chunks"]) == ("", 4 * len(written), 6)
    assert {n: i for n, i in ((p.name, p.stat().st_ino) for p in folder.glob("chunk_*.npy")) if n in written} == written


def test_a_render_from_the_middle_of_a_long_analysis_reads_only_the_chunks_it_needs(inprocess, tmp_path):
    srv = inprocess()                                                     # fake chunks of 4 frames
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(40, 16, 24, seed=4)))
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        assert clip.analyse()["chunks"] == 10
        assert conn.status()["memory"]["chunks"] == 0                    # analysed: nothing held for it
        assert [f.index for f in clip.render(21, 23)] == [21, 22]
        memory = conn.status()["memory"]
        (entry,) = memory["resident"]
        assert (memory["chunks"], entry["chunks"], entry["disk_chunks"], entry["frames"]) == (1, 1, 10, 40)
        assert memory["used"] == entry["nbytes"] == 4 * 3 * 2
        assert [f.index for f in clip.render(30, 34)] == [30, 31, 32, 33]   # chunks 7 and 8
        assert conn.status()["memory"]["chunks"] == 3


def _cancel_in_pass_two(conn, clip, frames):
    """Analyse `clip` and cancel once pass two has finalised `frames` frames; return when the job is gone."""
    pending = conn.submit("analyse", {"clip": clip.id})
    for header, _ in conn.events(pending, timeout=30):
        if header["kind"] == "progress" and header["stage"] == "finalise" and header["done"] >= frames:
            assert conn.cancel(pending)
            break
    assert _wait_until(lambda: conn.status()["jobs"] == [])


def test_a_cancelled_analysis_leaves_its_chunks_and_the_next_one_resumes(inprocess, tmp_path):
    srv = inprocess()
    srv.engine.analyse_delay = 0.1
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(20, 16, 24, seed=6)))
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        _cancel_in_pass_two(conn, clip, 9)
        folder = _entry(srv.config.cache_dir)
        kept = sorted(p.name for p in folder.glob("chunk_*.npy"))
        assert len(kept) >= 2 and conn.status()["memory"]["disk_unfinished"] == 1
        srv.engine.analyse_delay = 0.0
        finalised = srv.engine.finalised
        result = clip.analyse()
        assert (result["cached"], result["resumed_from"]) == ("", 4 * len(kept))
        assert srv.engine.finalised - finalised == 20 - 4 * len(kept)     # only the frames not on disk
        assert srv.engine.analyses == 1 and conn.status()["memory"]["disk_unfinished"] == 0
        assert os.path.isfile(folder / "meta.json") and clip.analyse()["cached"] == "memory"


def test_resume_state_the_engine_cannot_load_is_a_miss_and_the_analysis_starts_again(inprocess, tmp_path):
    """A survey.npz whose zip reads back whole but which the engine cannot use (another layout, say) makes
    the resume fail before its first finalised frame: the folder is emptied and the analysis starts again."""
    srv = inprocess()
    srv.engine.analyse_delay = 0.05
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(16, 16, 24, seed=9)))
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        _cancel_in_pass_two(conn, clip, 6)
        folder = _entry(srv.config.cache_dir)
        np.savez(folder / "survey.npz", something_else=np.zeros(3))
        srv.engine.analyse_delay = 0.0
        result = clip.analyse()
        assert (result["cached"], result["resumed_from"], result["chunks"]) == ("", 0, 4)
        memory = conn.status()["memory"]
        assert memory["hits"]["damaged"] == 1 and memory["disk_unfinished"] == 0
        assert [f.index for f in clip.render(10, 12)] == [10, 11]
