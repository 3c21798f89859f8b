"""How DataLoader workers should start under DDP: how often a fork deadlocks, and what the
alternatives cost (cfl_lightning/data/worker_start.py).

    python benchmarks/worker_start.py deadlock --forks 3000        # this Python, each method
    python benchmarks/worker_start.py cost --workers 2 --repeats 7  # seconds per loader start

``deadlock`` reproduces CPython gh-112275 without torch (it runs on any CPython 3.10+, Linux):
threads that are not Python's enter Python again and again (a ``ctypes`` callback run by threads
made with ``pthread_create``), each creating its interpreter thread state, as the process group's
threads do under DDP when they release a finished collective's tensors. Meanwhile the main thread
starts ``--forks`` children, one at a time, that do nothing; a child still alive after
``--timeout`` seconds is counted as hung (and killed).

``cost`` times a full pass over the train loader of a tiny DataModule (8 items, 2 per batch),
which starts its workers, for each start method, ``--repeats`` times in one process: the first
pass of ``forkserver`` includes starting the server (which imports torch and this package), the
later ones are what each epoch costs. Medians and ranges of the later passes.
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

METHODS = ("fork", "forkserver", "spawn")


def _do_nothing() -> None:
    pass


class ThreadStateChurn:
    """``threads`` Python threads, each starting and joining native threads in a loop; every
    native thread runs a ``ctypes`` callback, so it creates (and deletes) an interpreter thread
    state without holding the GIL first, then calls ``on_enter()`` (default: nothing)."""

    def __init__(self, threads: int, on_enter: Callable[[], None] = _do_nothing) -> None:
        self._libc = ctypes.CDLL(None)
        self._callback = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(lambda _: on_enter())
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self) -> None:
        native = ctypes.c_ulong()
        while not self._stop.is_set():
            self._libc.pthread_create(ctypes.byref(native), None, self._callback, None)
            self._libc.pthread_join(native, None)  # ctypes releases the GIL while waiting

    def __enter__(self) -> ThreadStateChurn:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def count_hung(
    method: str,
    forks: int,
    churn_threads: int,
    timeout: float,
    target: Callable[[], None] = _do_nothing,
) -> int:
    """How many of ``forks`` children started by ``method`` (one at a time, while
    ``churn_threads`` threads churn thread states) are still alive ``timeout`` s after starting."""
    context = multiprocessing.get_context(method)
    hung = 0
    with ThreadStateChurn(churn_threads):
        for _ in range(forks):
            child = context.Process(target=target)
            child.start()
            child.join(timeout)
            if child.is_alive():
                hung += 1
                child.kill()
                child.join()
    return hung


def loader_start_seconds(method: str, workers: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` passes over a tiny DataModule's train loader."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.modules.tiny import AugmentedPairsDataModule

    seconds = []
    for _ in range(repeats):
        data = AugmentedPairsDataModule(
            size=8, batch_size=2, num_workers=workers, multiprocessing_context=method
        )
        start = time.perf_counter()
        for _ in data.train_dataloader():
            pass
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    deadlock = sub.add_parser("deadlock")
    deadlock.add_argument("--forks", type=int, default=3000)
    deadlock.add_argument("--threads", type=int, default=3, help="churning threads")
    deadlock.add_argument("--timeout", type=float, default=5.0)
    deadlock.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    cost = sub.add_parser("cost")
    cost.add_argument("--workers", type=int, default=2)
    cost.add_argument("--repeats", type=int, default=7)
    cost.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args(argv)

    python = ".".join(map(str, sys.version_info[:3]))
    if args.command == "deadlock":
        print(f"Python {python}: children hung of {args.forks}, {args.threads} churning threads")
        for method in args.methods:
            start = time.perf_counter()
            hung = count_hung(method, args.forks, args.threads, args.timeout)
            took = time.perf_counter() - start
            print(f"  {method:<10} {hung:>5} hung  ({took:.0f} s)")
        return
    print(f"Python {python}: seconds per pass over the train loader, {args.workers} workers")
    print("  method      first  later: median [min, max]")
    for method in args.methods:
        seconds = loader_start_seconds(method, args.workers, args.repeats)
        later = seconds[1:]
        print(
            f"  {method:<10} {seconds[0]:6.2f}  {statistics.median(later):6.3f} "
            f"[{min(later):.3f}, {max(later):.3f}]"
        )


if __name__ == "__main__":
    main()
