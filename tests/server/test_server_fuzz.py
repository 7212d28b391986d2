"""A short run of benchmarks/fuzz_server.py against a real server process (the long run is in
docs/benchmarks.md): hostile messages never crash or hang it, and a well-behaved client meanwhile gets
correct frames."""
import os

from benchmarks.fuzz_server import MAX_FRAME_MB, make_material, run
from tests.server.procs import FAKE_ENGINE, ServerProcess


def test_a_short_fuzz_run_leaves_the_server_serving(tmp_path):
    material = make_material(tmp_path)
    server = ServerProcess(tmp_path, engine=FAKE_ENGINE, client_timeout=3.0,
                           extra=["--credit-timeout", "2", "--probe-timeout", "5", "--max-frame-mb", str(MAX_FRAME_MB)])
    server.start()
    try:
        result = run(server.address, messages=4000, seed=7, material=material, alive=server.alive, settle_s=0.5)
        assert not result["crashed"] and server.alive(), server.stderr()[-2000:]
        assert result["hangs"] == 0
        assert result["good_failures"] == [] and result["good_sessions"] >= 1
        assert "internal" not in result["replies"], server.stderr()[-4000:]
        with server.connect() as conn:
            assert conn.status()["jobs"] == []
    finally:
        server.stop()
        try:
            os.close(os.open(material["fifo"], os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
