"""Interleaved rounds and paired intervals on synthetic workloads of known cost ratio.

The two workloads are the same pure-Python loop, run once and twice: the true ratio of their
times is 2 by construction, up to the clock reads and loop dispatch around the work (well under
1 % at 10 ms; TOLERANCE allows 3 %). A bounded competing load (busy loops in sessions of their
own, a few seconds) starts in the middle of the measurement. Interleaved rounds put both
workloads under the same load, so the paired ratio's interval still reaches the true ratio; timed
one after the other (the load starting when the second begins), the ratio's interval misses it
by far. The workloads and the load share one CPU (affinity), so the load slows the workloads
several times over however busy the other CPUs are. Nothing here asserts a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from benchmark.interleave import (
    SessionError,
    plan_groups,
    run_rounds,
    run_trials,
    split_rounds,
)
from benchmark.stats import RatioTarget, format_ratio, paired_ratio, verdict

TRUE_RATIO = 2.0
TOLERANCE = 0.03
ROUNDS = 60
PER_ROUND = 2
LOAD_SECONDS = 15.0
SEQUENTIAL_LOAD_SECONDS = 120.0
"""Longer than the loaded sequential phase can take, however slow the machine: stopped after it."""
LOOPS = 6
"""Busy loops on the workloads' CPU: they leave the workloads a seventh of it at most."""
CPU = 0


def _spin(n: int) -> None:
    for _ in range(n):
        pass


def _loop_for_ms(ms: float) -> int:
    """Iterations of _spin that take about `ms` here when undisturbed (the fastest of several
    tries: a busy machine only makes tries slower); the exact figure does not matter."""
    n = 20_000
    fastest = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        _spin(n)
        fastest = min(fastest, time.perf_counter() - start)
    return max(20_000, int(n * ms / 1e3 / fastest))


class Workload:
    """A synthetic target: `repeats` times the same loop per inference."""

    def __init__(self, label: str, n: int, repeats: int) -> None:
        self.label, self.n, self.repeats = label, n, repeats

    def time(self, count: int) -> list[float]:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            for _ in range(self.repeats):
                _spin(self.n)
            times.append(time.perf_counter() - start)
        return times


def _busy_loops(seconds: float) -> list[subprocess.Popen]:
    """LOOPS busy loops on CPU, each in a session of its own, ending by themselves; returned
    once every loop is spinning (Python's start-up is not load yet)."""
    loop = (f"import os, time\nos.sched_setaffinity(0, {{{CPU}}})\n"
            f"end = time.time() + {seconds}\nwhile time.time() < end: pass")
    loops = [subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)
             for _ in range(LOOPS)]
    started = [psutil.Process(proc.pid) for proc in loops]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if all(p.cpu_times().user > 0.3 for p in started):
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return loops


def _stop(loops: list[subprocess.Popen]) -> None:
    for proc in loops:
        proc.kill()
        proc.wait()


