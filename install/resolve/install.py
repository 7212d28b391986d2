#!/usr/bin/env python3
"""Install the Deflicker script into DaVinci Resolve (Workspace > Scripts > Deflicker).

    python install/resolve/install.py                      # this user, Scripts/Edit
    python install/resolve/install.py --python /usr/bin/python3.11   # also pip-install pyzmq + msgpack for it
    python install/resolve/install.py --dry-run            # say what would change, change nothing
    python install/resolve/install.py --uninstall          # take back exactly what was installed

What goes where:
- the launcher `Deflicker.py` into Resolve's Scripts/<menu> folder (Edit by default: listed under
  Workspace > Scripts on the Edit page; Utility lists it on every page);
- its library (deflicker_resolve/, a copy of the repository's bridge/, and vendor/ for pyzmq and
  msgpack) into a folder of its own, outside Resolve's Scripts tree so that Resolve does not list
  the library's modules as scripts; the launcher carries that folder's absolute path.
Idempotent (a second run changes nothing and says so), every change is printed, and a manifest in
the library folder lets --uninstall remove what was added and put back any file it replaced.
Standard library only, Python 3.7+.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "nodes", "resolve", "Deflicker.py")
PACKAGES = (("deflicker_resolve", os.path.join(REPO, "nodes", "resolve", "deflicker_resolve")),
            ("deflicker_bridge", os.path.join(REPO, "bridge")))
LIB_LINE = "LIB_DIR = None"
MANIFEST = "install-manifest.json"
VENDOR = "vendor"
BACKUP = "backup"
REQUIREMENTS = ("pyzmq", "msgpack")
MENUS = ("Edit", "Utility", "Color", "Deliver")
RESOLVE_USER = {
    "linux": (".local", "share", "DaVinciResolve", "Fusion", "Scripts"),
    "darwin": ("Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts"),
}
RESOLVE_ALL_USERS = {
    "linux": ("/opt/resolve/Fusion/Scripts",),
    "darwin": ("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts",),
}


def platform_key(name):
    return "win32" if name.startswith("win") else ("darwin" if name == "darwin" else "linux")


def appdata(home, env):
    return os.path.join(home, "AppData", "Roaming") if home else env.get("APPDATA", os.path.expanduser("~"))


def default_scripts_dir(platform, home=None, menu="Edit", all_users=False, env=os.environ):
    """Resolve's Scripts/<menu> folder (README "Using a script": the folders Resolve scans at startup)."""
    key = platform_key(platform)
    if key == "win32":
        if all_users:
            base = os.path.join(env.get("PROGRAMDATA", r"C:\ProgramData"), "Blackmagic Design", "DaVinci Resolve",
                                "Fusion", "Scripts")
        else:
            base = os.path.join(appdata(home, env), "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion",
                                "Scripts")
    elif all_users:
        base = os.path.join(*RESOLVE_ALL_USERS[key])
    else:
        base = os.path.join(home or os.path.expanduser("~"), *RESOLVE_USER[key])
    return os.path.join(base, menu)


def default_lib_dir(platform, home=None, env=os.environ):
    key = platform_key(platform)
    if key == "win32":
        return os.path.join(appdata(home, env), "Deflicker", "resolve")
    if key == "darwin":
        return os.path.join(home or os.path.expanduser("~"), "Library", "Application Support", "Deflicker", "resolve")
    if home:
        data = os.path.join(home, ".local", "share")
    else:
        data = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "deflicker", "resolve")


def digest(data):
    return hashlib.sha256(data).hexdigest()


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def launcher_text(lib_dir):
    text = read(LAUNCHER).decode("utf-8")
    if LIB_LINE not in text:
        raise SystemExit("{} has no '{}' line to fill in; the checkout looks damaged".format(LAUNCHER, LIB_LINE))
    return text.replace(LIB_LINE, "LIB_DIR = {!r}".format(lib_dir), 1).encode("utf-8")


def wanted_files(scripts_dir, lib_dir):
    """{target path: bytes} of everything the script needs, taken from this checkout."""
    files = {os.path.join(scripts_dir, "Deflicker.py"): launcher_text(lib_dir)}
    for package, source in PACKAGES:
        for name in sorted(os.listdir(source)):
            if name.endswith(".py"):
                files[os.path.join(lib_dir, package, name)] = read(os.path.join(source, name))
    return files


