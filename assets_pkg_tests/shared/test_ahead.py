"""`Ahead`: results in order, computed at most `ahead` keys ahead by its workers, errors raised
where asked."""

from __future__ import annotations

import threading

import pytest

from assets_pkg.shared.ahead import Ahead


def test_each_result_is_its_keys_and_the_next_key_is_computed_meanwhile() -> None:
    started: list[str] = []
    release = {key: threading.Event() for key in "abc"}

    def compute(key: str) -> str:
        started.append(key)
        release[key].wait(timeout=10)
        return key.upper()

    with Ahead(compute, list("abc")) as ahead:
        release["a"].set()
        release["b"].set()
        assert ahead.result("a") == "A"
        assert list(ahead.pending) == ["b"]  # b was submitted when a was asked for
        assert "c" not in started  # but not c: one ahead only
        assert ahead.result("b") == "B"
        release["c"].set()
        assert ahead.result("c") == "C"
    assert started == ["a", "b", "c"]


def test_an_error_is_raised_when_its_key_is_asked_for() -> None:
    def compute(key: str) -> int:
        if key == "b":
            raise ValueError("b is broken")
        return 1

    with Ahead(compute, ["a", "b"]) as ahead:
        assert ahead.result("a") == 1
        with pytest.raises(ValueError, match="b is broken"):
            ahead.result("b")


def test_two_workers_compute_the_next_two_keys_at_once() -> None:
    started = {key: threading.Event() for key in "abcd"}
    release = threading.Event()

    def compute(key: str) -> str:
        started[key].set()
        if key != "a":
            release.wait(timeout=10)
        return key.upper()

    with Ahead(compute, list("abcd"), ahead=2, workers=2) as ahead:
        assert ahead.result("a") == "A"
        # b and c were submitted with a; both run before either is released.
        assert started["b"].wait(timeout=10)
        assert started["c"].wait(timeout=10)
        assert not started["d"].is_set()  # two ahead only
        release.set()
        assert [ahead.result(key) for key in "bcd"] == ["B", "C", "D"]
