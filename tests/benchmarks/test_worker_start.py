"""The worker-start benchmark: its hang detector and its timing table."""

import threading
import time

import pytest

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def script():
    yield from benchmark_modules("worker_start")


def sleep_long() -> None:
    time.sleep(30)


def test_a_child_alive_after_the_timeout_counts_as_hung_and_is_killed(script):
    start = time.perf_counter()
    assert script.count_hung("fork", forks=2, churn_threads=1, timeout=0.3, target=sleep_long) == 2
    assert time.perf_counter() - start < 20  # killed, not waited for
    assert script.count_hung("fork", forks=5, churn_threads=1, timeout=10) == 0


def test_the_churning_threads_enter_python_from_native_threads(script):
    # what makes a fork deadlock on gh-112275: threads Python did not start entering it
    entered = set()
    with script.ThreadStateChurn(2, on_enter=lambda: entered.add(threading.get_native_id())):
        time.sleep(0.2)
    assert len(entered) > 2  # many short-lived threads
    assert not entered & {thread.native_id for thread in threading.enumerate()}


def test_cost_prints_first_and_later_passes_per_method(script, capsys):
    script.main(["cost", "--workers", "1", "--repeats", "2", "--methods", "fork"])
    out = capsys.readouterr().out
    assert "1 workers" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("fork"))
    first, later = float(row.split()[1]), float(row.split()[2])
    assert first > 0 and later > 0
