"""`deflicker batch --ray ADDRESS|auto`: the same batch, its shots spread over a Ray cluster.

The driver (this module) decides which shots need doing (the same manifest as the server path, so a
killed batch resumes either way), starts a pool of workers (`ray_worker.ShotActor`, one engine each:
one GPU per worker on GPU nodes, a few CPUs per worker otherwise), feeds them one shot at a time and
records each result as it lands. A long shot stays one task: its atlas windows depend on each other.
Shots travel as paths, so inputs and outputs must be on storage every node mounts at the same path.
Ray is an optional extra (`pip install -e ".[farm]"`): nothing here imports it until --ray is given.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import deflicker_bridge as bridge

from . import reports
from .manifest import Manifest
from .runner import Result, summary
from .shots import Shot

DEFAULT_RETRIES = 2
DEFAULT_CPUS_PER_WORKER = 4          # torch gains little from more threads per shot than this
MAX_CPUS_PER_GPU_WORKER = 8
WORKER_START_TIMEOUT = 900.0         # an autoscaling cluster (KubeRay) may take minutes to add a node
STATUS_EVERY = 1.0                   # seconds between progress polls of busy workers


class FarmError(Exception):
    """The batch cannot run on Ray at all (no Ray, no cluster, no room for a worker); says what to do."""


# --- parameters, without a server ------------------------------------------------------------------------

def local_effect() -> bridge.Effect:
    """The effect's typed parameters from the engine's own schema, as a server would describe them.

    Coercing through the same `bridge.Effect` as the server path gives the same parameter values, so
    the manifest written by one path is honoured by the other.
    """
    from deflicker_engine import config

    params = [dict(p, group="analysis") for p in config.schema(config.AnalysisParams)]
    params += [dict(p, group="render") for p in config.schema(config.RenderParams)]
    return bridge.Effect.from_describe({"effect": {"name": "Deflicker", "params": params,
                                                   "presets": config.presets_schema()}})


def split_params(effect: bridge.Effect, values: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(analysis values, render values), each checked by the engine's config on the driver, before any work."""
    from deflicker_engine import AnalysisParams, ParameterError, RenderParams
    from deflicker_engine.config import from_dict

    groups = {p.name: p.group for p in effect.params}
    analysis = {k: v for k, v in values.items() if groups.get(k) == "analysis"}
    render = {k: v for k, v in values.items() if groups.get(k) == "render"}
    try:
        from_dict(AnalysisParams, analysis)
        from_dict(RenderParams, render)
    except ParameterError as error:
        raise bridge.ParameterError(str(error), "parameter") from error
    return analysis, render


# --- how many workers, with what -------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkerPlan:
    count: int
    num_cpus: float
    num_gpus: float
    device: str                      # what each worker's engine runs on: "cuda" or "cpu"

    def describe(self) -> str:
        each = f"1 GPU + {self.num_cpus:g} CPU" if self.num_gpus else f"{self.num_cpus:g} CPU"
        return f"{self.count} worker(s), {each} each, on {self.device}"


