# SPDX-License-Identifier: Apache-2.0
"""A stand-in for a host's own Python (Blender's, Nuke's) or any Python's pip: it records its arguments and
'installs' pyzmq and msgpack as empty packages (`pip install --target`), 'downloads' empty wheels named as
PyPI names them (`pip download --dest ... --platform P`), and answers `-c` version queries with `version`,
so installer tests never touch the network."""
import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
import os, sys
args = sys.argv[1:]
open({log!r}, 'a').write(' '.join(args) + '\\n')
if args[:1] == ['-c']:
    print({version!r})
    raise SystemExit(0)
if 'download' in args:
    dest, platform = args[args.index('--dest') + 1], args[args.index('--platform') + 1]
    for package, version in (('pyzmq', '27.3.0'), ('msgpack', '1.2.4')):
        open(os.path.join(dest, '{{}}-{{}}-cp311-cp311-{{}}.whl'.format(package, version, platform)), 'w').close()
    raise SystemExit(0)
target = args[args.index('--target') + 1]
for package in ('zmq', 'msgpack'):
    os.makedirs(os.path.join(target, package), exist_ok=True)
    open(os.path.join(target, package, '__init__.py'), 'w').close()
"""


def fake_host_python(path: Path, log: Path, version: str = "3.11") -> Path:
    """Write the executable at `path`; each run appends its arguments as one line to `log`."""
    path.write_text(SCRIPT.format(python=sys.executable, log=str(log), version=version))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path