@pytest.fixture()
def on_one_cpu():
    """This process on CPU, as the busy loops will be, for the test's duration."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {CPU})
    yield
    os.sched_setaffinity(0, before)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_interleaved_interval_holds_the_true_ratio_under_a_load_that_breaks_sequential(
    on_one_cpu,
):
    n = _loop_for_ms(10.0)
    once, twice = Workload("once", n, 1), Workload("twice", n, 2)
    loops: list[subprocess.Popen] = []

    def load_midway(done: int, times: dict) -> None:
        if done == ROUNDS // 3 and not loops:
            loops.extend(_busy_loops(LOAD_SECONDS))

    try:
        times = run_rounds([once, twice], ROUNDS, PER_ROUND, np.random.default_rng(0),
                           after_round=load_midway)
    finally:
        _stop(loops)
    assert loops, "the load never started"
    assert len(times["once"]) == len(times["twice"]) == ROUNDS
    interleaved = paired_ratio(times["twice"], times["once"])

    rounds = 30  # a few seconds under the load even on a slow machine
    sequential_once = [np.median(once.time(PER_ROUND)) for _ in range(rounds)]
    # the load starts when the second workload does and lasts until it ends (stopped below)
    loops = _busy_loops(SEQUENTIAL_LOAD_SECONDS)
    try:
        sequential_twice = [np.median(twice.time(PER_ROUND)) for _ in range(rounds)]
    finally:
        _stop(loops)
    sequential = paired_ratio(sequential_twice, sequential_once)

    shown = f"interleaved {format_ratio(interleaved)}, sequential {format_ratio(sequential)}"
    low, high = TRUE_RATIO * (1 - TOLERANCE), TRUE_RATIO * (1 + TOLERANCE)
    assert interleaved["low"] <= high and interleaved["high"] >= low, shown
    assert sequential["low"] > high, shown


class Scripted:
    """A target whose n-th inference takes script[n % len(script)] seconds (no clock read)."""

    def __init__(self, label: str, script: list[float]) -> None:
        self.label, self.script, self.calls = label, script, 0

    def time(self, n: int) -> list[float]:
        taken = [self.script[(self.calls + i) % len(self.script)] for i in range(n)]
        self.calls += n
        return taken


class Trials:
    """Fresh Scripted sessions each trial, and what was asked of them."""

    def __init__(self, scripts: dict[str, list[float]], unloadable: dict[int, str] | None = None):
        self.scripts, self.unloadable = scripts, unloadable or {}
        self.started: list[list[str]] = []
        self.ended: list[tuple[list[str], bool]] = []

    def start(self, number: int, labels: list[str]) -> list[Scripted]:
        self.started.append(labels)
        return [Scripted(label, self.scripts[label]) for label in labels
                if self.unloadable.get(number) != label]

    def end(self, sessions: list[Scripted], last: bool) -> None:
        self.ended.append(([s.label for s in sessions], last))


def _run(trials: Trials, rounds: int, count: int, **extra):
    return run_trials(trials.start, trials.end, list(trials.scripts), rounds, count, 1,
                      np.random.default_rng(1), **extra)


def test_the_rounds_are_split_into_trials_of_fresh_sessions():
    trials = Trials({"fast": [0.010], "slow": [0.020]})
    times, rounds = _run(trials, 7, 3)
    assert rounds == split_rounds(7, 3) == [3, 2, 2]
    assert len(times["fast"]) == len(times["slow"]) == 7
    assert trials.started == [["fast", "slow"]] * 3
    assert trials.ended == [(["fast", "slow"], False)] * 2 + [(["fast", "slow"], True)]
    assert split_rounds(2, 3) == [1, 1, 1]  # every trial times each target at least once


def test_trials_go_on_while_a_verdict_is_open():
    """Ratios alternate 1.5 and 2.5 round by round: a target of 2 stays undecided, so trials go
    on until the budget has passed; a target of 1.2 is met after the trials asked for."""
    open_target = RatioTarget("at the median", "slow", "fast", 2.0)
    clear_target = RatioTarget("far below it", "slow", "fast", 1.2)
    scripts = {"fast": [0.010], "slow": [0.015, 0.025]}

    def undecided(target):
        return lambda times: target.judge(times)[1] == "undecided"

    clock = iter(range(100))  # one second a reading: a budget of 5 s allows 4 more trials
    trials = Trials(scripts)
    times, rounds = _run(trials, 6, 3, undecided=undecided(open_target), budget_s=5,
                         clock=lambda: next(clock))
    assert rounds == [2] * 7 and len(times["fast"]) == 14
    assert [last for _, last in trials.ended] == [False] * 6 + [True]
    trials = Trials(scripts)
    times, rounds = _run(trials, 8, 2, undecided=undecided(clear_target), budget_s=1e9)
    assert rounds == [4, 4] and clear_target.judge(times)[1] == "met"
    times, rounds = _run(Trials(scripts), 6, 3, undecided=undecided(open_target))  # no budget
    assert rounds == [2, 2, 2]


def test_a_target_that_does_not_load_in_a_later_trial_loses_all_its_times():
    trials = Trials({"fast": [0.010], "slow": [0.020], "flaky": [0.030]}, unloadable={2: "flaky"})
    times, rounds = _run(trials, 6, 3)
    assert sorted(times) == ["fast", "slow"] and len(times["fast"]) == 6
    assert trials.started[2] == ["fast", "slow"]  # not tried again after it left


def test_each_round_is_a_fresh_random_order():
    calls: list[str] = []

    class Recorder:
        def __init__(self, label):
            self.label = label

        def time(self, n):
            calls.append(self.label)
            return [0.001] * n

    labels = [str(i) for i in range(4)]
    run_rounds([Recorder(label) for label in labels], 30, 1, np.random.default_rng(2))
    orders = [tuple(calls[i : i + 4]) for i in range(0, len(calls), 4)]
    assert all(sorted(order) == labels for order in orders)
    assert len(set(orders)) > 5  # 24 orders exist; 30 rounds in one fixed order would give 1


def test_a_failing_session_leaves_the_rounds_and_the_others_stay_paired():
    class Failing:
        label = "failing"

        def __init__(self):
            self.calls = 0

        def time(self, n):
            self.calls += 1
            if self.calls == 3:
                raise SessionError("the measuring process ended")
            return [0.002] * n

    class Fine:
        label = "fine"

        def time(self, n):
            return [0.001] * n

    failed = []
    times = run_rounds([Failing(), Fine()], 5, 2, np.random.default_rng(3),
                       failed=lambda session, err: failed.append(session.label))
    assert failed == ["failing"] and list(times) == ["fine"] and len(times["fine"]) == 5


def test_paired_ratio_interval_is_the_order_statistics_interval_of_the_median():
    """By hand: for 10 rounds the 95 % interval of the median is (x(2), x(9)), the 2nd and 9th
    smallest ratios: P(Binomial(10, 1/2) in 2..8) = 1 - 2 * (1 + 10 + 45) / 1024 = 0.8906 is too
    little, P(in 1..8) = 1 - 2 * (1 + 10) / 1024 = 0.9785 is enough."""
    faster = np.ones(10)
    slower = np.array([1.3, 1.9, 2.2, 1.1, 2.5, 1.7, 2.0, 3.0, 1.5, 2.4])
    ratio = paired_ratio(slower, faster)
    ordered = np.sort(slower)
    assert ratio["ratio"] == pytest.approx(np.median(slower))
    assert (ratio["low"], ratio["high"]) == (ordered[1], ordered[8])
    assert paired_ratio(slower[:5], faster[:5])["low"] is None  # 5 rounds cannot reach 95 %


@pytest.mark.parametrize(("low", "high", "at_most", "expected"), [
    (3.1, 3.5, False, "met"), (2.5, 2.9, False, "missed"), (2.9, 3.2, False, "undecided"),
    (0.20, 0.25, True, "met"), (0.28, 0.30, True, "missed"), (0.25, 0.28, True, "undecided"),
])
def test_verdicts_from_the_interval(low, high, at_most, expected):
    target = 0.27 if at_most else 3.0
    assert verdict({"low": low, "high": high}, target, at_most) == expected


def test_groups_share_the_reference_target():
    assert plan_groups([5, 5, 5], 20) == [[0, 1, 2]]
    assert plan_groups([4, 6, 6, 6, 6], 16) == [[0, 1, 2], [0, 3, 4]]
    assert plan_groups([4, 20, 6], 16) == [[0, 1], [0, 2]]  # too big even alone: tried with 0


def test_groups_keep_the_two_sides_of_each_judged_ratio_together():
    # Targets 1-4 of 6 units each beside a reference of 4, 16 units free: two groups. Without
    # pairs, 1 and 3 land apart; a ratio between them could not be paired round for round.
    assert plan_groups([4, 6, 6, 6, 6], 16) == [[0, 1, 2], [0, 3, 4]]
    assert plan_groups([4, 6, 6, 6, 6], 16, pairs=[(1, 3), (2, 4)]) == [[0, 1, 3], [0, 2, 4]]
    # A side needed by pairs in two groups is loaded in both; every pair shares one group.
    pairs = [(1, 2), (2, 3), (3, 4)]
    groups = plan_groups([4, 5, 5, 5, 5], 15, pairs=pairs)
    assert all(any(a in g and b in g for g in groups) for a, b in pairs)
    assert all(g[0] == 0 and sum([4, 5, 5, 5, 5][i] for i in g) <= 15 for g in groups)
    assert sorted({i for g in groups for i in g}) == [0, 1, 2, 3, 4]


def _interleaved_row(label: str, fmt: str, precision: str, per_round: list[float]) -> dict:
    from test_benchmark_results import make_row

    check = {"start": {"gflops": 50.0}, "end": {"gflops": 20.0}, "margin": 0.15,
             "disturbed": True, "reason": "matmul_gflops -60.0 %"}
    return make_row(label, format=fmt, precision=precision, run_id="run1",
                    role="baseline" if fmt == "pytorch" else "bundle",
                    model={"checkpoint_sha256": "a" * 64}, machine_check=check,
                    per_round_ms=per_round,
                    interleave={"group": 1, "groups": 1, "rounds": len(per_round),
                                "inferences_per_round": 1})


def test_the_report_takes_speedups_of_interleaved_rows_round_by_round(tmp_path):
    """The probes moved (a diagnostic), yet the rows were timed in the same rounds: the
    speed-up is the median of the per-round ratios (here 3, 2, 4, 3, 3: median 3), not the ratio
    of p50s, and the report says the probes do not veto it."""
    from benchmark.report import markdown_table, speedup, write_report
    from benchmark.results import validate_row

    eager = _interleaved_row("pytorch-fp32", "pytorch", "fp32", [30.0, 20.0, 80.0, 36.0, 60.0])
    int8 = _interleaved_row("onnx-int8", "onnx", "int8", [10.0, 10.0, 20.0, 12.0, 20.0])
    for row in (eager, int8):
        validate_row(row)
    assert speedup(int8, [eager, int8]) == pytest.approx(3.0)
    assert "3.00" in markdown_table([eager, int8])
    text = write_report([eager, int8], tmp_path / "report").read_text("utf-8")
    assert "interleaved: a diagnostic" in text and "DISTURBED" not in text
