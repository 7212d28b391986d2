"""A stand-in for a host's own Python (Blender's, Nuke's): it records its pip arguments and 'installs'
pyzmq and msgpack as empty packages, so installer tests never touch the network."""
import stat
import sys
from pathlib import Path


def fake_host_python(path: Path, log: Path) -> Path:
    """Write the executable at `path`; each run appends its arguments as one line to `log`."""
    path.write_text("#!{}\nimport os, sys\nopen({!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                    "target = sys.argv[sys.argv.index('--target') + 1]\n"
                    "for package in ('zmq', 'msgpack'):\n"
                    "    os.makedirs(os.path.join(target, package), exist_ok=True)\n"
                    "    open(os.path.join(target, package, '__init__.py'), 'w').close()\n".format(sys.executable,
                                                                                              str(log)))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path
