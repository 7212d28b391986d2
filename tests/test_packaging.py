"""The wheel installs only deflicker-named modules, and every package folder of the product is in it."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"deflicker_engine": "deflicker_engine", "deflicker_server": "server", "deflicker_bridge": "bridge",
         "deflicker_nodes": "nodes"}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy: setuptools leaves build/ in the tree it builds
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "out", "runs", "*.egg-info",
                                                                "__pycache__", ".pytest_cache", "benchmarks"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, cwd=out)
    (wheel,) = out.glob("deflicker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.slow
def test_wheel_has_only_deflicker_named_top_level_modules(wheel_names):
    top = {name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == set(ROOTS), top


@pytest.mark.slow
def test_every_package_folder_is_in_the_wheel(wheel_names):
    for installed, folder in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.relative_to(REPO / folder)
            if "vendor" in relative.parts:
                continue
            assert "/".join((installed,) + relative.parts) in wheel_names, f"{init} is missing from the wheel"
