"""Fingerprints, keys, and the cache of disk analyses: chunks in memory under a budget, folders on disk under
another, resume of interrupted analyses, damaged entries as misses."""
import logging
import os
import threading

import numpy as np
import pytest

from deflicker_server import analysis_files as files
from deflicker_server.analysis_files import Damaged
from deflicker_server.cache import AnalysisCache, list_entries
from deflicker_server.fingerprint import StreamHasher, analysis_key, files_fingerprint, stat_signature
from tests.server.server_fakes import FakeEngine

CHUNK_BYTES = 4 * 3 * 2            # a fake chunk: 4 frames of one float16 RGB mean


def test_fingerprint_follows_content_and_mtime_not_the_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    data = os.urandom(500_000)
    for folder in (a, b):
        (folder / "clip.mp4").write_bytes(data)
        os.utime(folder / "clip.mp4", ns=(1_000_000_000, 1_000_000_000))
    assert files_fingerprint(str(a), ["clip.mp4"]) == files_fingerprint(str(b), ["clip.mp4"])
    changed = bytearray(data)
    changed[250_000] ^= 1                                         # same size, same mtime, middle byte
    (b / "clip.mp4").write_bytes(bytes(changed))
    os.utime(b / "clip.mp4", ns=(1_000_000_000, 1_000_000_000))
    assert files_fingerprint(str(a), ["clip.mp4"]) != files_fingerprint(str(b), ["clip.mp4"])
    before = stat_signature(str(a), ["clip.mp4"])
    os.utime(a / "clip.mp4", ns=(2_000_000_000, 2_000_000_000))
    assert stat_signature(str(a), ["clip.mp4"]) != before


def test_sequence_fingerprint_depends_on_frame_names_and_order(tmp_path):
    for name in ("f1.png", "f2.png"):
        (tmp_path / name).write_bytes(name.encode())
    folder = str(tmp_path)
    assert files_fingerprint(folder, ["f1.png", "f2.png"]) != files_fingerprint(folder, ["f2.png", "f1.png"])


def test_stream_hash_and_keys_change_with_any_input():
    h1, h2 = StreamHasher(), StreamHasher()
    h1.update((1, 2, 3), "uint8", b"abcdef")
    h2.update((1, 3, 2), "uint8", b"abcdef")
    assert h1.hexdigest() != h2.hexdigest()
    base = analysis_key("e1", "src", {"start": 0}, {"steps": 1})
    assert base == analysis_key("e1", "src", {"start": 0}, {"steps": 1})
    assert len({base, analysis_key("e2", "src", {"start": 0}, {"steps": 1}),
                analysis_key("e1", "src2", {"start": 0}, {"steps": 1}),
                analysis_key("e1", "src", {"start": 1}, {"steps": 1}),
                analysis_key("e1", "src", {"start": 0}, {"steps": 2})}) == 5


