#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Install the Deflicker add-on into a user's Blender configuration (Blender 4.2+, as an extension).

    python install/blender/install.py                              # newest Blender config found
    python install/blender/install.py --blender-config ~/.config/blender/4.5
    python install/blender/install.py --wheels-from DIR            # offline: wheels already downloaded
    python install/blender/install.py --uninstall                  # undo exactly what was installed
    python install/blender/install.py --dry-run                    # say what would change, change nothing

The add-on goes to `<config>/extensions/user_default/deflicker` (enabled as `bl_ext.user_default.deflicker`),
with the repo's `bridge/` inside it as the sub-package `deflicker_bridge` and pyzmq and msgpack as wheels in
`wheels/`, listed in the installed `blender_manifest.toml` (`wheels = [...]`): Blender installs them into
its extensions' own site-packages when it enables the extension (Blender manual, Extensions > Python
Wheels). The wheels are downloaded for CPython 3.11 (Blender 4.2 to 5.0) on each platform Blender ships for,
with the pip of the Python running this script (`--pip-python` picks another; `--wheels-from DIR` uses
wheels already there). Older Blenders are refused. Idempotent: a second run changes nothing and says so.
What was installed is listed in `<add-on>/.deflicker-install.json`, which `--uninstall` undoes.
Standard library only, Python 3.7+.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDON_SOURCE = os.path.join(REPO, "nodes", "blender")
BRIDGE_SOURCE = os.path.join(REPO, "bridge")
NAME = "deflicker"
RECORD = ".deflicker-install.json"
PACKAGES = ("pyzmq", "msgpack")
WHEEL_PYTHON = "3.11"  # Blender 4.2 to 5.0
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "macosx_11_0_arm64", "macosx_10_15_x86_64",
             "win_amd64")
EXTENSIONS_FROM = (4, 2)


# ----------------------------------------------------------------------------- where Blender keeps things
def config_base(platform=None, home=None, environ=None):
    """The folder holding one config folder per Blender version (4.5, 5.0...)."""
    platform = platform or sys.platform
    home = home or os.path.expanduser("~")
    environ = os.environ if environ is None else environ
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Blender")
    if platform.startswith("win"):
        return os.path.join(environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming"),
                            "Blender Foundation", "Blender")
    return os.path.join(environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "blender")


def version_of(folder):
    """(major, minor) from a config folder named like "4.5", or None."""
    match = re.match(r"^(\d+)\.(\d+)$", os.path.basename(os.path.normpath(folder)))
    return (int(match.group(1)), int(match.group(2))) if match else None


def newest_config(base):
    """The newest version folder under `base`, or None."""
    try:
        versions = [(version_of(name), name) for name in os.listdir(base) if os.path.isdir(os.path.join(base, name))]
    except OSError:
        return None
    versions = [v for v in versions if v[0] is not None]
    return os.path.join(base, max(versions)[1]) if versions else None


def addon_dir(config):
    return os.path.join(config, "extensions", "user_default", NAME)


def guess_blender_python(config):
    """Blender's bundled Python for the config's version, when a `blender` on PATH has one beside it."""
    version = os.path.basename(os.path.normpath(config))
    blender = shutil.which("blender")
    if not blender or version_of(version) is None:
        return None
    folder = os.path.join(os.path.dirname(os.path.realpath(blender)), version, "python", "bin")
    try:
        names = sorted(n for n in os.listdir(folder) if re.match(r"^python3(\.\d+)?(\.exe)?$", n))
    except OSError:
        return None
    return os.path.join(folder, names[-1]) if names else None


# ----------------------------------------------------------------------------- what gets installed
def planned_files(wheels=()):
    """{relative path in the add-on: source file} for the add-on, its bridge sub-package and its wheels."""
    files = {}
    for name in sorted(os.listdir(ADDON_SOURCE)):
        if name.endswith(".py") or name == "LICENSE":
            files[name] = os.path.join(ADDON_SOURCE, name)
    for name in sorted(os.listdir(BRIDGE_SOURCE)):
        if name.endswith(".py"):
            files["deflicker_bridge/" + name] = os.path.join(BRIDGE_SOURCE, name)
    for path in wheels:
        files["wheels/" + os.path.basename(path)] = path
    return files


