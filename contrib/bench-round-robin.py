#!/usr/bin/env python3
"""Whole-process wall time of commands against a reference, run alternately.

    python3 contrib/bench-round-robin.py N REF='COMMAND ARGS' NAME='COMMAND ARGS' ...

For each NAME, the reference and that command run one after the other, N
times each (REF NAME REF NAME ...), and NAME's times are compared
with the reference's times of the same alternation. So the machine's
drift -- a VM whose neighbours make single minutes swing by 20% -- hits
both alike, where timing one command's batch after another's does not;
and each run follows the other program, as a check that runs once a
minute follows whatever ran before it. (Rotating through many commands at
once would not be fair to the reference: the binary that runs most often
keeps its caches warm.)

Each run is posix_spawnp + waitpid with stdout on /dev/null, timed with
CLOCK_MONOTONIC; 20 warm-up pairs are not counted. A run that exits with
more than 3 or by a signal stops the measurement (a command that fails
at once would otherwise look fast). Prints per command the
median, first quartile and 10%-trimmed mean in ms and each as a ratio to
the reference's in its alternation. The spawn from Python costs the same
for every command and is included.

Used in BENCHMARKS.md (session 6) against the C reader, with the segment
that `SERVE=1 bash contrib/bench-vs-c.sh` prints, or through
`ROUND_ROBIN=N bash contrib/bench-vs-c.sh`.
"""
import os
import shlex
import statistics
import sys
import time


def stats(times):
    v = sorted(times)
    cut = len(v) // 10
    return (statistics.median(v), v[len(v) // 4], statistics.mean(v[cut : len(v) - cut]))


def main():
    if len(sys.argv) < 4 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
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
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        took = time.clock_gettime_ns(time.CLOCK_MONOTONIC) - start
        code = os.waitstatus_to_exitcode(status)
        if not 0 <= code <= 3:
            sys.exit(f"{shlex.join(argv)}: exit {code}")
        return took

    (ref_name, ref), others = cmds[0], cmds[1:]
    print(f"{'':32s} median    q1 trimmed (ms)   / {ref_name}: median q1 trimmed")
    for name, argv in others:
        pair = [ref, argv]
        for _ in range(20):
            for a in pair:
                once(a)
        times = ([], [])
        for _ in range(n):
            for k in (0, 1):
                times[k].append(once(pair[k]))
        r, c = stats(times[0]), stats(times[1])
        ms = " ".join(f"{s / 1e6:7.3f}" for s in c)
        ratio = " ".join(f"{s / b:5.2f}" for s, b in zip(c, r))
        print(f"{name:30s} {ms}   {ratio}   ({ref_name} {r[0] / 1e6:.3f})")


if __name__ == "__main__":
    main()
