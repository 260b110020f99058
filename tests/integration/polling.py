"""Waiting for an effect the way an operator would: polling, with a bound."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], what: str = "the check", timeout_s: float = 60.0) -> T:
    """The check's first truthy result, polled every 0.2 s; AssertionError after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: still {result!r} after {timeout_s:.0f} s")
        await asyncio.sleep(0.2)
