"""Whole-process measurements: wall time, CPU time and peak RSS of a child, interleaved runs.

    cases = [Case("coordssh", [...]), Case("floor", [...])]
    result = interleave(cases, warmup=1, runs=5)     # A B A B ... after one warm-up of each
    result.summary()["coordssh"]["wall"]["median"]

Wall time is perf_counter around spawn..reap; CPU time (user + system) and peak RSS come from
the child's own rusage (os.wait4), which includes the descendants it waited for (ansible's
forks, ssh). Only ratios of cases measured in the same interleaved run are reported: the
machine is noisy, a number from another run is not comparable.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Sample:
    wall: float          # seconds
    cpu: float           # seconds, user + system of the child and its reaped descendants
    rss_mb: float        # peak resident set of the command (GNU time's %M: its largest process)
    rc: int


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    check: Callable[[bytes], str | None] | None = None   # stdout -> error text, or None if fine
    timeout: float = 120.0


class CaseFailed(RuntimeError):
    pass


# Peak RSS comes from GNU time, which forks the command from its own small process. Linux keeps
# a process's peak RSS across exec, so a child forked straight from this (larger) Python process
# would report at least our own RSS.
GNU_TIME = "/usr/bin/time"


def run_once(case: Case) -> tuple[Sample, bytes, bytes]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        argv = case.argv
        if os.access(GNU_TIME, os.X_OK):
            argv = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv]
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=case.env, cwd=case.cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        # block in wait4 (a polling parent would steal CPU from the child on a 2-core machine)
        timer = threading.Timer(case.timeout, proc.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        reported = rss.read().split()
    peak_kb = int(reported[-1]) if reported and reported[-1].isdigit() else ru.ru_maxrss
    sample = Sample(wall, ru.ru_utime + ru.ru_stime, peak_kb / 1024, proc.returncode)
    return sample, stdout, stderr


def run_checked(case: Case) -> Sample:
    sample, stdout, stderr = run_once(case)
    problem = None
    if sample.rc != 0:
        problem = f"exit {sample.rc}"
    elif case.check is not None:
        problem = case.check(stdout)
    if problem:
        raise CaseFailed(f"{case.name}: {problem}\n  argv: {' '.join(case.argv)}\n"
                         f"  stdout: {stdout[-600:]!r}\n  stderr: {stderr[-1200:]!r}")
    return sample


@dataclass
class Result:
    cases: list[str]
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, dict]:
        out = {}
        for name in self.cases:
            got = self.samples.get(name, [])
            if not got:
                out[name] = {"error": self.errors.get(name, "no samples")}
                continue
            out[name] = {
                "n": len(got),
                "wall": stats([s.wall for s in got]),
                "cpu": stats([s.cpu for s in got]),
                "rss_mb": stats([s.rss_mb for s in got]),
            }
            if name in self.errors:
                out[name]["error"] = self.errors[name]
        return out

    def ratio(self, a: str, b: str, metric: str = "wall") -> dict | None:
        """median(a) / median(b), and the spread of the per-round ratios a_i / b_i."""
        sa, sb = self.samples.get(a), self.samples.get(b)
        if not sa or not sb:
            return None
        va = [getattr(s, metric) for s in sa]
        vb = [getattr(s, metric) for s in sb]
        per_round = [x / y for x, y in zip(va, vb) if y > 0]
        out = {"of_medians": statistics.median(va) / statistics.median(vb),
               "per_round": stats(per_round) if per_round else None}
        if metric == "wall":
            cpu = self.ratio(a, b, "cpu")
            out["cpu_of_medians"] = cpu["of_medians"] if cpu else None
        return out


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def interleave(cases: list[Case], *, warmup: int = 1, runs: int = 5,
               log: Callable[[str], None] = print) -> Result:
    """Warm up each case, then `runs` rounds of A B C ..., alternating the order each round.

    A case that fails is dropped from the rounds that follow (its error is kept); the others go on.
    """
    result = Result([c.name for c in cases])
    alive = list(cases)
    for _ in range(warmup):
        for case in list(alive):
            try:
                run_checked(case)
            except CaseFailed as exc:
                result.errors[case.name] = str(exc)
                alive.remove(case)
                log(f"    ! {exc}")
    for r in range(runs):
        order = alive if r % 2 == 0 else list(reversed(alive))
        for case in list(order):
            if case not in alive:
                continue
            try:
                sample = run_checked(case)
            except CaseFailed as exc:
                result.errors[case.name] = str(exc)
                alive.remove(case)
                log(f"    ! {exc}")
                continue
            result.samples.setdefault(case.name, []).append(sample)
        log(f"    round {r + 1}/{runs}: " + ", ".join(
            f"{c.name} {result.samples[c.name][-1].wall * 1000:.0f} ms"
            for c in alive if result.samples.get(c.name)))
    return result
