"""Fair use counts per person, refuses before anything starts, says the wait, and forgets people who left."""

from __future__ import annotations

import threading

import pytest

from app.errors import OverFairUse
from app.fair_use import FairUse, Limits, person


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_second_answer_at_once_is_refused_for_that_person_only_and_allowed_when_the_first_ends() -> None:
    refusals: list[str] = []
    fair = FairUse(Limits(running=1), on_refusal=refusals.append)
    with fair.turn("client:10.0.0.1"):
        with pytest.raises(OverFairUse) as refused, fair.turn("client:10.0.0.1"):
            pytest.fail("a second answer started while the first ran")
        with fair.turn("client:10.0.0.2"):  # somebody else is not held back
            assert fair.running("client:10.0.0.2") == 1
    assert str(refused.value) == (
        "You already have 1 answer running (the limit per person here is 1); this one was not started. Try again "
        "when one ends — your prompt and picture are kept."
    )
    assert refused.value.reason == "running" and refusals == ["running"]
    with fair.turn("client:10.0.0.1"):  # the first one ended: room again
        assert fair.running("client:10.0.0.1") == 1
    assert fair.running("client:10.0.0.1") == 0


def test_an_answer_that_fails_gives_its_turn_back() -> None:
    fair = FairUse(Limits(running=1))
    with pytest.raises(RuntimeError), fair.turn("a"):
        raise RuntimeError("the stream broke")
    assert fair.running("a") == 0


def test_the_rate_limit_says_when_the_next_answer_can_start() -> None:
    clock = Clock()
    fair = FairUse(Limits(per_minute=3), clock=clock)
    for offset in (0.0, 10.0, 20.0):  # three starts at t=1000, 1010, 1020
        clock.now = 1000.0 + offset
        with fair.turn("a"):
            pass
    clock.now = 1045.0  # the oldest start leaves the window at 1060: 15 s from now
    with pytest.raises(OverFairUse) as refused, fair.turn("a"):
        pytest.fail("a fourth start inside the minute")
    assert refused.value.reason == "rate"
    assert str(refused.value) == (
        "You started 3 answers in the last minute (the limit per person here); the next one can start in 15 s. "
        "Your prompt and picture are kept."
    )
    clock.now = 1060.0  # the first start is a minute old
    with fair.turn("a"):
        pass


def test_no_limits_means_no_refusal_and_people_who_left_are_forgotten() -> None:
    clock = Clock()
    fair = FairUse(Limits(), clock=clock)
    for i in range(50):
        with fair.turn(f"client:{i}"):
            pass
    assert fair.people() == 50
    clock.now += 60.0
    assert fair.people() == 0  # the table does not grow with every visitor the process ever had


def test_many_threads_never_run_more_than_the_limit_together() -> None:
    fair = FairUse(Limits(running=2))
    inside, most, refused = [0], [0], [0]
    lock, start = threading.Lock(), threading.Barrier(8)

    def ask() -> None:
        start.wait()
        try:
            with fair.turn("same person"):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                threading.Event().wait(0.05)
                with lock:
                    inside[0] -= 1
        except OverFairUse:
            with lock:
                refused[0] += 1

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2 and refused[0] == 6


def test_a_person_is_who_signed_in_else_the_client_address() -> None:
    header = "X-Forwarded-Email"
    assert person(header, {header: "Ada@Example.org"}, "10.0.0.9") == "signed-in:ada@example.org"
    assert person("", {header: "ada@example.org"}, "10.0.0.9") == "client:10.0.0.9"  # no sign-in configured
    assert person(header, {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}, "10.0.0.1") == "client:203.0.113.7"
    assert person(header, {}, None) == "client:localhost"