class Installer(object):
    """Applies changes (or, dry, only prints them) and keeps the manifest of what it changed."""

    def __init__(self, lib_dir, dry_run=False, out=None, runner=None):
        self.lib_dir = lib_dir
        self.dry = dry_run
        self.out = out or sys.stdout
        self.runner = runner or run_command
        self.changes = 0
        self.made = set()           # folders a dry run would have created
        self.manifest = self._load()

    # ----------------------------------------------------------------- manifest
    @property
    def manifest_path(self):
        return os.path.join(self.lib_dir, MANIFEST)

    def _load(self):
        try:
            with open(self.manifest_path, "r") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            data = {}
        return {"files": dict(data.get("files", {})), "dirs": list(data.get("dirs", [])),
                "backups": dict(data.get("backups", {})), "vendor": data.get("vendor")}

    def save(self):
        data = (json.dumps(self.manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")
        path = self.manifest_path
        if os.path.isfile(path) and read(path) == data:
            return
        self.write(path, data, record=False)

    # ----------------------------------------------------------------- actions
    def say(self, text):
        self.changes += 1
        self.out.write(("would " if self.dry else "") + text + "\n")

    def mkdirs(self, folder):
        missing = []
        while folder and not os.path.isdir(folder) and folder not in self.made:
            missing.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for path in reversed(missing):
            self.say("create folder " + path)
            self.made.add(path)
            if not self.dry:
                os.mkdir(path)
            if path not in self.manifest["dirs"]:
                self.manifest["dirs"].append(path)

    def write(self, path, data, record=True):
        exists = os.path.isfile(path)
        ours = path in self.manifest["files"]
        if exists and not ours and record and path not in self.manifest["backups"]:
            self.backup(path)
        self.mkdirs(os.path.dirname(path))
        self.say(("update " if exists else "create ") + path)
        if not self.dry:
            staged = path + ".part"
            with open(staged, "wb") as handle:
                handle.write(data)
            os.replace(staged, path)
        if record:
            self.manifest["files"][path] = digest(data)

    def backup(self, path):
        name = "{}-{}".format(digest(path.encode("utf-8"))[:12], os.path.basename(path))
        target = os.path.join(self.lib_dir, BACKUP, name)
        self.mkdirs(os.path.dirname(target))
        self.say("keep the existing {} as {}".format(path, target))
        if not self.dry:
            shutil.copy2(path, target)
        self.manifest["backups"][path] = target

    def remove(self, path):
        if os.path.isfile(path):
            self.say("remove " + path)
            if not self.dry:
                os.remove(path)

    # ----------------------------------------------------------------- install / uninstall
    def install(self, files, python=None):
        for path in sorted(set(self.manifest["files"]) - set(files)):      # left over from an older version
            self.remove(path)
            self.manifest["files"].pop(path, None)
        for path, data in sorted(files.items()):
            if os.path.isfile(path) and read(path) == data:
                self.manifest["files"].setdefault(path, digest(data))
                continue
            self.write(path, data)
        if python:
            self.vendor(python)
        if self.changes:
            self.save()

    def vendor(self, python):
        """pyzmq and msgpack for the Python Resolve runs, in <lib>/vendor (pip install --target)."""
        folder = os.path.join(self.lib_dir, VENDOR)
        probe = "import sys; sys.path.insert(0, {!r}); import zmq, msgpack".format(folder)
        if self.runner([python, "-c", probe])[0] == 0:
            self.out.write("pyzmq and msgpack are importable by {} already\n".format(python))
            return
        command = [python, "-m", "pip", "install", "--target", folder, "--upgrade"] + list(REQUIREMENTS)
        created = not os.path.isdir(folder)
        self.mkdirs(self.lib_dir)
        self.say("run " + " ".join(command))
        if self.dry:
            return
        code, output = self.runner(command)
        if created and os.path.isdir(folder):
            self.manifest["vendor"] = folder
        if code != 0:
            self.save()
            raise SystemExit("pip could not install {} for {} (exit {}):\n{}".format(
                " and ".join(REQUIREMENTS), python, code, output))

    def uninstall(self):
        manifest = self.manifest
        if not os.path.isfile(self.manifest_path):
            self.out.write("nothing is installed at {}\n".format(self.lib_dir))
            return
        for path in sorted(manifest["files"]):
            self.remove(path)
        for path, saved in sorted(manifest["backups"].items()):
            self.say("restore {} from {}".format(path, saved))
            if not self.dry:
                shutil.copy2(saved, path)
                os.remove(saved)
        if manifest["vendor"] and os.path.isdir(manifest["vendor"]):
            self.say("remove folder " + manifest["vendor"])
            if not self.dry:
                shutil.rmtree(manifest["vendor"])
        self.remove(self.manifest_path)
        for folder in sorted(manifest["dirs"], key=len, reverse=True):
            if os.path.isdir(folder) and (self.dry or not os.listdir(folder)):
                self.say("remove folder " + folder)
                if not self.dry:
                    os.rmdir(folder)


def run_command(argv):
    """(exit code, combined output); a missing program is 127."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=900)
    except OSError as error:
        return 127, str(error)
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    return done.returncode, done.stdout


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts-dir", help="Resolve's Scripts/<menu> folder (default: this user's)")
    parser.add_argument("--lib-dir", help="where the script's library goes (default: per-user data folder)")
    parser.add_argument("--home", help="use this folder as the home folder for the defaults (for tests)")
    parser.add_argument("--menu", choices=MENUS, default="Edit",
                        help="Scripts subfolder: Edit (Edit page, default) or Utility (every page)")
    parser.add_argument("--all-users", action="store_true", help="install into the all-users Scripts folder")
    parser.add_argument("--platform", default=sys.platform, help=argparse.SUPPRESS)
    parser.add_argument("--python", help="the Python Resolve runs: pip-install pyzmq and msgpack for it into "
                                         "the library's vendor folder")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove what an earlier install added")
    return parser.parse_args(argv)


def main(argv=None, out=None, runner=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    home = os.path.abspath(os.path.expanduser(args.home)) if args.home else None
    lib_dir = os.path.abspath(os.path.expanduser(args.lib_dir or default_lib_dir(args.platform, home)))
    installer = Installer(lib_dir, args.dry_run, out, runner)
    if args.uninstall:
        installer.uninstall()
    else:
        scripts_dir = os.path.abspath(os.path.expanduser(
            args.scripts_dir or default_scripts_dir(args.platform, home, args.menu, args.all_users)))
        installer.install(wanted_files(scripts_dir, lib_dir), args.python)
        if not args.python and not installer.manifest.get("vendor"):
            out.write("note: pyzmq and msgpack must be importable by the Python Resolve runs; "
                      "pass --python PATH to install them beside the script (docs/hosts/resolve.md)\n")
    if not installer.changes:
        out.write("nothing to change\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
