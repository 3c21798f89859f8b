"""How DataLoader workers are started: ``fork``, except where a fork can deadlock.

CPython before 3.10.15 and 3.11.0-3.11.9 can deadlock a child forked while another thread of the
parent is creating its interpreter thread state (CPython gh-112275: the child waits forever on a
lock it inherited held, in ``PyOS_AfterFork_Child``). Under DDP such threads are there: gloo's
run-loop threads enter Python to release the tensors of finished collectives, e.g. after each
metric synchronisation. A DataLoader worker forked at that moment hangs, and every rank with it.
``forkserver`` forks workers from a server process that runs no collectives and no Python thread
but its main one. The server imports torch and this package once, when it starts
(:func:`preload_in_forkserver`), so that each worker does not (BENCHMARKS.md, "DataLoader workers
under DDP").
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import platform
import sys

START_METHODS = ("fork", "forkserver", "spawn")


def fork_can_deadlock(
    version: tuple[int, int, int] | None = None, implementation: str | None = None
) -> bool:
    """Whether this interpreter has CPython gh-112275 (fixed in 3.10.15, 3.11.10 and 3.12.0).

    Args:
        version: ``(major, minor, micro)``; default the running interpreter's.
        implementation: ``platform.python_implementation()``'s name; default the running one's.
    """
    version = version if version is not None else tuple(sys.version_info[:3])  # type: ignore[assignment]
    implementation = implementation or platform.python_implementation()
    if implementation != "CPython":
        return False
    return version < (3, 10, 15) or (3, 11, 0) <= version < (3, 11, 10)


def check_start_method(method: str | None) -> None:
    """Raise ``ValueError`` unless ``method`` is ``None`` or a start method of this platform."""
    if method is None:
        return
    available = [m for m in START_METHODS if m in multiprocessing.get_all_start_methods()]
    if method not in available:
        raise ValueError(
            f"multiprocessing_context: expected None or one of {available} (this platform's "
            f"start methods), got {method!r}"
        )


def worker_start_method(requested: str | None, num_workers: int, world_size: int) -> str | None:
    """The ``multiprocessing_context`` to give a DataLoader.

    ``requested`` when given; otherwise ``"forkserver"`` when workers would be forked from one
    of several DDP processes on an interpreter where that can deadlock
    (:func:`fork_can_deadlock`); otherwise ``None`` (the platform's default). ``None`` too
    without workers.
    """
    check_start_method(requested)
    if num_workers == 0:
        return None
    if requested is not None:
        return requested
    default = multiprocessing.get_start_method(allow_none=True)
    default = default or multiprocessing.get_all_start_methods()[0]
    if world_size > 1 and default == "fork" and fork_can_deadlock():
        return "forkserver"
    return None


def preload_in_forkserver(modules: list[str]) -> None:
    """Add ``modules`` to what the fork server imports when it starts (with ``"__main__"``, and
    any modules already asked for), so that its workers start with them imported; no effect once
    this process's server runs."""
    server = multiprocessing.forkserver._forkserver
    current = list(getattr(server, "_preload_modules", None) or ["__main__"])
    multiprocessing.set_forkserver_preload(current + [m for m in modules if m not in current])
