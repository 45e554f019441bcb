"""What /proc says about processes, mounts and cgroups.

Standard library only and free of side effects: the lab, its Python wrapper
(client), the test helpers and the benchmark all read processes through
these functions."""

import os

_BTIME = None


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def all_pids():
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


def stat_fields(pid):
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, session,
    ...] (None if the process is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def comm(pid):
    return _read("/proc/%d/comm" % pid).strip()


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def ns_ino(pid, ns="net"):
    try:
        return os.stat("/proc/%d/ns/%s" % (pid, ns)).st_ino
    except OSError:
        return None


def alive(pid):
    """Running (a zombie is not)."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def ppid(pid):
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def session(pid):
    """The session id (the pid of the session's leader when it was made)."""
    fields = stat_fields(pid)
    return int(fields[3]) if fields else None


def start_ticks(pid):
    """When the process started, in clock ticks after boot (None if gone).
    With the pid it names one process for good: pids are reused, a pid and
    its start are not."""
    fields = stat_fields(pid)
    try:
        return int(fields[19])
    except (TypeError, IndexError, ValueError):
        return None


def start_time(pid):
    """Process start time as a Unix timestamp, to 1/100 s (None if gone)."""
    global _BTIME  # pylint: disable=global-statement
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    if _BTIME is None:
        for line in _read("/proc/stat").splitlines():
            if line.startswith("btime "):
                _BTIME = int(line.split()[1])
    return round(_BTIME + ticks / os.sysconf("SC_CLK_TCK"), 2)


def is_running(pid, started):
    """Is the process that started at `started` still running as `pid`?"""
    return bool(pid) and started is not None and alive(pid) and start_time(pid) == started


def ancestors(pid=None):
    """This process and every process above it."""
    pids = set()
    pid = os.getpid() if pid is None else pid
    while pid and pid > 1:
        pids.add(pid)
        pid = ppid(pid)
    return pids


def children():
    """{ppid: [pid, ...]} of every process."""
    result = {}
    for pid in all_pids():
        parent = ppid(pid)
        if parent is not None:
            result.setdefault(parent, []).append(pid)
    return result


def descendants(pid):
    """pid and every process below it."""
    kids, todo, found = children(), [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(kids.get(current, []))
    return found


def mounts():
    """List of (mountpoint, fstype, options) for this mount namespace."""
    res = []
    for line in _read("/proc/self/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            res.append((parts[1].replace("\\040", " "), parts[2], parts[3]))
    return res


def is_mountpoint(path):
    return any(mp == path for mp, _unused, _unused2 in mounts())


def cgroup_hierarchies():
    """(mountpoint, fstype, options) of the cgroup hierarchies of this host."""
    res = []
    drop = {"rw", "ro", "relatime", "noatime", "strictatime", "nosuid", "nodev", "noexec"}
    for mp, fstype, opts in mounts():
        if fstype in ("cgroup", "cgroup2") and mp.startswith("/sys/fs/cgroup/"):
            res.append((mp, fstype, ",".join(o for o in opts.split(",") if o not in drop)))
    return res


def at_cgroup_root(fstype, opts):
    """Does this process sit in the root cgroup of that hierarchy?"""
    items = set(opts.split(","))
    for line in _read("/proc/self/cgroup").splitlines():
        _unused, ctrls, path = line.split(":", 2)
        if fstype == "cgroup2" and ctrls == "":
            return path == "/"
        if fstype == "cgroup" and ctrls and set(ctrls.split(",")) <= items:
            return path == "/"
    return True


def cgroup_tree_pids(path):
    """Every process in a cgroup directory and the cgroups below it."""
    pids = set()
    for root, _dirs, _files in os.walk(path):
        for line in _read(os.path.join(root, "cgroup.procs")).split():
            pids.add(int(line))
    return pids
