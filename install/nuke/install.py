#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Install the Deflicker node into Nuke (13+), or take it out again.

    python install/nuke/install.py                         # into ~/.nuke
    python install/nuke/install.py --nuke-python /opt/Nuke15.1v1/python3   # also pyzmq + msgpack for Nuke 15
    python install/nuke/install.py --nuke-python /opt/Nuke14.0v5/python3 --nuke-python /opt/Nuke16.0v2/python3
    python install/nuke/install.py --uninstall
    python install/nuke/install.py --dry-run               # print what would change, change nothing

It copies the plug-in (nodes/nuke/deflicker_node) and the repo's bridge package into
<nuke dir>/deflicker/, and appends one marked block to <nuke dir>/init.py (plug-in path, and the vendor
folder of the running Nuke's Python version) and one to <nuke dir>/menu.py (Nodes toolbar entry; it does
not import the bridge, so Nuke starts even without pyzmq). pyzmq wheels are per CPython (Nuke 13 = 3.7,
14 = 3.9, 15 = 3.10, 16 = 3.11), so each --nuke-python gets its own <nuke dir>/deflicker/vendor/py3.X. Everything it did is listed in
<nuke dir>/deflicker/install-manifest.json, so --uninstall removes exactly that: the blocks (the
user's own lines stay byte-identical), the copied files, the vendor folder it filled, the folders
it created. Running it twice changes nothing the second time. Standard library only, Python 3.7+.
"""
import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = ((os.path.join(REPO, "nodes", "nuke", "deflicker_node"), "deflicker_node"),
           (os.path.join(REPO, "bridge"), "deflicker_bridge"))
PLUGIN = "deflicker"
MANIFEST = "install-manifest.json"
BEGIN = "# >>> deflicker (added by install/nuke/install.py; remove with install.py --uninstall) >>>\n"
END = "# <<< deflicker <<<\n"
VENDOR_PACKAGES = ("pyzmq", "msgpack")


def init_block(plugin_dir: str) -> str:
    vendor = os.path.join(plugin_dir, "vendor")
    return (BEGIN + "import os\nimport sys\nimport nuke\n"
            "_deflicker_vendor = os.path.join({0!r}, 'py%d.%d' % sys.version_info[:2])\n"
            "if os.path.isdir(_deflicker_vendor) and _deflicker_vendor not in sys.path:\n"
            "    sys.path.insert(0, _deflicker_vendor)\n"
            "nuke.pluginAddPath({1!r})\n".format(vendor, plugin_dir) + END)


def menu_block() -> str:
    return BEGIN + "import deflicker_node.menu\ndeflicker_node.menu.add_menu()\n" + END


def python_version(python: str) -> str:
    """"3.10" for a Python executable (the vendor folder it needs is vendor/py3.10)."""
    done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not text.replace(".", "").isdigit():
        raise SystemExit("cannot run {} to ask its version ({}); pass Nuke's own python3".format(python, text))
    return text


class Installer(object):
    """Every change goes through here: printed, and skipped in a dry run."""

    def __init__(self, nuke_dir: str, dry_run: bool = False, out=sys.stdout):
        self.nuke_dir = os.path.abspath(os.path.expanduser(nuke_dir))
        self.plugin_dir = os.path.join(self.nuke_dir, PLUGIN)
        self.dry_run = dry_run
        self.out = out
        self.changes = 0

    def say(self, text: str) -> None:
        self.changes += 1
        self.out.write(("would " if self.dry_run else "") + text + "\n")

    # ------------------------------------------------------------- manifest
    def load_manifest(self) -> dict:
        path = os.path.join(self.plugin_dir, MANIFEST)
        try:
            with open(path, "r") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def save_manifest(self, manifest: dict) -> None:
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        path = os.path.join(self.plugin_dir, MANIFEST)
        if _read(path) != text:
            self.say("write " + path)
            if not self.dry_run:
                _write(path, text)

    # ------------------------------------------------------------- install
    def install(self, nuke_python=None) -> None:
        manifest = self.load_manifest()
        created_dirs = list(manifest.get("created_dirs", []))
        for folder in (self.nuke_dir, self.plugin_dir):
            if not os.path.isdir(folder):
                self.say("create folder " + folder)
                created_dirs.append(folder)
                if not self.dry_run:
                    os.makedirs(folder)
        files = self.copy_sources(created_dirs)
        for old in sorted(set(manifest.get("files", [])) - set(files)):
            path = os.path.join(self.plugin_dir, old)
            if os.path.isfile(path):
                self.say("remove " + path + " (no longer part of the plug-in)")
                if not self.dry_run:
                    os.remove(path)
        blocks = dict(manifest.get("blocks", {}))
        blocks["init.py"] = self.add_block("init.py", init_block(self.plugin_dir), blocks.get("init.py"))
        blocks["menu.py"] = self.add_block("menu.py", menu_block(), blocks.get("menu.py"))
        vendor = manifest.get("vendor") or []
        vendor = list(vendor) if isinstance(vendor, list) else []
        for python in nuke_python or []:
            folder = self.vendor(python, created_dirs)
            if folder and folder not in vendor:
                vendor.append(folder)
        self.save_manifest({"files": files, "blocks": blocks, "vendor": sorted(vendor),
                            "created_dirs": _unique(created_dirs)})
        if not self.changes:
            self.out.write("nothing to change: the Deflicker node is installed in {}\n".format(self.plugin_dir))

    def copy_sources(self, created_dirs: list) -> list:
        """Copy each source package's .py files (no caches); returns the copied paths, relative."""
        copied = []
        for source, name in SOURCES:
            for folder, dirs, names in os.walk(source):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                rel_folder = os.path.join(name, os.path.relpath(folder, source))
                target_folder = os.path.normpath(os.path.join(self.plugin_dir, rel_folder))
                for file_name in sorted(names):
                    if not file_name.endswith((".py", ".png")):
                        continue
                    if not os.path.isdir(target_folder):
                        self.say("create folder " + target_folder)
                        created_dirs.append(target_folder)
                        if not self.dry_run:
                            os.makedirs(target_folder)
                    src, dst = os.path.join(folder, file_name), os.path.join(target_folder, file_name)
                    copied.append(os.path.relpath(dst, self.plugin_dir))
                    if os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False):
                        continue
                    self.say("copy {} -> {}".format(src, dst))
                    if not self.dry_run:
                        shutil.copyfile(src, dst)
        return copied

    def add_block(self, file_name: str, block: str, record) -> dict:
        """Append (or update in place) the marked block; returns what uninstall needs to undo it."""
        path = os.path.join(self.nuke_dir, file_name)
        text = _read(path)
        record = dict(record or {"created": text is None, "separator": ""})
        text = text or ""
        span = _find_block(text)
        if span is not None:
            if text[span[0]:span[1]] == block:
                return record
            self.say("update the deflicker block in " + path)
            new = text[:span[0]] + block + text[span[1]:]
        else:
            record["separator"] = "\n" if text and not text.endswith("\n") else ""
            self.say("add the deflicker block to " + path)
            new = text + record["separator"] + block
        if not self.dry_run:
            _write(path, new)
        return record

    def vendor(self, nuke_python, created_dirs: list):
        """pip-install pyzmq and msgpack for one Nuke's Python into <plugin>/vendor/py3.X; the folder's name
        (None when it already holds both)."""
        name = "py" + python_version(nuke_python)
        vendor = os.path.join(self.plugin_dir, "vendor")
        target = os.path.join(vendor, name)
        if all(os.path.isdir(os.path.join(target, m)) for m in ("zmq", "msgpack")):
            return name
        command = [nuke_python, "-m", "pip", "install", "--target", target] + list(VENDOR_PACKAGES)
        self.say("run " + " ".join(command))
        if self.dry_run:
            return name
        if not os.path.isdir(vendor):
            created_dirs.append(vendor)
        result = subprocess.run(command)
        if result.returncode != 0:
            raise SystemExit("pip failed ({}); run it yourself: {}".format(result.returncode, " ".join(command)))
        return name

    # ------------------------------------------------------------- uninstall
    def uninstall(self) -> None:
        manifest = self.load_manifest()
        blocks = manifest.get("blocks", {})
        for file_name in ("init.py", "menu.py"):
            self.remove_block(file_name, blocks.get(file_name, {}))
        if not manifest:
            if os.path.isdir(self.plugin_dir):
                self.out.write("no {} in {}: left that folder as it is\n".format(MANIFEST, self.plugin_dir))
        for rel in manifest.get("files", []):
            path = os.path.join(self.plugin_dir, rel)
            if os.path.isfile(path):
                self.say("remove " + path)
                if not self.dry_run:
                    os.remove(path)
                    _remove_cache(os.path.dirname(path), os.path.basename(path))
        vendor = os.path.join(self.plugin_dir, "vendor")
        if manifest.get("vendor") and os.path.isdir(vendor):
            self.say("remove folder " + vendor)
            if not self.dry_run:
                shutil.rmtree(vendor)
        if manifest:
            path = os.path.join(self.plugin_dir, MANIFEST)
            self.say("remove " + path)
            if not self.dry_run:
                os.remove(path)
        for folder in sorted(manifest.get("created_dirs", []), key=len, reverse=True):
            if os.path.isdir(folder) and (self.dry_run or not os.listdir(folder)):
                self.say("remove folder " + folder)
                if not self.dry_run:
                    os.rmdir(folder)
            elif os.path.isdir(folder):
                self.out.write("kept {}: it holds files the installer did not put there\n".format(folder))
        if not self.changes:
            self.out.write("nothing to remove: the Deflicker node is not installed in {}\n".format(self.nuke_dir))

    def remove_block(self, file_name: str, record: dict) -> None:
        path = os.path.join(self.nuke_dir, file_name)
        text = _read(path)
        span = _find_block(text or "")
        if span is None:
            return
        start, end = span
        separator = record.get("separator", "")
        if separator and text[:start].endswith(separator) and end == len(text):
            start -= len(separator)
        new = text[:start] + text[end:]
        if record.get("created") and not new:
            self.say("remove " + path + " (it held only the deflicker block)")
            if not self.dry_run:
                os.remove(path)
                _remove_cache(os.path.dirname(path), file_name)
            return
        self.say("remove the deflicker block from " + path)
        if not self.dry_run:
            _write(path, new)


