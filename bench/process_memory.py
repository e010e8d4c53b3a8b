"""Resident memory of a process by pid, from /proc/<pid>/statm: RUSAGE_CHILDREN reports the
parent's peak for spawned children (STACK.md), so the benchmarks sample children themselves."""

import os


def resident_bytes(pid: int) -> int:
    """Bytes resident (0 when the process has just ended)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def own_status_mb(field: str) -> float:
    """This process's `field` of /proc/self/status in MB: VmRSS now, VmHWM its peak so far."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)
