"""The fair queue: round-robin across sessions, FIFO within one, parking on credit."""
import threading

from deflicker_server.jobs import FairQueue, Job, progress_sink


def _job(session, rid):
    return Job(session, session.encode(), rid, "render", lambda job: iter(()))


def test_sessions_take_turns_and_a_session_keeps_its_order():
    queue = FairQueue()
    for job in (_job("a", 1), _job("a", 2), _job("a", 3), _job("b", 1), _job("c", 1)):
        queue.push(job)
    order = []
    for _ in range(5):
        job = queue.take(0.1)
        order.append((job.session, job.rid))
        queue.remove(job)
    assert order == [("a", 1), ("b", 1), ("c", 1), ("a", 2), ("a", 3)]


def test_a_job_without_credit_is_skipped_until_granted():
    queue = FairQueue()
    stalled, other = _job("a", 1), _job("b", 1)
    queue.push(stalled), queue.push(other)
    queue.park(stalled)
    assert queue.take(0.05) is other
    queue.remove(other)
    assert queue.take(0.05) is None
    threading.Timer(0.05, queue.grant, (stalled, 1)).start()
    assert queue.take(2.0) is stalled and queue.take_credit(stalled) and not queue.take_credit(stalled)
    stalled.window = 3
    queue.grant(stalled, 1_000_000)                       # a greedy client gets no more than its window
    assert stalled.credit == 3


def test_cancel_wakes_a_parked_job_and_lookups_work():
    queue = FairQueue()
    job = _job("a", "r1")
    queue.push(job)
    queue.park(job)
    queue.cancel(job)
    assert queue.take(0.1) is job and job.cancel.is_set()
    assert queue.find("a", "r1") is job and queue.find("b", "r1") is None
    assert queue.of_identity(b"a") == [job]


def test_progress_is_throttled_but_the_last_step_always_goes():
    job, sent = _job("a", 1), []
    progress = progress_sink(job, lambda *event: sent.append(event), min_interval=60)
    for done in range(1, 101):
        progress("finalise", done, 100)
    assert sent == [("finalise", 1, 100), ("finalise", 100, 100)] and job.progress == ("finalise", 100, 100)


def test_the_outbox_keeps_the_order_messages_were_made_in_across_threads():
    """A job may run its quanta on two workers (compute, then render lane): its messages must still leave
    in order, or a client sees the final reply before the last frames."""
    import msgpack

    from deflicker_server.outbox import Outbox

    outbox = Outbox()
    turns = [threading.Event(), threading.Event()]

    def worker(me):
        for n in range(me, 400, 2):
            turns[me].wait(5)
            turns[me].clear()
            outbox.send(b"peer", {"n": n})
            turns[1 - me].set()

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    turns[0].set()
    for t in threads:
        t.join(10)
    got = [msgpack.unpackb(m[1])["n"] for m in outbox.take(1000)]
    assert got == list(range(400)) and outbox.waiting() == 0
    outbox.close()
