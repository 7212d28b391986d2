#!/usr/bin/env python3
"""Install the Deflicker add-on into a user's Blender configuration.

    python install/blender/install.py                              # newest Blender config found
    python install/blender/install.py --blender-config ~/.config/blender/4.5
    python install/blender/install.py --blender-python /opt/blender/4.5/python/bin/python3.11
    python install/blender/install.py --legacy                     # scripts/addons/deflicker instead
    python install/blender/install.py --uninstall                  # undo exactly what was installed
    python install/blender/install.py --dry-run                    # say what would change, change nothing

Blender 4.2+ gets an extension (`<config>/extensions/user_default/deflicker`, enabled as
`bl_ext.user_default.deflicker`); `--legacy` a legacy add-on (`<config>/scripts/addons/deflicker`,
module `deflicker`). Older Blenders are refused (the add-on needs 4.2's API). The repo's `bridge/` is copied into the add-on's `vendor/`.
Blender's Python has neither pyzmq nor msgpack: `--blender-python PATH` installs them into `vendor/`
with pip, otherwise the command is printed. Idempotent: a second run changes nothing and says so.
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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDON_SOURCE = os.path.join(REPO, "nodes", "blender")
BRIDGE_SOURCE = os.path.join(REPO, "bridge")
NAME = "deflicker"
RECORD = ".deflicker-install.json"
PACKAGES = ("pyzmq", "msgpack")
MODULES = ("zmq", "msgpack")  # what the packages install, to tell whether vendor/ has them
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


def addon_dir(config, legacy):
    if legacy:
        return os.path.join(config, "scripts", "addons", NAME)
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
def planned_files():
    """{relative path in the add-on: source file} for the add-on and its vendored bridge."""
    files = {}
    for name in sorted(os.listdir(ADDON_SOURCE)):
        if name.endswith(".py") or name == "blender_manifest.toml":
            files[name] = os.path.join(ADDON_SOURCE, name)
    for name in sorted(os.listdir(BRIDGE_SOURCE)):
        if name.endswith(".py"):
            files["vendor/deflicker_bridge/" + name] = os.path.join(BRIDGE_SOURCE, name)
    return files


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

    def install(self, files, blender_python=None):
        record = self.read_record()
        created = list(record.get("created_dirs", []))
        for rel, source in sorted(files.items()):
            dest = self._path(rel)
            self._makedirs(os.path.dirname(dest), created)
            if os.path.isfile(dest) and digest(dest) == digest(source):
                continue
            self._change("{} {}".format("update" if os.path.exists(dest) else "write", dest))
            if not self.dry_run:
                shutil.copyfile(source, dest)
        for rel in record.get("files", []):
            if rel not in files and os.path.isfile(self._path(rel)):
                self._change("remove stale {}".format(self._path(rel)))
                if not self.dry_run:
                    os.remove(self._path(rel))
        pip_entries = list(record.get("pip_entries", []))
        pip_entries += self.vendor_dependencies(blender_python)
        new_record = {"files": sorted(files), "created_dirs": created, "pip_entries": sorted(set(pip_entries))}
        self._write_record(record, new_record)
        if self.changes == 0:
            self.say("nothing to change: {} is up to date".format(self.target))
        return 0

    def vendor_dependencies(self, blender_python):
        """pip-install pyzmq and msgpack into vendor/ with Blender's Python; the entries pip added."""
        vendor = self._path("vendor")
        if all(os.path.isdir(os.path.join(vendor, m)) for m in MODULES):
            return []
        command = [blender_python or "<Blender's python>", "-m", "pip", "install", "--target", vendor] + list(PACKAGES)
        shown = subprocess.list2cmdline(command) if os.name == "nt" else " ".join(_quote(c) for c in command)
        if not blender_python:
            self.say("Blender's Python needs pyzmq and msgpack; install them into the add-on with:\n  {}\n"
                     "(Blender's Python: in Blender's Python console, `import sys; sys.executable`; or rerun this "
                     "with --blender-python PATH)".format(shown))
            return []
        self._change("run {}".format(shown))
        if self.dry_run:
            return []
        before = set(os.listdir(vendor)) if os.path.isdir(vendor) else set()
        done = subprocess.run(command)
        after = set(os.listdir(vendor)) if os.path.isdir(vendor) else set()
        if done.returncode != 0:
            self.say("pip failed (exit {}); if Blender's Python has no pip, run `{} -m ensurepip` first".format(
                done.returncode, _quote(blender_python)))
        return sorted(after - before)

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
    parser.add_argument("--legacy", action="store_true",
                        help="install as a legacy add-on in scripts/addons instead of an extension")
    parser.add_argument("--blender-python", metavar="PATH",
                        help="Blender's Python: pip-installs pyzmq and msgpack into the add-on's vendor folder")
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
    legacy = args.legacy
    installer = Installer(addon_dir(config, legacy), args.dry_run)
    if args.uninstall:
        return installer.uninstall()
    code = installer.install(planned_files(), args.blender_python)
    if not args.blender_python:
        guessed = guess_blender_python(config)
        if guessed and not all(os.path.isdir(os.path.join(installer.target, "vendor", m)) for m in MODULES):
            print("Blender's Python seems to be {} (pass it as --blender-python)".format(guessed))
    module = NAME if legacy else "bl_ext.user_default." + NAME
    print("Enable it in Blender: Edit > Preferences > Add-ons, search 'Deflicker' (module {}); see "
          "docs/hosts/blender.md".format(module))
    return code


if __name__ == "__main__":
    sys.exit(main())
