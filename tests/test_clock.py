"""The FakeClock: time moves only when told, and a test can tell when a woken waiter is back."""

from __future__ import annotations

import anyio
import pytest

from graphflow.clock import FakeClock
from tests.conftest import quiescent

pytestmark = pytest.mark.anyio

T0 = 1_767_225_600.0


async def test_set_wakes_the_waiters_due_and_they_count_as_parked_only_once_back() -> None:
    clock = FakeClock(T0)
    seen: list[float] = []

    async def loop() -> None:
        # Like a scheduler: note the time, then wait for the next instant (here: a minute on).
        while True:
            seen.append(clock.now())
            await clock.wait(anyio.Event(), clock.now() + 60)

    async with anyio.create_task_group() as tg:
        tg.start_soon(loop)
        await clock.wait_until_parked()
        assert (clock.parked, seen) == (1, [T0])
        await clock.set(T0 + 60)
        await clock.wait_until_parked()
        assert (clock.parked, seen) == (1, [T0, T0 + 60])
        tg.cancel_scope.cancel()
    assert clock.parked == 0


async def test_a_waiter_woken_by_its_own_event_is_not_parked() -> None:
    clock = FakeClock(T0)
    event = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.wait, event, None)
        await clock.wait_until_parked()
        event.set()
        assert clock.parked == 0
    assert clock.parked == 0


async def test_waiting_for_two_parked_tasks_returns_when_the_second_comes() -> None:
    clock = FakeClock(T0)
    done = anyio.Event()

    async def two() -> None:
        await clock.wait_until_parked(2)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(two)
        tg.start_soon(clock.wait, anyio.Event(), None)
        await quiescent()
        assert (clock.parked, done.is_set()) == (1, False)
        tg.start_soon(clock.wait, anyio.Event(), None)
        await done.wait()
        assert clock.parked == 2
        tg.cancel_scope.cancel()


async def test_a_wait_for_an_instant_already_reached_returns_without_parking() -> None:
    clock = FakeClock(T0)
    await clock.wait(anyio.Event(), T0)
    assert clock.parked == 0