# ------------------------------------------------------------------------------------------ helpers
class Clip:
    """Enough of a FrameSource for the fake engine: `count` frames whose mean colour is known."""

    def __init__(self, count: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.frames_ = [np.full((2, 2, 3), rng.integers(20, 235, 3), np.uint8) for _ in range(count)]
        self.info = type("Info", (), {"count": count})()

    def frames(self, start: int = 0, stop=None):
        return iter(self.frames_[start:stop])


class Cancel:
    """A cancel token that fires once the fake engine has finalised `after` frames."""

    def __init__(self, engine: FakeEngine, after: int) -> None:
        self.engine, self.after = engine, after

    def is_set(self) -> bool:
        return self.engine.finalised >= self.after


def _cache(tmp_path, budget=1 << 20, disk_budget=None, engine=None):
    engine = engine or FakeEngine()
    return AnalysisCache(tmp_path / "analyses", budget, engine.open_analysis, disk_budget), engine


def _compute(cache, engine, key, clip, cancel=None):
    """What the server's compute lane does: prepare the folder, let the engine analyse into it, record it."""
    resume = cache.prepare(key)
    engine.analyse(clip, None, lambda *a: None, cancel, cache.path(key))
    return cache.put(key, {"source": key}), resume


def _frame_means(analysis, count):
    return np.array([analysis.mean(i) for i in range(count)])


# ------------------------------------------------------------------------------------------ memory: chunks
def test_the_memory_budget_counts_chunks_of_every_analysis_least_recently_used_first(tmp_path):
    cache, engine = _cache(tmp_path, budget=3 * CHUNK_BYTES)
    a, _ = _compute(cache, engine, "a", Clip(40, seed=1))               # 10 chunks each
    b, _ = _compute(cache, engine, "b", Clip(40, seed=2))
    assert cache.snapshot()["chunks"] == 0                               # nothing read yet: nothing resident
    a.mean(21), b.mean(5), a.mean(0)                                     # chunks a5, b1, a0
    snap = cache.snapshot()
    assert (snap["chunks"], snap["used"]) == (3, 3 * CHUNK_BYTES)
    b.mean(39)                                                           # b9 pushes out a5, the least recent
    chunks, used, per_key = cache.pool.usage()
    assert chunks == 3 and used <= cache.budget and per_key == {"a": (1, CHUNK_BYTES), "b": (2, 2 * CHUNK_BYTES)}
    resident = {r["key"]: r for r in cache.snapshot()["resident"]}
    assert resident["a"]["chunks"] == 1 and resident["a"]["disk_chunks"] == 10 and resident["a"]["frames"] == 40
    assert a.nbytes == CHUNK_BYTES


def test_a_budget_below_one_chunk_still_renders_a_chunk_at_a_time(tmp_path):
    cache, engine = _cache(tmp_path, budget=0)
    clip = Clip(12)
    analysis, _ = _compute(cache, engine, "k", clip)
    expected = [f.reshape(-1, 3).mean(0) / 255 for f in clip.frames_]
    assert np.allclose(_frame_means(analysis, 12), expected, atol=2e-3)
    assert cache.pool.usage()[0] == 1


# ------------------------------------------------------------------------------------------ disk: folders
def test_the_disk_budget_deletes_whole_folders_least_recently_used_first_but_not_one_in_use(tmp_path):
    probe, engine = _cache(tmp_path / "probe")
    _compute(probe, engine, "x", Clip(8))
    size = probe.snapshot()["disk_bytes"]
    cache, engine = _cache(tmp_path, disk_budget=int(2.5 * size))
    for key in ("a", "b"):
        _compute(cache, engine, key, Clip(8))
    assert cache.get("a") is not None                                    # a is now the most recent
    _compute(cache, engine, "c", Clip(8))
    assert sorted(p.name for p in cache.folder.iterdir()) == ["a", "c"]  # b went, the least recently used
    with cache.using("a"):                                               # a job is using a, the oldest now
        _compute(cache, engine, "d", Clip(8))
        assert sorted(p.name for p in cache.folder.iterdir()) == ["a", "d"]
    snap = cache.snapshot()
    assert snap["disk_entries"] == 2 and snap["disk_bytes"] <= snap["disk_budget"]
    assert snap["hits"]["evicted_from_disk"] == 2 and cache.get("b") is None and cache.load("b") is None
    again, _ = _cache(tmp_path, disk_budget=int(2.5 * size))             # a restart keeps the order (mtimes)
    assert again.snapshot()["disk_entries"] == 2 and again.load("a") is not None and again.has("d")


def test_a_zero_disk_budget_keeps_an_analysis_only_while_a_job_uses_it(tmp_path):
    cache, engine = _cache(tmp_path, disk_budget=0)
    with cache.using("k"):
        analysis, _ = _compute(cache, engine, "k", Clip(8))
        assert analysis.mean(7) is not None and cache.has("k")
    assert not cache.has("k") and not (cache.folder / "k").exists()


def test_old_whole_analysis_files_and_partials_go_at_start(tmp_path, caplog):
    folder = tmp_path / "analyses"
    folder.mkdir()
    (folder / "0123.npz").write_bytes(b"an old analysis")
    (folder / "0123.json").write_text("{}")
    (folder / ".x.npz.123.partial").write_bytes(b"half")
    (folder / "k").mkdir()
    (folder / "k" / ".chunk_000001.npy.abc.partial").write_bytes(b"half")
    (folder / ".deleting-j.1234").mkdir()                               # a removal a kill interrupted
    (folder / ".deleting-j.1234" / "chunk_000000.npy").write_bytes(b"old")
    with caplog.at_level(logging.INFO, "deflicker.server"):
        cache, _ = _cache(tmp_path)
    assert "older format" in caplog.text and not list(folder.glob("0123.*"))
    assert cache.sweep() == 3 and not list(folder.rglob("*.partial")) and not list(folder.glob(".deleting-*"))
    assert cache.snapshot()["disk_unfinished"] == 1


# ------------------------------------------------------------------------------------------ resume
def test_a_cancelled_analysis_keeps_its_chunks_and_the_next_one_resumes_from_them(tmp_path):
    cache, engine = _cache(tmp_path)
    clip = Clip(20)
    with pytest.raises(Exception, match="[Cc]ancel"):
        _compute(cache, engine, "k", clip, cancel=Cancel(engine, 10))
    assert files.chunk_indices(cache.folder / "k") == [0, 1]             # frames 0-7: two whole chunks of 4
    assert not cache.has("k") and cache.snapshot()["disk_unfinished"] == 1
    first = (cache.folder / "k" / "chunk_000000.npy").stat()
    finalised = engine.finalised
    analysis, resume = _compute(cache, engine, "k", clip)
    assert (resume.frames, resume.surveyed) == (8, True) and engine.finalised - finalised == 12
    assert (cache.folder / "k" / "chunk_000000.npy").stat().st_ino == first.st_ino      # not written again
    expected = [f.reshape(-1, 3).mean(0) / 255 for f in clip.frames_]
    assert np.allclose(_frame_means(analysis, 20), expected, atol=2e-3)
    assert cache.snapshot()["hits"]["resumed"] == 1


@pytest.mark.parametrize("damage", ["survey", "chunk", "orphans"])
def test_an_interrupted_analysis_resumes_only_from_what_reads_back_whole(tmp_path, damage, caplog):
    cache, engine = _cache(tmp_path)
    clip = Clip(20)
    with pytest.raises(Exception):
        _compute(cache, engine, "k", clip, cancel=Cancel(engine, 14))    # chunks 0, 1, 2 on disk
    folder = cache.folder / "k"
    if damage == "survey":
        _damage(folder / files.SURVEY, "flip")
    elif damage == "chunk":
        _damage(files.chunk_path(folder, 1), "truncate")
    else:
        (folder / files.SURVEY).unlink()                                 # chunks whose pass one is gone
    analysis, resume = _compute(cache, engine, "k", clip)
    assert resume.frames == {"survey": 0, "chunk": 4, "orphans": 0}[damage]
    expected = [f.reshape(-1, 3).mean(0) / 255 for f in clip.frames_]
    assert np.allclose(_frame_means(analysis, 20), expected, atol=2e-3)


def test_an_analysis_being_computed_is_nobody_elses_to_open_until_it_is_recorded(tmp_path, caplog):
    """The render lane may look for the key while the compute lane writes it: even once the engine has marked
    it complete, it is a miss until `put` has recorded its chunks."""
    cache, engine = _cache(tmp_path)
    with cache.computing("k") as resume:
        engine.analyse(Clip(8), None, lambda *a: None, None, cache.path("k"))
        assert resume.frames == 0 and cache.load("k") is None and not cache.has("k")
        cache.put("k", {})
    assert cache.has("k") and cache.load("k") is not None and "without its entry" not in caplog.text


# ------------------------------------------------------------------------------------------ damage
def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:                                                        # one bit in the last third: array data
        data[2 * len(data) // 3] ^= 0x10
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate chunk", "delete chunk", "bad meta", "bad entry", "flip chunk"])
def test_a_damaged_entry_is_a_miss_removed_and_logged(tmp_path, damage, caplog):
    cache, engine = _cache(tmp_path)
    _compute(cache, engine, "k", Clip(12))
    folder = cache.folder / "k"
    what, _, name = damage.partition(" ")
    path = {"chunk": files.chunk_path(folder, 1), "meta": folder / files.META, "entry": folder / files.ENTRY}[name]
    if what == "delete":
        path.unlink()
    elif what == "bad":
        path.write_text('{"complete": tr')
    else:
        _damage(path, "truncate" if what == "truncate" else "flip")
    fresh, _ = _cache(tmp_path)                                          # as after a restart: nothing open
    if what == "flip":                                                   # sizes match: found when read
        analysis = fresh.load("k")
        analysis.mean(0)
        with pytest.raises(Damaged, match="computed again"):
            analysis.mean(5)
    else:
        assert fresh.load("k") is None
    assert not folder.exists() and fresh.snapshot()["hits"]["damaged"] == 1
    assert caplog.text.count("is damaged") == 1
    analysis, _ = _compute(fresh, engine, "k", Clip(12))                 # and it is computed again, whole
    assert analysis.mean(5) is not None and fresh.load("k") is not None


def test_a_finished_analysis_without_its_entry_is_checked_again_not_recomputed(tmp_path):
    cache, engine = _cache(tmp_path)
    _compute(cache, engine, "k", Clip(12))
    (cache.folder / "k" / files.ENTRY).unlink()                          # killed between the engine and put
    fresh, _ = _cache(tmp_path)
    analysis = fresh.load("k")
    assert analysis is not None and analysis.mean(11) is not None and fresh.snapshot()["hits"]["damaged"] == 0
    assert [e["key"] for e in list_entries(fresh.folder)] == ["k"]


def test_a_damaged_chunk_of_the_real_engine_is_a_miss(tmp_path, caplog):
    """The engine's own disk analysis (ClipAnalysis.open), its store swapped for the server's."""
    from deflicker_engine.pipeline import ClipAnalysis
    from deflicker_engine.targets import DiskTargets, write_meta
    from deflicker_server.engine_adapter import open_disk_analysis

    cache = AnalysisCache(tmp_path / "analyses", 1 << 20, open_disk_analysis)
    targets = np.random.default_rng(0).random((70, 8, 8, 3)).astype(np.float16)
    for damage in ("truncate", "flip"):
        cache.prepare("k")
        folder = cache.path("k")
        store = DiskTargets(folder, 70, (8, 8))
        for i, target in enumerate(targets):
            store.put(i, target)
        made = ClipAnalysis(70, 8, 8, [(0, 70)], store)
        write_meta(folder, dict(made.meta(), complete=True, shape=[8, 8], chunk=store.chunk))
        analysis = cache.put("k", {})
        assert np.array_equal(analysis.target(66), targets[66]) and analysis.nbytes == 6 * 8 * 8 * 3 * 2
        cache.pool.drop("k")
        _damage(files.chunk_path(folder, 1), damage)
        if damage == "truncate":
            assert AnalysisCache(tmp_path / "analyses", 1 << 20, open_disk_analysis).load("k") is None
            cache = AnalysisCache(tmp_path / "analyses", 1 << 20, open_disk_analysis)
        else:
            assert np.array_equal(analysis.target(3), targets[3])
            with pytest.raises(Damaged):
                analysis.target(66)
        assert not folder.exists()
    assert caplog.text.count("is damaged") == 2


def test_readers_on_two_threads_share_the_pool(tmp_path):
    cache, engine = _cache(tmp_path, budget=5 * CHUNK_BYTES)
    clip = Clip(64)
    analysis, _ = _compute(cache, engine, "k", clip)
    expected = np.array([f.reshape(-1, 3).mean(0) / 255 for f in clip.frames_])
    errors = []

    def read(order):
        try:
            for i in order:
                assert np.allclose(analysis.mean(i), expected[i], atol=2e-3)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=read, args=(order,)) for order in (range(64), reversed(range(64)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and cache.pool.usage()[1] <= cache.budget
