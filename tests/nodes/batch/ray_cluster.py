"""A real two-node Ray cluster for tests, inside a network namespace that has only loopback.

Ray swaps 127.0.0.1 for the machine's interface address, so on a normal host its traffic would
leave loopback; in a namespace of our own with only `lo` up, every node registers 127.0.0.1 and
nothing can go anywhere else. The namespace is held by one small process the test starts in a
process group of its own; the head (`ray start --head`), the worker node (its own `ray start
--address`) and every batch run join that group, so stopping the cluster is signalling that one
group (the process ids we started), never `ray stop` (which would stop any Ray on the machine).
The holder also kills the group by itself after an hour, should the test process be killed hard.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[3]
PORT = 6379                          # the namespace is ours: no other process can hold it
LIFETIME_S = 3600


def namespace_problem() -> Optional[str]:
    """Why a loopback-only network namespace cannot be made here, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            return f"'{tool}' is not installed (util-linux / iproute2)"
    probe = subprocess.run(["unshare", "--net", "--", "ip", "link", "set", "lo", "up"], capture_output=True,
                           text=True, timeout=30)
    if probe.returncode != 0:
        return f"network namespaces are not allowed here (unshare --net: {probe.stderr.strip() or probe.returncode})"
    return None


def _group_members(pgid: int) -> List[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":       # state, ppid, pgrp, ...; zombies are gone
            members.append(int(entry))
    return members


def _namespace_members(netns: str) -> List[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == netns:
                    members.append(int(entry))
            except OSError:
                pass
    return members


class NetnsRayCluster:
    """Head + `nodes - 1` worker nodes, `num_cpus` CPUs each, reachable at 127.0.0.1:PORT inside the namespace."""

    def __init__(self, num_cpus: int = 1, nodes: int = 2) -> None:
        self.num_cpus, self.nodes = num_cpus, nodes
        self.temp = Path(tempfile.mkdtemp(prefix="dfray", dir="/tmp"))   # short: Ray's socket paths have a limit
        self.address = f"127.0.0.1:{PORT}"
        self.holder: Optional[subprocess.Popen] = None
        self.netns = ""
        self.ray = str(Path(sys.executable).parent / "ray")
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
                    "OMP_WAIT_POLICY": "PASSIVE"}
        self.env.pop("RAY_ADDRESS", None)

    # --- life -------------------------------------------------------------------------------------------

    def start(self) -> "NetnsRayCluster":
        script = f"ip link set lo up && echo up && sleep {LIFETIME_S}; kill -9 0"
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", script], stdout=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, text=True, process_group=0)
        if self.holder.stdout.readline().strip() != "up":
            self.stop()
            raise RuntimeError("the network namespace's loopback did not come up")
        self.netns = os.readlink(f"/proc/{self.holder.pid}/ns/net")
        node = ["--num-cpus", str(self.num_cpus), "--num-gpus", "0", "--object-store-memory", "100000000",
                "--disable-usage-stats"]
        self.check([self.ray, "start", "--head", "--port", str(PORT), "--include-dashboard", "false",
                    "--temp-dir", str(self.temp), *node], timeout=120)
        for _ in range(self.nodes - 1):
            self.check([self.ray, "start", "--address", self.address, *node], timeout=120)
        return self

    def stop(self) -> List[int]:
        """Stop every process we started (the holder's group and anything in our namespace); returns leftovers."""
        if self.holder is None:
            return []
        pgid = self.holder.pid
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
            for pid in self._ours(pgid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not self._ours(pgid):
                    break
                time.sleep(0.2)
        self.holder.wait(timeout=10)
        left = self._ours(pgid)
        shutil.rmtree(self.temp, ignore_errors=True)
        return left

    def _ours(self, pgid: int) -> List[int]:
        return sorted(set(_group_members(pgid)) | set(_namespace_members(self.netns) if self.netns else ()))

    # --- commands inside the namespace --------------------------------------------------------------------

    def argv(self, argv: Sequence[str]) -> List[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv]

    def popen(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(argv), cwd=REPO, env={**self.env, **(env or {})},
                                stdin=subprocess.DEVNULL, process_group=self.holder.pid, **kwargs)

    def run(self, argv: Sequence[str], timeout: float = 240, env: Optional[Dict[str, str]] = None
            ) -> subprocess.CompletedProcess:
        process = self.popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"{argv[:3]} ran past {timeout}s\n{out}\n{err}")
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def check(self, argv: Sequence[str], timeout: float = 120) -> None:
        done = self.run(argv, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def batch_argv(self, *args: str) -> List[str]:
        return [sys.executable, "-m", "deflicker_engine.cli", "batch", *args]
