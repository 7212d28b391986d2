"""The server serialises `ast.parse`: CPython < 3.13 fails concurrent AST construction (python/cpython#106905),
and numpy's .npy header reads, torch's lazy imports and tracebacks all parse from the server's threads."""
import ast
import signal
import threading
import time

import pytest

from server import cli
from server.ast_guard import serialise_ast_parsing


@pytest.fixture
def slow_parse(monkeypatch):
    """ast.parse that dawdles and records how many threads are inside it at once."""
    original, inside, lock = ast.parse, [0, 0], threading.Lock()

    def parse(*args, **kwargs):
        with lock:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
        time.sleep(0.02)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1
    monkeypatch.setattr(ast, "parse", parse)
    return inside


def _parse_from_threads(n=6):
    results = []
    threads = [threading.Thread(target=lambda k=k: results.append(ast.literal_eval(f"{{'shape': ({k}, 2)}}")))
               for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_without_the_guard_threads_parse_at_once(slow_parse):
    assert len(_parse_from_threads()) == 6
    assert slow_parse[1] > 1          # the fixture can see overlap, so the next test's 1 means something


def test_the_guard_lets_one_thread_parse_at_a_time_and_keeps_results(slow_parse):
    assert serialise_ast_parsing(force=True)
    assert serialise_ast_parsing(force=True)          # once per process: no second wrapper
    assert not getattr(ast.parse.__wrapped__, "_deflicker_serialised", False)
    results = _parse_from_threads()
    assert slow_parse[1] == 1
    assert sorted(r["shape"][0] for r in results) == list(range(6))
    assert ast.dump(ast.parse("a + 1")) == ast.dump(ast.parse.__wrapped__("a + 1"))
    with pytest.raises(SyntaxError):
        ast.parse("a +")


def test_serve_puts_the_guard_in_place_before_the_server_starts(monkeypatch, tmp_path):
    monkeypatch.setattr(ast, "parse", ast.parse)       # restored after the test
    seen = {}

    class Server:
        def __init__(self, config):
            seen["guarded"] = getattr(ast.parse, "_deflicker_serialised", False)

        def request_stop(self, reason):
            pass

        def run(self):
            seen["ran"] = True
    monkeypatch.setattr("server.app.Server", Server)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr("server.logs.configure", lambda *args: None)   # leave the test process's logging be
    monkeypatch.setattr("server.ast_guard.AFFECTED", True)
    assert cli.main(["--bind", "tcp://127.0.0.1:1", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert seen == {"guarded": True, "ran": True}
