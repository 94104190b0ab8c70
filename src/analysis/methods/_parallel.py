"""Independent pieces of an analysis run side by side on the machine's cores.

The summary is a dozen model fits of the same outcomes, most of them independent of each other. On
two cores they finish sooner run two at a time: most of their work is numpy's and Arrow's, which
let the other thread run. Each piece also keeps its BLAS to one thread meanwhile: two pieces each
asking BLAS for two threads on two cores slow each other down (measured: the model of all visits
8.7 s alone, 11.5 s beside the adjusted models with BLAS's own threads, 8.7 s with one each).
"""

from __future__ import annotations

import contextvars
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Task", "available_cores", "run_tasks"]


@dataclass(frozen=True)
class Task:
    """One piece of work: *run* is called with the results of the tasks named in *after*, as a dict.

    Examples
    --------
    >>> Task("b", lambda done: done["a"] + 1, after=("a",)).after
    ('a',)
    """

    name: str
    run: Callable[[dict], Any]
    after: tuple[str, ...] = field(default=())


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _after(task: Task, deps: list[Future]) -> Any:
    return task.run({name: f.result() for name, f in zip(task.after, deps)})


def run_tasks(tasks: list[Task], *, workers: int | None = None) -> dict[str, Any]:
    """Run *tasks* on up to *workers* threads, each once its ``after`` tasks have finished.

    Tasks start in list order (put the longest chains first), and a task's ``after`` must name tasks
    earlier in the list, so that a task waiting for others never waits for one that has not started.
    Every task runs in a copy of the caller's context (numpy's error settings included). With one
    worker, or one core, the tasks run one after the other in list order on the calling thread.

    Parameters
    ----------
    tasks : list of Task
    workers : int, optional, keyword-only
        Default :func:`available_cores` (at most 2: the pieces share memory bandwidth).

    Returns
    -------
    dict
        Task name -> its result.

    Raises
    ------
    ValueError
        When a task names an ``after`` task that is not earlier in the list, or two tasks share a name.
    Exception
        The first failing task's exception (in list order), once every started task has finished.

    Examples
    --------
    >>> done = run_tasks([Task("a", lambda d: 2), Task("b", lambda d: d["a"] * 3, after=("a",))])
    >>> done["b"]
    6
    """
    seen: set[str] = set()
    for t in tasks:
        missing = [a for a in t.after if a not in seen]
        if missing:
            raise ValueError(f"task {t.name!r} runs after {', '.join(missing)}, which must come earlier in the list")
        if t.name in seen:
            raise ValueError(f"two tasks are named {t.name!r}")
        seen.add(t.name)
    n = min(workers if workers is not None else min(available_cores(), 2), len(tasks))
    if n <= 1:
        done: dict[str, Any] = {}
        for t in tasks:
            done[t.name] = t.run({a: done[a] for a in t.after})
        return done
    from threadpoolctl import threadpool_limits

    futures: dict[str, Future] = {}
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=n, thread_name_prefix="physio-task") as pool:
        for t in tasks:
            futures[t.name] = pool.submit(contextvars.copy_context().run, _after, t, [futures[a] for a in t.after])
    return {name: f.result() for name, f in futures.items()}
