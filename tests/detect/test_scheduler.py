"""ModelScheduler: one model run at a time; equal priorities alternate, a higher priority goes first, none starves."""

from __future__ import annotations

import itertools
import threading
import time

from edge.detect.scheduler import ModelScheduler


def _contend(sched: ModelScheduler, priorities: dict[str, int], turns: int, hold_s: float = 0.003) -> list[str]:
    """Each name asks for the model ``turns`` times, at once again after each turn (always a frame waiting, which
    it says with ``again``); returns the order in which turns were granted."""
    order: list[str] = []
    running = []
    start = threading.Barrier(len(priorities))

    def worker(name: str) -> None:
        start.wait()
        for i in range(turns):
            with sched.turn(name, priorities[name], again=lambda i=i: i < turns - 1):
                running.append(name)
                assert len(running) == 1, running  # never two model runs at once
                order.append(name)
                time.sleep(hold_s)
                running.remove(name)

    threads = [threading.Thread(target=worker, args=(n,)) for n in priorities]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return order


def test_equal_priorities_alternate() -> None:
    order = _contend(ModelScheduler(), {"day": 0, "ir": 0}, 40)
    steady = order[2:-2]  # both are waiting from here on
    assert all(a != b for a, b in itertools.pairwise(steady)), order


def test_priority_first_and_no_starvation() -> None:
    # ir (priority 2) is served first, but day, passed over, gains a step per turn: passed over 3 times at most
    # ((2 - 0) + (2 - 1)); with both always asking, ir gets 3 turns for each of day's
    sched = ModelScheduler()
    order = _contend(sched, {"day": 0, "ir": 2}, 40)
    runs = "".join("d" if n == "day" else "i" for n in order)
    both = runs[1 : runs.rindex("i") + 1]  # while both ask (the first turn may go before day asked)
    assert "iiii" not in both, runs
    assert both.count("i") >= 2.7 * both.count("d"), runs  # three turns of four to the higher priority
    assert sched.stats("day")["model_turns_passed_max"] <= 3, sched.stats("day")


def test_three_cameras_each_served_within_the_bound() -> None:
    sched = ModelScheduler()
    prio = {"a": 0, "b": 1, "c": 3}
    _contend(sched, prio, 30)
    for name, p in prio.items():
        bound = (max(prio.values()) - p) + (len(prio) - 1)
        assert sched.stats(name)["model_turns_passed_max"] <= bound, (name, sched.stats(name))
