"""`deflicker batch --ray`: planning and workers on their own, then a real two-node Ray cluster.

The cluster tests start a head and a worker node (each its own `ray start`) inside a network
namespace that has only loopback, run the batch command there as a user would, and stop the
cluster by the process group they started (tests/nodes/batch/ray_cluster.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deflicker_bridge as bridge
from deflicker_engine.cli import main
from deflicker_engine.io import ClipInfo, open_sink, open_source
from deflicker_nodes.batch import ray_farm
from deflicker_nodes.batch.manifest import NAME as MANIFEST
from deflicker_nodes.batch.runner import Result
from deflicker_nodes.batch.shots import Shot
from tests.conftest import flicker, textured_scene
from tests.nodes.batch import farm_faults
from tests.server.procs import CHEAP, write_png_sequence

PARAMS = [arg for name, value in CHEAP.items() for arg in ("--param", f"{name}={value}")]
RUN_PARAMS = [arg for name, value in CHEAP.items() for arg in (f"--{name.replace('_', '-')}", str(value))]
FAULTS = "tests.nodes.batch.farm_faults:engine"


def _video(path: Path, frames: np.ndarray) -> Path:
    info = ClipInfo(kind="video", path="", count=len(frames), width=frames.shape[2], height=frames.shape[1],
                    channels=3, dtype="uint8", encoding="srgb", fps=12.0, rate="12/1")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_sink(str(path), info) as sink:
        for frame in frames:
            sink.write((frame * 255).round().astype(np.uint8))
    return path


def _frames(path: Path) -> np.ndarray:
    with open_source(str(path)) as src:
        return np.stack(list(src.frames())).astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)


@contextlib.contextmanager
def _torch_threads(count: int):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _manifest(out: Path) -> dict:
    path = out / MANIFEST
    return json.loads(path.read_text())["shots"] if path.exists() else {}


# --- without a cluster -------------------------------------------------------------------------------------

def test_plan_one_worker_per_gpu_or_as_many_cpu_workers_as_fit():
    gpu_nodes = [{"CPU": 16, "GPU": 2}, {"CPU": 8, "GPU": 1}, {"CPU": 4}]
    plan = ray_farm.plan_workers(gpu_nodes)
    assert (plan.count, plan.num_gpus, plan.num_cpus, plan.device) == (3, 1.0, 8.0, "cuda")
    assert ray_farm.plan_workers(gpu_nodes, device="cpu").num_gpus == 0
    cpu_nodes = [{"CPU": 16}, {"CPU": 8}, {"CPU": 2}]
    plan = ray_farm.plan_workers(cpu_nodes)
    assert (plan.count, plan.num_cpus, plan.device) == (13, 2.0, "cpu")      # 2 = the smallest node
    assert ray_farm.plan_workers(cpu_nodes, cpus_per_worker=4).count == 6     # 4 + 2 + 0
    assert ray_farm.plan_workers(cpu_nodes, workers=20, shots=3).count == 3   # never more workers than shots
    assert ray_farm.plan_workers([{"CPU": 1}, {"CPU": 1}]).count == 2
    assert ray_farm.plan_workers([{"CPU": 0}, {"CPU": 8}, {"CPU": 8}]).count == 4    # KubeRay head: num-cpus 0
    with pytest.raises(ray_farm.FarmError, match="no node of the Ray cluster offers a GPU"):
        ray_farm.plan_workers(cpu_nodes, device="cuda")
    with pytest.raises(ray_farm.FarmError, match="--workers must be at least 1"):
        ray_farm.plan_workers(cpu_nodes, workers=0)


def test_parameters_are_the_servers_and_are_checked_before_any_work():
    from deflicker_server.effect import effect_description
    from deflicker_server.engine_adapter import EngineIO

    served = bridge.Effect.from_describe(effect_description(EngineIO(), "test"))
    local = ray_farm.local_effect()
    assert [(p.name, p.type, p.default, p.group) for p in local.params] == \
        [(p.name, p.type, p.default, p.group) for p in served.params]
    values = local.coerce({"preset": "old-film", "atlas_steps": "8", "strength": "0.5"})
    assert values == served.coerce({"preset": "old-film", "atlas_steps": "8", "strength": "0.5"})
    analysis, render = ray_farm.split_params(local, values)
    assert analysis == {"preset": "old-film", "atlas_steps": 8} and render == {"strength": 0.5}
    with pytest.raises(bridge.ParameterError, match="atlas_steps must be a int"):
        ray_farm.split_params(local, {"atlas_steps": 1.5})             # the engine's own check, on the driver


def test_without_ray_the_batch_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    shot = write_png_sequence(tmp_path / "sh", flicker(textured_scene(4, 32, 48, seed=3)))
    monkeypatch.setitem(sys.modules, "ray", None)           # import ray fails as if it were not installed
    assert main(["batch", str(shot), "-o", str(tmp_path / "out"), "--ray", "auto"]) == 1
    assert "pip install 'deflicker[farm]'" in capsys.readouterr().err


def test_an_address_where_nothing_answers_fails_in_seconds(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[farm]')")
    from tests.server.procs import free_port

    assert ray_farm.head_endpoint("ray://head.farm:10001") == ("head.farm", 10001)
    assert ray_farm.head_endpoint("[::1]:6379") == ("::1", 6379) and ray_farm.head_endpoint("auto") is None
    with pytest.raises(ray_farm.FarmError, match="is not an address"):
        ray_farm.head_endpoint("head.farm")
    shot = write_png_sequence(tmp_path / "sh", flicker(textured_scene(4, 32, 48, seed=3)))
    started = time.monotonic()
    address = f"127.0.0.1:{free_port()}"              # loopback, and closed: Ray alone would retry for minutes
    assert main(["batch", str(shot), "-o", str(tmp_path / "out"), "--ray", address, "--quiet"]) == 1
    assert f"nothing answers at {address}" in capsys.readouterr().err
    assert time.monotonic() - started < 20


def test_progress_is_one_line_per_shot_in_a_log_and_nothing_when_quiet():
    log = io.StringIO()
    progress = ray_farm.FarmProgress(2, stream=log)
    progress.end(Result(Shot("/s/a.mov", "/o/a.mov"), "done", seconds=2.0, frames=24), "node1:42")
    progress.end(Result(Shot("/s/b.mov", "/o/b.mov"), "failed", "cannot open video"))
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("[1/2] done /s/a.mov: 24 frames in 2.0s on node1:42 (batch ")
    assert lines[1].startswith("[2/2] failed /s/b.mov: cannot open video")
    quiet = io.StringIO()
    ray_farm.FarmProgress(1, quiet=True, stream=quiet).end(Result(Shot("/s/a"), "done", frames=3))
    assert quiet.getvalue() == ""


    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = ray_farm.FarmProgress(2, stream=screen)
    bar.update(frames_in_flight=12, ready=1, wanted=2, busy=1)
    bar.end(Result(Shot("/s/b.mov"), "failed", "cannot open video"))
    bar.close()
    assert "batch:  50%" in screen.getvalue() and "fps, 1/1 busy, 1 starting" in screen.getvalue()
    assert "FAILED /s/b.mov: cannot open video" in screen.getvalue()


def test_a_worker_deflickers_by_path_and_names_what_it_cannot_do(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[farm]')")
    from deflicker_nodes.batch.ray_worker import EngineSpecError, ShotWorker, make_engine

    shot = write_png_sequence(tmp_path / "sh", flicker(textured_scene(5, 32, 48, seed=4)))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    worker = ShotWorker("cpu")
    assert worker.ready()["device"] == "cpu" and worker.status() is None
    done = worker.process(str(shot), str(tmp_path / "out" / "sh"), dict(CHEAP), {})
    assert done["status"] == "done" and done["frames"] == 5 and len(os.listdir(tmp_path / "out" / "sh")) == 5
    bad = worker.process(str(tmp_path / "bad.mp4"), str(tmp_path / "out" / "bad.mp4"), dict(CHEAP), {})
    assert bad["status"] == "failed" and "cannot open video" in bad["reason"]
    away = worker.process("/mnt/nowhere/sh010/plate.%04d.exr", str(tmp_path / "out" / "x"), {}, {})
    assert away["status"] == "failed" and "every node mounts at the same path" in away["reason"]
    worker.cancel()
    cancelled = worker.process(str(shot), str(tmp_path / "out" / "sh2"), dict(CHEAP), {})
    assert cancelled["status"] == "done"          # a cancel asked between shots does not stop the next one
    with pytest.raises(EngineSpecError, match="module:factory"):
        make_engine("cpu", "no_colon")
    import ray

    assert not ray.is_initialized()               # a worker on its own never starts Ray (outside any namespace)


# --- a real cluster: head + worker node in a loopback-only namespace ------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[farm]')")
    from tests.nodes.batch.ray_cluster import NetnsRayCluster, namespace_problem

    problem = namespace_problem()
    if problem:
        pytest.skip(f"{problem}: the Ray cluster tests need a loopback-only network namespace so that Ray's "
                    f"traffic stays on this machine")
    started = NetnsRayCluster(num_cpus=1)
    try:
        started.start()
        yield started
    finally:
        left = started.stop()
        assert not left, f"processes of the test's Ray cluster still alive after stopping it: {left}"


@pytest.mark.slow
def test_farm_output_equals_deflicker_run_and_a_corrupt_shot_is_reported(cluster, tmp_path):
    shots = tmp_path / "shots"
    folder = write_png_sequence(shots / "sh010", flicker(textured_scene(8, 48, 64, seed=1)))
    video = _video(shots / "sh030.mp4", flicker(textured_scene(6, 48, 64, seed=3)))
    broken = shots / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    out = tmp_path / "out"
    argv = cluster.batch_argv(str(folder), str(video), str(broken), "-o", str(out), "--ray", cluster.address,
                              *PARAMS)
    first = cluster.run(argv)
    assert first.returncode == 1, first.stderr
    assert "3 shot(s): 2 done, 0 skipped (already done), 1 failed" in first.stdout
    assert f"FAILED {broken}: cannot open video" in first.stdout
    assert "2 worker(s), 1 CPU each, on cpu" in first.stderr          # one per node: each node has 1 CPU
    assert "[3/3]" in first.stderr and " fps)" in first.stderr      # a log line per shot, not a bar
    entries = _manifest(out)
    assert entries[str(folder)]["status"] == "done" and entries[str(broken)]["status"] == "failed"

    for source, name in ((folder, "sh010"), (video, "sh030.mp4")):
        reference = tmp_path / "ref" / name
        reference.parent.mkdir(exist_ok=True)
        with _torch_threads(1):     # as the workers run: Ray gives a 1-CPU actor one thread; sums differ otherwise
            assert main(["run", str(source), "-o", str(reference), "--device", "cpu", "-q", *RUN_PARAMS]) == 0
        farm, local = _frames(out / name), _frames(reference)
        assert farm.shape == local.shape
        if name == "sh010":     # PNG is lossless: same seed, device and threads give the same frames
            assert np.array_equal(farm, local), f"{name}: not bit-identical to the deflicker run"
        else:   # libx264 (CRF 12) does not encode identical frames to identical bytes every time: ~50 dB apart
            assert _psnr(farm, local) >= 45.0, f"{name}: {_psnr(farm, local):.1f} dB against deflicker run"

    auto = [("auto" if arg == cluster.address else arg) for arg in argv]     # auto: RAY_ADDRESS names the cluster
    again = cluster.run([*auto, "--report-dir", str(tmp_path / "qc")], env={"RAY_ADDRESS": cluster.address})
    assert again.returncode == 1
    assert "3 shot(s): 0 done, 2 skipped (already done), 1 failed" in again.stdout
    reports = sorted(p.name for p in (tmp_path / "qc").iterdir())      # QC reports, made by the driver as without Ray
    assert reports == ["index.html", "sh010.html", "sh030.html"], reports
    assert f"1 to do, on Ray at {cluster.address}: 1 worker(s)" in again.stderr


@pytest.mark.slow
def test_farm_retries_crashes_reports_exhausted_shots_and_resumes_after_a_kill(cluster, tmp_path):
    shots = tmp_path / "shots"
    names = ["crash_a", "flaky_b", "always_c", "hold_d"]
    for seed, name in enumerate(names):
        write_png_sequence(shots / name, flicker(textured_scene(6, 32, 48, seed=seed)))
    out = tmp_path / "out"
    argv = cluster.batch_argv(*[str(shots / n) for n in names], "-o", str(out), "--ray", cluster.address,
                              "--engine", FAULTS, *PARAMS)
    with open(tmp_path / "first.log", "w") as log:
        driver = cluster.popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 180
        wanted = {str(shots / "crash_a"): "done", str(shots / "flaky_b"): "done", str(shots / "always_c"): "failed"}
        held = farm_faults.holder_file(str(shots / "hold_d"))
        while time.monotonic() < deadline and driver.poll() is None:
            entries = _manifest(out)
            if all(entries.get(k, {}).get("status") == v for k, v in wanted.items()) and held.exists():
                break
            time.sleep(0.5)
        assert driver.poll() is None and held.exists(), (tmp_path / "first.log").read_text()
        os.kill(driver.pid, signal.SIGKILL)                 # the batch dies with a shot in a worker
        driver.wait(timeout=30)
        worker = int(held.read_text())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.5)
        assert not _alive(worker), "Ray should stop the workers of a batch that died"
    entries = _manifest(out)
    assert {k: entries[k]["status"] for k in wanted} == wanted, (tmp_path / "first.log").read_text()
    assert farm_faults.tries(str(shots / "crash_a")) == 2           # the worker died once; Ray retried
    assert farm_faults.tries(str(shots / "flaky_b")) == 2
    assert farm_faults.tries(str(shots / "always_c")) == 3          # 1 + --retries 2, then reported
    assert "RuntimeError: always fails" in entries[str(shots / "always_c")]["reason"]
    assert "failed 3 time(s)" in entries[str(shots / "always_c")]["reason"]
    assert str(shots / "hold_d") not in entries and not (out / "hold_d").exists()

    (shots / "release").write_text("go")
    resumed = cluster.run([*argv, "--quiet"])
    assert resumed.returncode == 1, resumed.stderr
    assert "[1/4]" not in resumed.stderr and "on Ray at" not in resumed.stderr     # quiet: the summary only
    assert "4 shot(s): 1 done, 2 skipped (already done), 1 failed" in resumed.stdout
    assert f"FAILED {shots / 'always_c'}: RuntimeError: always fails" in resumed.stdout
    assert len(os.listdir(out / "hold_d")) == 6 and len(os.listdir(out / "crash_a")) == 6
