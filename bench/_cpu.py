"""CPU time of a bench step: this process and its children (the batch's forked workers), and the PostgreSQL
backends serving the bench database, sampled from /proc while the step runs (a backend's CPU is gone from
/proc once its connection closes, so the sampler keeps the last figure of each).

On a machine shared with other work the wall time of a step says little; its CPU seconds do not depend on
what else runs. The bench server must run on this machine (loopback) for the backends to be seen."""

import os
import resource
import threading
import time
from contextlib import contextmanager
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _backends(database: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend connected to `database`, by pid."""
    found = {}
    marker = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if not cmdline.startswith(b"postgres: ") or marker not in cmdline:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return found


class CpuMeter:
    def __init__(self, database: str, interval: float = 0.1):
        self.database = database
        self.interval = interval
        self.python = 0.0
        self.postgres = 0.0
        self.wall = 0.0

    @contextmanager
    def measure(self):
        before = _backends(self.database)
        last = dict(before)
        stop = threading.Event()

        spent = [0.0]

        def sample():
            while not stop.wait(self.interval):
                started = time.thread_time()
                last.update(_backends(self.database))
                spent[0] += time.thread_time() - started  # the sampler's own CPU, not the bench's

        sampler = threading.Thread(target=sample, daemon=True)
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        sampler.start()
        try:
            yield self
        finally:
            stop.set()
            sampler.join()
            last.update(_backends(self.database))
            self.wall = time.perf_counter() - started
            own_after = resource.getrusage(resource.RUSAGE_SELF)
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.python = (
                own_after.ru_utime
                - own.ru_utime
                + own_after.ru_stime
                - own.ru_stime
                + children_after.ru_utime
                - children.ru_utime
                + children_after.ru_stime
                - children.ru_stime
                - spent[0]
            )
            self.postgres = sum(cpu - before.get(pid, 0.0) for pid, cpu in last.items())

    @property
    def cpu(self) -> float:
        return self.python + self.postgres

    def line(self, count: int) -> str:
        per = 1000 / count
        return (
            f"CPU {self.cpu:6.2f} s (Python {self.python:5.2f} s, PostgreSQL {self.postgres:5.2f} s) = "
            f"{self.cpu * per * 1000:5.0f} ms per 1,000"
        )