def manifest_text(wheel_names):
    """The repo's blender_manifest.toml with the bundled wheels listed (forward slashes, as the manual asks)."""
    with open(os.path.join(ADDON_SOURCE, "blender_manifest.toml")) as handle:
        text = handle.read()
    if "\nwheels = " in "\n" + text:
        raise SystemExit("nodes/blender/blender_manifest.toml lists wheels itself; the installer adds them")
    listed = "".join('  "./wheels/{}",\n'.format(name) for name in sorted(wheel_names))
    head, sep, tail = text.partition("\n[")
    return head.rstrip("\n") + "\n\n# pyzmq and msgpack for CPython {}, one wheel per platform\nwheels = [\n{}]\n".format(
        WHEEL_PYTHON, listed) + (sep + tail if sep else "")


def wheels_in(folder):
    """The pyzmq and msgpack wheels in `folder`."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.endswith(".whl") and n.split("-", 1)[0].lower() in PACKAGES]


def download_command(pip_python, dest, platform):
    return [pip_python, "-m", "pip", "download", "--dest", dest, "--only-binary=:all:", "--python-version",
            WHEEL_PYTHON, "--platform", platform] + list(PACKAGES)


def download_wheels(pip_python, dest, say=print, platforms=PLATFORMS):
    """pip-download the wheels for every platform into `dest`; their paths (SystemExit when pip fails)."""
    if not os.path.isdir(dest):
        os.makedirs(dest)
    for platform in platforms:
        command = download_command(pip_python, dest, platform)
        say("run " + " ".join(_quote(c) for c in command))
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise SystemExit("pip could not download the wheels (exit {}):\n{}\nDownload them yourself with that "
                             "command and pass the folder as --wheels-from".format(
                                 done.returncode, done.stdout.decode("utf-8", "replace")[-2000:]))
    return wheels_in(dest)


def _read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class Installer(object):
    """Installs into (or removes from) one add-on folder, printing every change."""

    def __init__(self, target, dry_run=False, say=print):
        self.target, self.dry_run, self.say = target, dry_run, say
        self.changes = 0

    def _change(self, text):
        self.changes += 1
        self.say(("would " if self.dry_run else "") + text)

    def _path(self, rel):
        return os.path.join(self.target, *rel.split("/"))

    def read_record(self):
        try:
            with open(os.path.join(self.target, RECORD)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {"files": [], "created_dirs": [], "pip_entries": []}

    def _makedirs(self, folder, created):
        """Create `folder` and missing parents, remembering which ones we made."""
        missing = []
        while folder and not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for path in reversed(missing):
            self._change("create folder {}".format(path))
            if not self.dry_run:
                os.mkdir(path)
            created.append(path)

    def install(self, files, generated=None):
        """Copy `files` ({rel: source}) and write `generated` ({rel: text}); remove what an older install
        put there and this one does not."""
        record = self.read_record()
        created = list(record.get("created_dirs", []))
        generated = dict(generated or {})
        for rel in sorted(set(files) | set(generated)):
            dest = self._path(rel)
            self._makedirs(os.path.dirname(dest), created)
            if rel in generated:
                data = generated[rel].encode("utf-8")
                if os.path.isfile(dest) and _read_bytes(dest) == data:
                    continue
            elif os.path.isfile(dest) and digest(dest) == digest(files[rel]):
                continue
            self._change("{} {}".format("update" if os.path.exists(dest) else "write", dest))
            if self.dry_run:
                continue
            if rel in generated:
                with open(dest, "wb") as handle:
                    handle.write(data)
            else:
                shutil.copyfile(files[rel], dest)
        wanted = set(files) | set(generated)
        for rel in record.get("files", []):
            if rel not in wanted and os.path.isfile(self._path(rel)):
                self._change("remove stale {}".format(self._path(rel)))
                if not self.dry_run:
                    os.remove(self._path(rel))
        for entry in record.get("pip_entries", []):  # an older install's vendor/ folder
            self._remove(self._path("vendor/" + entry))
        new_record = {"files": sorted(wanted), "created_dirs": created}
        self._write_record(record, new_record)
        if self.changes == 0:
            self.say("nothing to change: {} is up to date".format(self.target))
        return 0

    def _write_record(self, old, new):
        path = os.path.join(self.target, RECORD)
        if os.path.isfile(path) and old == new:
            return
        self._change("{} {}".format("update" if os.path.isfile(path) else "write", path))
        if not self.dry_run:
            with open(path, "w") as handle:
                json.dump(new, handle, indent=1, sort_keys=True)

    def uninstall(self):
        if not os.path.isfile(os.path.join(self.target, RECORD)):
            self.say("nothing to uninstall: {} has no {}".format(self.target, RECORD))
            return 0
        record = self.read_record()
        for rel in record.get("files", []):
            self._remove(self._path(rel))
        for entry in record.get("pip_entries", []):
            self._remove(self._path("vendor/" + entry))
        self._remove(os.path.join(self.target, RECORD))
        for folder in sorted(self._our_folders(record), key=len, reverse=True):
            cache = os.path.join(folder, "__pycache__")
            if os.path.isdir(cache):  # Blender compiled our files there
                self._remove(cache)
            if os.path.isdir(folder) and not os.listdir(folder):
                self._change("remove folder {}".format(folder))
                if not self.dry_run:
                    os.rmdir(folder)
            elif os.path.isdir(folder) and not self.dry_run:
                self.say("kept {}: it holds files this installer did not put there".format(folder))
        return 0

    def _our_folders(self, record):
        folders = set(record.get("created_dirs", []))
        for rel in record.get("files", []):
            folder = os.path.dirname(self._path(rel))
            while len(folder) >= len(self.target):
                folders.add(folder)
                folder = os.path.dirname(folder)
        return folders

    def _remove(self, path):
        if os.path.isdir(path) and not os.path.islink(path):
            self._change("remove {}".format(path))
            if not self.dry_run:
                shutil.rmtree(path)
        elif os.path.lexists(path):
            self._change("remove {}".format(path))
            if not self.dry_run:
                os.remove(path)


def _quote(word):
    return word if re.match(r"^[\w@%+=:,./-]+$", word) else "'" + word.replace("'", "'\"'\"'") + "'"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blender-config", metavar="DIR",
                        help="Blender's config folder for one version (default: the newest under {})".format(
                            config_base()))
    parser.add_argument("--wheels-from", metavar="DIR",
                        help="use the pyzmq and msgpack wheels in DIR instead of downloading them")
    parser.add_argument("--pip-python", metavar="PATH", default=sys.executable,
                        help="the Python whose pip downloads the wheels (default: this one)")
    parser.add_argument("--uninstall", action="store_true", help="remove what this installer installed")
    parser.add_argument("--dry-run", action="store_true", help="print the changes without making them")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config = args.blender_config or newest_config(config_base())
    if not config:
        print("no Blender config found under {}; start Blender once, or pass --blender-config DIR".format(
            config_base()), file=sys.stderr)
        return 2
    config = os.path.abspath(os.path.expanduser(config))
    version = version_of(config)
    if version is not None and version < EXTENSIONS_FROM and not args.uninstall:
        print("Deflicker needs Blender {}.{} or newer; {} is the config of Blender {}.{}".format(
            EXTENSIONS_FROM[0], EXTENSIONS_FROM[1], config, version[0], version[1]), file=sys.stderr)
        return 2
    installer = Installer(addon_dir(config), args.dry_run)
    if args.uninstall:
        return installer.uninstall()
    wheels = wheels_in(args.wheels_from) if args.wheels_from else None
    if args.wheels_from and not wheels:
        print("no pyzmq or msgpack wheels in {}".format(args.wheels_from), file=sys.stderr)
        return 2
    if wheels is None:
        wheels = installed_wheels(installer.target)
    scratch = None
    if not wheels:
        scratch = tempfile.mkdtemp(prefix="deflicker-wheels-")
        wheels = download_wheels(args.pip_python, scratch, print)
    try:
        code = installer.install(planned_files(wheels),
                                 {"blender_manifest.toml": manifest_text(os.path.basename(w) for w in wheels)})
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print("Enable it in Blender: Edit > Preferences > Add-ons, search 'Deflicker' (module bl_ext.user_default.{}); "
          "see docs/hosts/blender.md".format(NAME))
    return code


def installed_wheels(target):
    """Wheels a previous install put into the add-on (reused, so a second run needs no network)."""
    return wheels_in(os.path.join(target, "wheels"))


if __name__ == "__main__":
    sys.exit(main())
