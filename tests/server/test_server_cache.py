"""Fingerprints, keys and the LRU + disk cache."""
import os

import numpy as np

from deflicker_server.cache import AnalysisCache
from deflicker_server.fingerprint import StreamHasher, analysis_key, files_fingerprint, stat_signature
from tests.server.server_fakes import FakeAnalysis, FakeEngine


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


def _cache(tmp_path, budget):
    engine = FakeEngine()
    return AnalysisCache(tmp_path / "analyses", budget, engine.save, engine.load)


def test_lru_evicts_least_recently_used_and_keeps_files(tmp_path):
    cache = _cache(tmp_path, budget=2 * 12 * 3 * 4)                  # room for two 12-frame analyses
    for key in ("a", "b"):
        cache.put(key, FakeAnalysis(np.zeros((12, 3))), {})
    assert cache.get("a") is not None                                # a is now the most recent
    cache.put("c", FakeAnalysis(np.zeros((12, 3))), {})
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.used() <= cache.budget
    assert cache.load("b") is not None and cache.get("b") is not None   # back from disk
    assert cache.snapshot()["disk_entries"] == 3


def test_damaged_files_are_misses_and_partials_are_swept(tmp_path):
    cache = _cache(tmp_path, budget=1 << 20)
    (cache.folder / "bad.npz").write_bytes(b"not a zip")
    (cache.folder / ".x.npz.123.partial").write_bytes(b"half")
    assert cache.load("bad") is None and not (cache.folder / "bad.npz").exists()
    assert cache.sweep() == 1 and not list(cache.folder.glob("*.partial"))


def test_a_damaged_analysis_of_the_real_engine_is_a_miss_whatever_the_loader_raises(tmp_path, caplog):
    """ClipAnalysis.load raises BadZipFile for a truncated file and for a flipped bit in the data (zip CRC):
    neither may surface as an error, and the damaged files must go."""
    from deflicker_engine.pipeline import ClipAnalysis

    cache = AnalysisCache(tmp_path / "analyses", 0, ClipAnalysis.save, ClipAnalysis.load)   # disk only
    analysis = ClipAnalysis(3, 8, 8, [(0, 3)], np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float16))
    for damage in ("truncate", "flip"):
        cache.put("k", analysis, {})
        path = cache.folder / "k.npz"
        data = bytearray(path.read_bytes())
        if damage == "truncate":
            data = data[: len(data) // 2]
        else:
            data[len(data) // 3] ^= 0x10
        path.write_bytes(bytes(data))
        assert cache.load("k") is None, damage
        assert not path.exists() and not (cache.folder / "k.json").exists()
    assert cache.snapshot()["hits"]["damaged"] == 2 and caplog.text.count("is damaged") == 2
    cache.put("k", analysis, {})
    assert np.array_equal(cache.load("k").targets, analysis.targets)
