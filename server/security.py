"""Who may talk to the server and what it may touch: loopback binds, CurveZMQ keys, path roots.

Loopback and ipc binds are reachable only from this machine, where any client could already read
the user's files; any other bind is refused unless CurveZMQ keys are configured, so only clients
whose public key was authorised can connect. Paths from clients must resolve (symlinks followed)
inside the configured roots, for reading and for writing, and name regular files (or folders): a
FIFO or a device would block or never end. The check is not only made once: the files a clip was
opened from are pinned (`PinnedFiles`), and every later read re-resolves each path and compares the
file's identity, so a symlink or another file swapped in after the open is refused, never read.
"""
from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from deflicker_engine.errors import ParameterError

from .errors import RequestError

FRAME_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"}
PATH_MAX = 4096        # bytes in a path (Linux PATH_MAX); longer ones cannot name a file
NAME_MAX = 255         # bytes in one file or folder name


def bind_host(bind: str) -> Optional[str]:
    """The host part of a tcp endpoint ("tcp://127.0.0.1:5557" -> "127.0.0.1"); None for other transports."""
    if not bind.startswith("tcp://"):
        return None
    rest = bind[len("tcp://"):]
    if rest.startswith("["):
        return rest[1:rest.find("]")] if "]" in rest else rest
    return rest.rsplit(":", 1)[0]


def is_loopback(bind: str) -> bool:
    """True for endpoints only this machine can reach: loopback tcp, ipc, inproc."""
    if bind.startswith(("ipc://", "inproc://")):
        return True
    host = bind_host(bind)
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", interface names, host names: reachable from elsewhere


def check_bind(bind: str, curve_secret_file: Optional[Path], curve_clients_dir: Optional[Path]) -> bool:
    """Refuse a non-loopback bind without CurveZMQ keys. Returns whether CurveZMQ is configured."""
    if not bind.startswith(("tcp://", "ipc://", "inproc://")):
        raise ParameterError(f"cannot bind '{bind}': use tcp://HOST:PORT or ipc://PATH")
    has_keys = curve_secret_file is not None and curve_clients_dir is not None
    if (curve_secret_file is None) != (curve_clients_dir is None):
        raise ParameterError("CurveZMQ needs both --curve-secret (server key) and --curve-clients (authorised keys)")
    if not is_loopback(bind) and not has_keys:
        raise ParameterError(f"refusing to bind {bind} without CurveZMQ keys: anyone on the network could use "
                             "the server; pass --curve-secret and --curve-clients (make them with --generate-keys) "
                             "or bind tcp://127.0.0.1")
    if has_keys:
        if not Path(curve_secret_file).is_file():
            raise ParameterError(f"server key file {curve_secret_file} does not exist")
        if not Path(curve_clients_dir).is_dir():
            raise ParameterError(f"authorised client keys folder {curve_clients_dir} does not exist")
    return has_keys


def generate_keys(folder: Path) -> Tuple[Path, Path]:
    """Write a server and a client key pair into `folder` (zmq.auth certificate files).

    Returns (server secret file, client secret file); the public halves sit beside them as .key.
    Put each client's .key file in the server's --curve-clients folder to authorise it.
    """
    import zmq.auth

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, server_secret = zmq.auth.create_certificates(str(folder), "server")
    _, client_secret = zmq.auth.create_certificates(str(folder), "client")
    for path in (server_secret, client_secret):
        os.chmod(path, 0o600)
    return Path(server_secret), Path(client_secret)


class CurveGuard:
    """Runs the ZAP authenticator (a thread of pyzmq) that admits only authorised client keys."""

    def __init__(self, context, secret_file: Path, clients_dir: Path) -> None:
        import zmq.auth
        from zmq.auth.thread import ThreadAuthenticator

        public, secret = zmq.auth.load_certificate(str(secret_file))
        if secret is None:
            raise ParameterError(f"{secret_file} holds no secret key; pass the server's .key_secret file")
        self.public, self._secret = public, secret
        self._auth = ThreadAuthenticator(context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(clients_dir))

    def secure(self, socket) -> None:
        """Make `socket` a CurveZMQ server (call before bind)."""
        socket.curve_secretkey = self._secret
        socket.curve_publickey = self.public
        socket.curve_server = True

    def stop(self) -> None:
        self._auth.stop()