def _find_block(text: str):
    """(start, end) of the marked block, markers and the end marker's newline included; None if absent."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    end = text.find(END, start)
    if end < 0:
        raise SystemExit("the deflicker block has no end marker ({!r}); fix the file by hand".format(END.strip()))
    return start, end + len(END)


def _read(path: str):
    try:
        with open(path, "r", newline="") as handle:
            return handle.read()
    except OSError:
        return None


def _write(path: str, text: str) -> None:
    staged = path + ".deflicker-part"
    with open(staged, "w", newline="") as handle:
        handle.write(text)
    os.replace(staged, path)


def _remove_cache(folder: str, file_name: str) -> None:
    """Byte-code Python wrote for a file we remove (so the folder can go too)."""
    cache = os.path.join(folder, "__pycache__")
    if not os.path.isdir(cache):
        return
    stem = os.path.splitext(file_name)[0] + "."
    for name in os.listdir(cache):
        if name.startswith(stem) and name.endswith(".pyc"):
            os.remove(os.path.join(cache, name))
    if not os.listdir(cache):
        os.rmdir(cache)


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuke-dir", default=os.path.join("~", ".nuke"),
                        help="Nuke's user folder (default ~/.nuke)")
    parser.add_argument("--nuke-python", metavar="PATH", action="append",
                        help="a Nuke's Python (e.g. /opt/Nuke15.1v1/python3): pip-install pyzmq and msgpack for it "
                             "into <nuke dir>/deflicker/vendor/py3.X; repeat it for each Nuke version")
    parser.add_argument("--uninstall", action="store_true", help="remove exactly what the installer added")
    parser.add_argument("--dry-run", action="store_true", help="print the changes without making them")
    args = parser.parse_args(argv)
    installer = Installer(args.nuke_dir, args.dry_run)
    if args.uninstall:
        installer.uninstall()
    else:
        installer.install(args.nuke_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
