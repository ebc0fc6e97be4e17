#!/usr/bin/env python3
"""Whole-process wall time of commands run round-robin, one run each in turn.

    python3 contrib/bench-round-robin.py N NAME='COMMAND ARGS' ...

Every iteration runs each command once (the order rotating by one each
time), so the machine's drift -- a VM whose neighbours make single minutes
swing by 20% -- hits all of them alike, where timing one command's batch
after another's does not. Each run is posix_spawn + waitpid with stdout on
/dev/null, timed with CLOCK_MONOTONIC; 20 warm-up rounds are not counted.
Prints per command the median, first quartile and 10%-trimmed mean in ms
and each as a ratio to the first command's (give the reference first).
The spawn from Python costs the same for every command and is included.

Used in BENCHMARKS.md (session 6) against the C reader, with the segment
that `SERVE=1 bash contrib/bench-vs-c.sh` prints.
"""
import os
import shlex
import statistics
import sys
import time


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    n = int(sys.argv[1])
    cmds = []
    for spec in sys.argv[2:]:
        name, _, command = spec.partition("=")
        cmds.append((name, shlex.split(command)))
    devnull = os.open("/dev/null", os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    env = dict(os.environ)

    def once(argv):
        start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        os.waitpid(pid, 0)
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) - start

    for _ in range(20):
        for _, argv in cmds:
            once(argv)
    times = {name: [] for name, _ in cmds}
    for i in range(n):
        k = i % len(cmds)
        for name, argv in cmds[k:] + cmds[:k]:
            times[name].append(once(argv))
    ref = None
    for name, _ in cmds:
        v = sorted(times[name])
        cut = len(v) // 10
        stats = (statistics.median(v), v[len(v) // 4], statistics.mean(v[cut : len(v) - cut]))
        ref = ref or stats
        ms = "  ".join(f"{s / 1e6:.3f}" for s in stats)
        ratio = "  ".join(f"{s / r:.2f}" for s, r in zip(stats, ref))
        print(f"{name:30s} ms (median q1 trimmed) {ms}   ratio {ratio}")


if __name__ == "__main__":
    main()