class Roots:
    """The folders client paths must resolve into."""

    def __init__(self, roots: Iterable[os.PathLike]) -> None:
        self.roots: Tuple[Path, ...] = tuple(dict.fromkeys(Path(os.path.realpath(r)) for r in roots))

    def __iter__(self):
        return iter(self.roots)

    def resolve(self, path: str, what: str = "path") -> str:
        """The real path of `path` if it lies inside a root, else a 'forbidden' RequestError."""
        check_path_text(path, what)
        real = Path(os.path.realpath(path))
        if not self.contains(real):
            allowed = ", ".join(str(r) for r in self.roots) or "none"
            raise RequestError("forbidden", f"{what} '{_short(path)}' is outside the server's allowed roots "
                                            f"({allowed}); start the server with --root for that folder")
        return str(real)

    def contains(self, real: Path) -> bool:
        return any(real == root or root in real.parents for root in self.roots)

    def check_output(self, real: str) -> None:
        """An output may not be a root (or hold one), and may replace an existing folder only when that
        folder holds nothing but frames: a folder output swaps the whole folder (engine staging)."""
        path = Path(real)
        for root in self.roots:
            if path == root or path in root.parents:
                raise RequestError("forbidden", f"output '{real}' would replace the allowed root {root}; "
                                                "write into a folder inside it")
        if path.is_dir():
            others = [p.name for p in path.iterdir() if not p.name.startswith(".")
                      and (p.is_dir() or p.suffix.lower() not in FRAME_EXTS)]
            if others:
                raise RequestError("forbidden", f"output folder '{real}' exists and holds more than frames "
                                                f"({', '.join(sorted(others)[:3])}...); it would be replaced: "
                                                "choose a new or a frames-only folder")

    def check_all(self, folder: str, names: Sequence[str], what: str = "input") -> None:
        """Every file of a sequence must resolve inside the roots too (a frame may be a symlink)."""
        for name in names:
            self.resolve(os.path.join(folder, name), what)


def _short(path: str, keep: int = 120) -> str:
    return path if len(path) <= keep else f"{path[:keep // 2]}...{path[-keep // 2:]}"


def check_path_text(path: str, what: str = "path") -> None:
    """A path a client sent must be absolute, without NUL, and short enough to name a file at all
    (an over-long path is the client's mistake, not a server failure)."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise RequestError("bad-request", f"{what} must be a non-empty string")
    size = len(os.fsencode(path))
    if size > PATH_MAX:
        raise RequestError("bad-request", f"{what} is {size} bytes long ('{_short(path, 60)}'); a path may be at "
                                          f"most {PATH_MAX} bytes")
    longest = max(path.split(os.sep), key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > NAME_MAX:
        raise RequestError("bad-request", f"{what} holds a name of {len(os.fsencode(longest))} bytes "
                                          f"('{_short(longest, 40)}'); a file or folder name may be at most "
                                          f"{NAME_MAX} bytes")
    if not os.path.isabs(path):
        raise RequestError("bad-request", f"{what} '{_short(path)}' must be absolute: the server does not know "
                                          "the client's working folder")


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def regular_stat(real: str, what: str = "input", folder_ok: bool = False) -> os.stat_result:
    """stat() of a file the server is about to read: refuse FIFOs, sockets and devices before anything
    opens them (opening a FIFO blocks until a writer comes; a device never ends)."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise RequestError("input", f"{what} {_short(real)} does not exist") from None
    except OSError as error:
        raise RequestError("input", f"cannot read {what} {_short(real)}: {error.strerror or error}") from None
    if stat.S_ISREG(st.st_mode) or (folder_ok and stat.S_ISDIR(st.st_mode)):
        return st
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
    raise RequestError("input", f"{what} {_short(real)} is {kind}; the server reads only regular files"
                                f"{' and folders' if folder_ok else ''}")


@dataclass(frozen=True)
class FileId:
    """What makes a file the same file: where it resolves to, its inode, its size and modification time."""

    real: str
    device: int
    inode: int
    size: int
    mtime_ns: int


def file_id(roots: Roots, path: str, what: str = "input") -> FileId:
    """Resolve `path` inside the roots (forbidden otherwise) and identify the regular file it names."""
    real = roots.resolve(path, what)
    st = regular_stat(real, what)
    return FileId(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class PinnedFiles:
    """The files a clip reads, as they were when it was opened.

    `check(i)` runs before file i is read, `check_all()` before a job starts: the path is resolved
    again inside the roots and must lead to the same file (inode, size, mtime). A symlink swapped in
    afterwards resolves elsewhere (outside the roots: forbidden; elsewhere inside: stale-clip), and a
    file replaced in place has another inode or mtime (stale-clip). What is left is the moment between
    the check and the engine's open, a few microseconds instead of the clip's lifetime.
    """

    def __init__(self, roots: Roots, folder: str, names: Sequence[str], ids: Sequence[FileId], label: str) -> None:
        self.roots, self.folder, self.names, self.ids, self.label = roots, folder, tuple(names), tuple(ids), label

    @classmethod
    def pin(cls, roots: Roots, folder: str, names: Sequence[str], label: str,
            known: Optional[Dict[str, FileId]] = None, touch: Callable[[], None] = lambda: None) -> "PinnedFiles":
        """Identify every file now (or take the identity `known` from an earlier look)."""
        ids: List[FileId] = []
        for name in names:
            ids.append((known or {}).get(name) or file_id(roots, os.path.join(folder, name)))
            touch()
        return cls(roots, folder, names, ids, label)

    def check(self, index: int) -> None:
        try:
            now = file_id(self.roots, os.path.join(self.folder, self.names[index]))
        except RequestError as error:
            if error.code != "input":
                raise                      # forbidden: it now leads outside the roots
            now = None                     # gone, or no longer a regular file
        if now != self.ids[index]:
            raise RequestError("stale-clip", f"{self.label}: {self.names[index]} changed on disk since the clip was "
                                             "opened (replaced, rewritten or swapped for a link); open it again")

    def check_all(self) -> None:
        for index in range(len(self.names)):
            self.check(index)