def plan_workers(nodes: Iterable[Dict[str, float]], device: str = "auto", workers: Optional[int] = None,
                 cpus_per_worker: Optional[float] = None, shots: Optional[int] = None) -> WorkerPlan:
    """Size the pool from the alive nodes' resources ({"CPU": n, "GPU": m} each).

    GPUs present (and device auto or cuda): one worker per GPU, with that node's CPUs shared among its
    GPUs (at most 8). Otherwise CPU workers of `cpus_per_worker` (default 4, at most the smallest
    node's CPUs), as many as fit. `workers` overrides the count (more than fit wait for the cluster to
    grow); never more workers than shots.
    """
    nodes = [dict(n) for n in nodes]
    if not nodes:
        raise FarmError("the Ray cluster has no alive node")
    gpu_nodes = [n for n in nodes if n.get("GPU", 0) >= 1]
    if device not in ("auto", "cpu", "cuda"):
        raise FarmError(f"unknown device '{device}' for Ray workers; choose auto, cpu or cuda")
    if device == "cuda" and not gpu_nodes:
        raise FarmError("--device cuda asked for GPU workers but no node of the Ray cluster offers a GPU; "
                        "start GPU nodes with `ray start --num-gpus N` or use --device cpu")
    if workers is not None and workers < 1:
        raise FarmError(f"--workers must be at least 1, got {workers}")
    if cpus_per_worker is not None and cpus_per_worker <= 0:
        raise FarmError(f"--cpus-per-worker must be positive, got {cpus_per_worker}")
    if gpu_nodes and device != "cpu":
        # at least 1: a GPU node started with fewer CPUs than GPUs still gets its workers
        cpus = cpus_per_worker or max(1, min(MAX_CPUS_PER_GPU_WORKER,
                                             min(int(n.get("CPU", 0) // n["GPU"]) for n in gpu_nodes)))
        count = sum(int(n["GPU"]) for n in gpu_nodes)
        plan = WorkerPlan(count, float(cpus), 1.0, "cuda")
    else:
        offered = [n["CPU"] for n in nodes if n.get("CPU", 0) >= 1]     # a head started with 0 CPUs takes no shot
        if not offered:
            raise FarmError("no node of the Ray cluster offers a CPU; start nodes with `ray start --num-cpus N`")
        cpus = cpus_per_worker or float(min(DEFAULT_CPUS_PER_WORKER, int(min(offered))))
        count = sum(int(n.get("CPU", 0) // cpus) for n in nodes)
        plan = WorkerPlan(max(count, 1), float(cpus), 0.0, "cpu")
    count = workers or plan.count
    if shots is not None:
        count = min(count, max(shots, 1))
    return dataclasses.replace(plan, count=count)


def alive_nodes(ray: Any) -> List[Dict[str, float]]:
    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


# --- what a finished task means ---------------------------------------------------------------------------

def reason_of(ray: Any, error: BaseException, tries: int) -> str:
    """One line for the summary: what went wrong, and that Ray already tried it `tries` times."""
    exceptions = ray.exceptions
    if isinstance(error, exceptions.RayTaskError):
        cause = getattr(error, "cause", None) or error
        return f"{type(cause).__name__}: {cause} (failed {tries} time(s))"
    if isinstance(error, exceptions.ActorError):
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"its worker died {tries} time(s) on it (out of memory, killed, or a lost node): {first}"
    return f"{type(error).__name__}: {error}"


def result_of(shot: Shot, reply: Dict[str, Any]) -> Result:
    status = reply.get("status", "failed")
    if status == "cancelled":
        status = "failed"
    return Result(shot, status, "" if status == "done" else reply.get("reason", "unknown failure"),
                  seconds=float(reply.get("seconds", 0.0)), frames=int(reply.get("frames", 0)))


# --- progress --------------------------------------------------------------------------------------------

class FarmProgress:
    """Shots done and frames per second across the cluster; a bar on a terminal, lines in a farm log.

    quiet: nothing (the summary still prints). Not a terminal: one line per finished shot, so a farm
    log stays readable. A terminal: one tqdm bar over the shots, with the batch's frame rate.
    """

    def __init__(self, total: int, quiet: bool = False, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.finished = total, 0
        self.frames_done = 0
        self.started = time.monotonic()
        self.quiet = quiet
        self.bar = None
        if not quiet and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="shot", desc="batch", file=self.stream, dynamic_ncols=True)

    def fps(self, frames_in_flight: int = 0) -> float:
        return (self.frames_done + frames_in_flight) / max(time.monotonic() - self.started, 1e-9)

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def update(self, frames_in_flight: int, ready: int, wanted: int, busy: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.fps(frames_in_flight):.1f} fps, {busy}/{ready} busy"
                                     + (f", {wanted - ready} starting" if ready < wanted else ""))

    def end(self, result: Result, where: str = "") -> None:
        self.finished += 1
        if result.status == "done":
            self.frames_done += result.frames
        if self.bar is not None:
            self.bar.update(1)
            if result.status == "failed":
                self.bar.write(f"FAILED {result.shot.source}: {result.reason}", file=self.stream)
            return
        if self.quiet:
            return
        detail = {"done": f"{result.frames} frames in {result.seconds:.1f}s" + (f" on {where}" if where else ""),
                  "skipped": "already done", "failed": result.reason}[result.status]
        print(f"[{self.finished}/{self.total}] {result.status} {result.shot.source}: {detail} "
              f"(batch {self.fps():.1f} fps)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --- the pool --------------------------------------------------------------------------------------------

@dataclass
class _Worker:
    actor: Any
    ready_ref: Any = None
    where: str = ""
    shot: Optional[Shot] = None
    ref: Any = None
    frames: int = 0                    # frames rendered of the shot at hand (progress)
    status_ref: Any = None


@dataclass
class FarmRun:
    """One batch over a pool: inputs, knobs and what the pool saw."""

    shots: List[Shot]
    params: Dict[str, Any]
    analysis: Dict[str, Any]
    render: Dict[str, Any]
    manifest: Manifest
    plan: WorkerPlan
    force: bool = False
    retries: int = DEFAULT_RETRIES
    engine_spec: Optional[str] = None
    start_timeout: float = WORKER_START_TIMEOUT
    start_errors: List[str] = field(default_factory=list)


def _record(run: FarmRun, progress: FarmProgress, results: List[Result], result: Result, where: str = "") -> None:
    if result.status != "skipped":
        run.manifest.record(result.shot.source, result.shot.output, run.params, result.status,
                            result.reason or None, frames=result.frames, seconds=round(result.seconds, 3),
                            worker=where)
    progress.end(result, where)
    results.append(result)


def run_farm(ray: Any, run: FarmRun, progress: FarmProgress) -> List[Result]:
    """Every shot: skipped when the manifest has it, failed when it cannot be read, else done by a worker.

    Results come back in the order shots finish; a Ctrl-C cancels the shots in flight (they leave no
    output) and re-raises.
    """
    results: List[Result] = []
    todo: List[Shot] = []
    for shot in run.shots:
        if shot.error:
            _record(run, progress, results, Result(shot, "failed", shot.error))
        elif not run.force and run.manifest.done(shot.source, shot.output, run.params):
            _record(run, progress, results, Result(shot, "skipped", "already done"))
        else:
            todo.append(shot)
    if not todo:
        return results
    from .ray_worker import ShotActor

    options = dict(num_cpus=run.plan.num_cpus, num_gpus=run.plan.num_gpus, max_restarts=-1,
                   max_task_retries=run.retries)
    pool = [_Worker(ShotActor.options(**options).remote(run.plan.device, run.engine_spec))
            for _ in range(min(run.plan.count, len(todo)))]
    for worker in pool:
        worker.ready_ref = worker.actor.ready.remote()
    try:
        _drive(ray, run, progress, pool, todo, results)
    except KeyboardInterrupt:
        _cancel(ray, pool)
        raise
    finally:
        for worker in pool:
            ray.kill(worker.actor)
    return results


def _drive(ray: Any, run: FarmRun, progress: FarmProgress, pool: List[_Worker], todo: List[Shot],
           results: List[Result]) -> None:
    queue = list(todo)
    started = time.monotonic()
    last_poll = 0.0
    while queue or any(w.shot for w in pool):
        starting = [w for w in pool if w.ready_ref is not None]
        ready = [w for w in pool if w.ready_ref is None]
        if not ready and not starting:
            reason = "no worker could start: " + ("; ".join(sorted(set(run.start_errors))) or "unknown")
            for shot in queue:
                _record(run, progress, results, Result(shot, "failed", reason))
            return
        if not ready and time.monotonic() - started > run.start_timeout:
            raise FarmError(f"no worker started within {run.start_timeout:.0f}s: the cluster has no room for "
                            f"{run.plan.describe()}; lower --cpus-per-worker or add nodes")
        for worker in ready:
            if worker.shot is None and queue:
                shot = worker.shot = queue.pop(0)
                worker.frames = 0
                worker.ref = worker.actor.process.remote(shot.source, shot.output, run.analysis, run.render)
        waiting = [w.ready_ref for w in starting] + [w.ref for w in pool if w.shot is not None]
        done, _ = ray.wait(waiting, num_returns=1, timeout=0.5)
        for ref in done:
            _settle(ray, run, progress, pool, ref, results)
        if time.monotonic() - last_poll >= STATUS_EVERY:
            last_poll = time.monotonic()
            _poll(ray, pool)
            busy = [w for w in pool if w.shot is not None]
            progress.update(sum(w.frames for w in busy), len([w for w in pool if w.ready_ref is None]),
                            len(pool), len(busy))


def _settle(ray: Any, run: FarmRun, progress: FarmProgress, pool: List[_Worker], ref: Any,
            results: List[Result]) -> None:
    """A worker came up (or could not), or a shot came back: record it and free the worker."""
    for worker in pool:
        if worker.ready_ref is not None and ref == worker.ready_ref:
            worker.ready_ref = None
            try:
                info = ray.get(ref)
                worker.where = f"{info.get('host')}:{info.get('pid')} ({info.get('device')})"
            except ray.exceptions.RayError as error:
                cause = getattr(error, "cause", None) or error
                run.start_errors.append(f"{type(cause).__name__}: {_last_line(cause)}")
                pool.remove(worker)
            return
        if worker.shot is not None and ref == worker.ref:
            shot, worker.shot, worker.ref = worker.shot, None, None
            try:
                reply = ray.get(ref)
                where = f"{reply.get('host')}:{reply.get('pid')}"
                result = result_of(shot, reply)
            except ray.exceptions.RayError as error:
                where = worker.where
                result = Result(shot, "failed", reason_of(ray, error, run.retries + 1))
            _record(run, progress, results, result, where)
            return


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _poll(ray: Any, pool: List[_Worker]) -> None:
    """Frames rendered by busy workers; a worker that does not answer at once keeps its last figure."""
    for worker in pool:
        if worker.shot is None:
            worker.status_ref = None
            continue
        if worker.status_ref is None:
            worker.status_ref = worker.actor.status.remote()
            continue
        done, _ = ray.wait([worker.status_ref], timeout=0)
        if done:
            try:
                status = ray.get(worker.status_ref)
                worker.frames = int((status or {}).get("frames", 0))
            except ray.exceptions.RayError:
                pass
            worker.status_ref = worker.actor.status.remote()


def _cancel(ray: Any, pool: List[_Worker], wait: float = 10.0) -> None:
    """Ask busy workers to stop between frames, and give them a moment, so no half-written output stays."""
    busy = [w for w in pool if w.shot is not None]
    for worker in busy:
        try:
            worker.actor.cancel.remote()
        except Exception:
            pass
    try:
        ray.wait([w.ref for w in busy], num_returns=len(busy), timeout=wait)
    except Exception:
        pass


# --- connecting and the command --------------------------------------------------------------------------

def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise FarmError("deflicker batch --ray needs Ray, which is not installed here: "
                        "pip install 'deflicker[farm]' (or pip install -e '.[farm]' in a checkout)") from error
    return ray


def head_endpoint(address: str) -> Optional[Tuple[str, int]]:
    """(host, port) of an explicit address ("host:port", "ray://host:port", "[v6]:port"); None for auto."""
    if address == "auto":
        return None
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise FarmError(f"--ray '{address}' is not an address: give the head's host:port (its GCS port, 6379 by "
                        f"default), ray://host:10001, or auto")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds when nothing listens at the head (Ray itself keeps retrying for minutes)."""
    endpoint = head_endpoint(address)
    if endpoint is None:
        return
    try:
        socket.create_connection(endpoint, timeout=timeout).close()
    except OSError as error:
        raise FarmError(f"nothing answers at {address} ({error.strerror or error}): is the head up "
                        f"(`ray start --head`), and is this its address and GCS port (6379 by default)?") from error


def connect(ray: Any, address: str, quiet: bool = False) -> str:
    """Join the cluster at `address`; `auto` is RAY_ADDRESS, else a cluster started on this machine, else a
    new local one (stopped at the end). Returns where it connected, for the header line."""
    check_reachable(address)
    options: Dict[str, Any] = {"log_to_driver": not quiet}
    if quiet:
        options["logging_level"] = logging.WARNING
    try:
        context = ray.init(address=None if address == "auto" else address, **options)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise FarmError(f"cannot reach a Ray cluster at '{address}': {_last_line(error)}. Start one with "
                        f"`ray start --head`, check the address (host:port of the head, or ray://host:10001), "
                        f"or use --ray auto for a local one") from error
    return str(getattr(context, "address_info", {}).get("gcs_address") or address)


def batch(args: argparse.Namespace, shots: List[Shot], outdir: Path, report_dir: Optional[Path] = None) -> int:
    """`deflicker batch ... --ray ADDRESS|auto` after the shots are collected and given outputs.

    QC reports (--report-dir) are made here on the driver after the batch, from the files on shared storage.
    """
    from .cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, parse_params

    try:
        effect = local_effect()
        if args.list_params:
            for p in effect.params:
                print(f"{p.name:14} {p.type:8} default {p.default!r:6} range [{p.min}, {p.max}]  ({p.group}) {p.help}")
            return EXIT_OK
        params: Dict[str, Any] = effect.coerce(parse_params(args.param))
        analysis, render = split_params(effect, params)
        ray = import_ray()
    except (bridge.BridgeError, FarmError) as error:
        print(f"deflicker batch: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    progress: Optional[FarmProgress] = None
    try:
        where = connect(ray, args.ray, args.quiet)
        manifest = Manifest(outdir)
        todo = sum(1 for s in shots if not s.error and (args.force or not manifest.done(s.source, s.output, params)))
        plan = plan_workers(alive_nodes(ray), args.device, args.workers, args.cpus_per_worker, todo)
        progress = FarmProgress(len(shots), args.quiet)
        progress.line(f"deflicker batch: {len(shots)} shot(s), {todo} to do, on Ray at {where}: "
                      f"{plan.describe()}")
        run = FarmRun(shots, params, analysis, render, manifest, plan, force=args.force, retries=args.retries,
                      engine_spec=args.engine)
        results = run_farm(ray, run, progress)
    except KeyboardInterrupt:
        print("deflicker batch: interrupted; finished shots are kept, run the same command to resume",
              file=sys.stderr)
        return EXIT_CANCELLED
    except FarmError as error:
        print(f"deflicker batch: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if progress is not None:
            progress.close()
        if ray.is_initialized():
            ray.shutdown()
    order = {shot.source: i for i, shot in enumerate(shots)}
    results.sort(key=lambda r: order.get(r.shot.source, math.inf))
    print(summary(results))
    problems = reports.write_reports(report_dir, results, params, args.quiet) if report_dir else []
    for problem in problems:
        print(f"deflicker batch: no report for {problem}", file=sys.stderr)
    return EXIT_FAILED if problems or any(r.status == "failed" for r in results) else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("farm (Ray; needs pip install 'deflicker[farm]')")
    group.add_argument("--ray", metavar="ADDRESS|auto", default=None,
                       help="spread the shots over a Ray cluster: the head's host:port, ray://host:10001, or auto "
                            "(RAY_ADDRESS, else a cluster started on this machine, else a local one); paths must be "
                            "on storage every node mounts at the same path")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="workers (one engine each; default: one per GPU, else as many as the CPUs allow)")
    group.add_argument("--cpus-per-worker", type=float, default=None, metavar="N",
                       help=f"CPUs per worker (default {DEFAULT_CPUS_PER_WORKER} on CPU nodes, capped at the "
                            f"smallest node; on GPU nodes the node's CPUs shared among its GPUs)")
    group.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="what the workers' engines run on: auto = one GPU each where the cluster has GPUs")
    group.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N",
                       help=f"times Ray retries a shot whose worker crashed or died (default {DEFAULT_RETRIES}); "
                            f"a corrupt input or a bad parameter fails at once")
    group.add_argument("--engine", default=None, metavar="MODULE:FACTORY",
                       help="engine factory for the workers instead of the real engine (tests, plug-ins)")
