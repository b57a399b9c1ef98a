"""Randomized interleaved rounds: the things compared are measured close together in time.

A shared machine's speed moves by tens of per cent within minutes (other tenants, clocks, a
phone's heat), so timing one target after another compares machine states as much as targets.
Here every target stays loaded in its own process, and each round times a few inferences of
every target, one target at a time in a fresh random order (randomized multiple interleaved
trials: Abedi and Brecht, ICPE 2017). A target's time in a round is the median of its inferences
there; a ratio between two targets is taken per round, from times seconds apart under the same
machine weather (benchmark.stats.paired_ratio).

A process can also hold a state of its own for its whole life (where its memory landed, how its
runtime's threads were placed): one measured process of a target ran twice as slow as another in
every round. Paired rounds cannot average that out, so the rounds are split into trials, each
with freshly started processes (run_trials); the rounds of all trials are pooled. While
`undecided` says some verdict is still open, further trials run until `budget_s` seconds have
passed (without a budget, no further).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class SessionError(RuntimeError):
    """A target that failed during the rounds; it leaves them, the others go on."""


class TimedSession(Protocol):
    """A loaded target that times `n` inferences on request (seconds each)."""

    label: str

    def time(self, n: int) -> list[float]: ...


def run_rounds(
    sessions: Sequence[TimedSession],
    rounds: int,
    per_round: int,
    rng: np.random.Generator,
    failed: Callable[[TimedSession, SessionError], None] = lambda session, err: None,
    after_round: Callable[[int, dict[str, list[float]]], None] = lambda done, times: None,
) -> dict[str, list[float]]:
    """Each live session's per-round times in ms (round order, one list length for all).

    A session that raises SessionError is reported to `failed` and leaves the rounds; its times
    are dropped, so the lists returned stay paired round for round. `after_round` hears the
    number of rounds done and the times so far.
    """
    live = list(sessions)
    times: dict[str, list[float]] = {s.label: [] for s in live}
    for done in range(1, rounds + 1):
        if not live:
            break
        for index in rng.permutation(len(live)):
            session = live[index]
            try:
                taken = session.time(per_round)
            except SessionError as err:
                failed(session, err)
                times.pop(session.label)
                continue
            times[session.label].append(float(np.median(taken)) * 1e3)
        live = [s for s in live if s.label in times]
        after_round(done, times)
    return times


def split_rounds(rounds: int, trials: int) -> list[int]:
    """`rounds` over `trials` as evenly as possible, the first trials taking the remainder (every
    trial at least one round)."""
    return [max(1, rounds // trials + (1 if i < rounds % trials else 0)) for i in range(trials)]


def run_trials(
    start: Callable[[int, list[str]], Sequence[TimedSession]],
    end: Callable[[Sequence[TimedSession], bool], None],
    labels: Sequence[str],
    rounds: int,
    trials: int,
    per_round: int,
    rng: np.random.Generator,
    undecided: Callable[[dict[str, list[float]]], bool] | None = None,
    budget_s: float | None = None,
    failed: Callable[[TimedSession, SessionError], None] = lambda session, err: None,
    after_round: Callable[[int, dict[str, list[float]]], None] = lambda done, times: None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[dict[str, list[float]], list[int]]:
    """Per-round times in ms of every label that lasted through all trials, pooled in round
    order, and the number of rounds of each trial.

    `start(number, labels)` loads a trial's sessions (fresh processes) for the labels still in;
    a label it cannot load leaves. `end(sessions, last)` ends them: the last trial's are
    finished, the others' stopped. A label that leaves (at a load or in the rounds) loses its
    times, so the lists stay paired. Trials beyond `trials` have as many rounds as the first.
    """
    plan = split_rounds(rounds, trials)
    times: dict[str, list[float]] = {label: [] for label in labels}
    done: list[int] = []
    began = clock()
    while times:
        sessions = list(start(len(done) + 1, list(times)))
        before = dict(times)

        def heard(n: int, trial_times: dict[str, list[float]], before=before) -> None:
            after_round(sum(done) + n,
                        {label: before[label] + ms for label, ms in trial_times.items()})

        count = plan[len(done)] if len(done) < len(plan) else plan[0]
        taken = run_rounds(sessions, count, per_round, rng, failed, heard)
        times = {label: before[label] + ms for label, ms in taken.items()}
        done.append(count if taken else 0)
        more = bool(times) and (len(done) < len(plan) or (
            undecided is not None and budget_s is not None and clock() - began < budget_s
            and undecided(times)))
        end([s for s in sessions if s.label in times], not more)
        if not more:
            break
    return times, done


def plan_groups(
    needs: Sequence[int],
    available: int,
    reference: int = 0,
    pairs: Sequence[tuple[int, int]] = (),
) -> list[list[int]]:
    """Indices of the targets loaded together, within `available` bytes of memory.

    One group when every target fits. Else greedy groups, each of which also holds the
    `reference` target, so that every ratio to it stays paired round for round; the two sides of
    each of `pairs` (the ratios a run judges, in the order given) are placed in one group, a side
    loaded again in a later group where a pair needs it there. The targets in no pair follow, in
    order. A target that does not fit beside the reference even alone gets a group with it all
    the same (the run tries it; the memory of the machine is the limit, not an estimate).
    """
    if sum(needs) <= available:
        return [list(range(len(needs)))]
    paired = {i for pair in pairs for i in pair}
    units = [tuple(dict.fromkeys(pair)) for pair in pairs]
    units += [(i,) for i in range(len(needs)) if i not in paired and i != reference]
    groups: list[list[int]] = []
    current: list[int] = [reference]
    used = needs[reference]
    for unit in units:
        missing = [i for i in unit if i not in current]
        if not missing:
            continue
        if used + sum(needs[i] for i in missing) > available and len(current) > 1:
            groups.append(current)
            current, used = [reference], needs[reference]
            missing = [i for i in unit if i not in current]
        current.extend(missing)
        used += sum(needs[i] for i in missing)
    groups.append(current)
    return groups
