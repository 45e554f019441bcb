"""The processes a lab starts, and ending them.

A lab's daemons (each node's dockerd, the host kind's base dockerd) are
started in a session of their own, and their session leader -- pid and start
time -- is written to <run dir>/<node or base>/lab.pid.  Where this process
sits at the root of a cgroup hierarchy, the daemons are also put in the
lab's cgroups (nslab-<lab>/<node>/engine), and dockerd puts its containers
under nslab-<lab>/<node> (--cgroup-parent).

The processes of a lab are exactly those: the members of its cgroups and of
the sessions it started, and whatever these started in turn.  Never a process matched by its name or command
line -- a process the lab did not start (a `tail -f` of an engine's log, a
shell in a lab directory) is not the lab's to end."""

import glob
import hashlib
import os
import shlex
import signal
import subprocess
import time

from . import proc
from .state import CONTAINERD_RUN
from .util import daemon_env, die, read_file, write_file

LEADER_FILE = "lab.pid"


# --------------------------------------------------------------------------
# starting daemons

def lab_cgroup_join_lines(lab, sub):
    """Shell lines putting $$ into <hierarchy>/nslab-<lab>/<sub> (not cpuset:
    it needs cpus/mems set up before it takes tasks).  The lab only moves its
    daemons into its own cgroups where it sits at the root: it never takes
    them out of a cgroup someone else put them in."""
    lines = []
    for mp, fstype, opts in proc.cgroup_hierarchies():
        if "cpuset" in opts.split(",") or not proc.at_cgroup_root(fstype, opts):
            continue
        d = shlex.quote("%s/%s/%s" % (mp, lab.cgroup, sub))
        lines.append("mkdir -p %s && echo $$ >%s/cgroup.procs" % (d, d))
    return lines


def private_paths_lines(var, run_):
    """Shell lines (for a private mount namespace) that give the daemons
    their own empty /run, /var/lib and /opt, with only their own state and
    run directories bound back in.  dockerd and containerd write to some
    fixed paths whatever --data-root/--exec-root say (/run/docker/plugins,
    /var/lib/docker/network/files/lb_* for overlay load balancers,
    /run/containerd/s shim sockets, /opt/containerd); this keeps them off the
    host and away from any other engine on the machine."""
    q = shlex.quote
    hold = next((d for d in ("/mnt", "/media", "/srv") if os.path.isdir(d)), None)
    if hold is None:
        die("need one of /mnt, /media, /srv as a scratch mount point")
    return [
        "mount -t tmpfs -o mode=0700 nslab-hold %s" % hold,
        "mkdir %s/var %s/run" % (hold, hold),
        "mount --bind %s %s/var" % (q(var), hold),
        "mount --bind %s %s/run" % (q(run_), hold),
        "mount -t tmpfs -o mode=0755,nosuid,nodev nslab-run /run",
        "mkdir -m 1777 /run/lock",
        "mount -t tmpfs -o mode=0755 nslab-varlib /var/lib",
        "[ ! -d /opt ] || mount -t tmpfs -o mode=0755 nslab-opt /opt",
        "mkdir -p %s %s" % (q(var), q(run_)),
        "mount --bind %s/var %s" % (hold, q(var)),
        "mount --bind %s/run %s" % (hold, q(run_)),
        "umount -l %s" % hold,
    ]


def start_daemon(cmd, run_dir, logpath):
    """Start cmd (which ends in exec'ing the daemon) in a session of its own,
    output appended to logpath; record it as the leader of what the lab
    started for run_dir.  Does not wait.  Returns the Popen."""
    with open(logpath, "ab") as logf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, env=daemon_env())
    write_file(os.path.join(run_dir, LEADER_FILE), "%d %s\n" % (p.pid, proc.start_time(p.pid)))
    return p


def read_leader(path):
    """(pid, start time) from a leader file, None if there is none."""
    try:
        pid, started = (read_file(path, "") or "").split()
        return int(pid), float(started)
    except ValueError:
        return None


def running_leader(run_dir):
    """The pid of the daemon the lab started for run_dir, if it still runs."""
    leader = read_leader(os.path.join(run_dir, LEADER_FILE))
    if leader and proc.is_running(*leader):
        return leader
    return None


# --------------------------------------------------------------------------
# which processes are the lab's

def lab_cgroup_dirs(lab, sub=""):
    res = []
    for mp, _unused, _unused2 in proc.cgroup_hierarchies():
        p = os.path.join(mp, lab.cgroup, sub) if sub else os.path.join(mp, lab.cgroup)
        if os.path.isdir(p):
            res.append(p)
    return res


def _sessions(lab, sub):
    """{session id: start time of its leader} of the sessions the lab
    started (for one node or the base dockerd when sub is given)."""
    if sub:
        files = [os.path.join(lab.run_dir, sub, LEADER_FILE)]
    else:
        files = glob.glob(os.path.join(lab.run_dir, "*", LEADER_FILE))
    sessions = {}
    for path in files:
        leader = read_leader(path)
        if not leader:
            continue
        pid, started = leader
        # The kernel reuses no pid while a session still has it as its id:
        # another process running under the leader's pid means the session
        # is long gone.
        if proc.alive(pid) and proc.start_time(pid) != started:
            continue
        sessions[pid] = started
    return sessions


def lab_pids(lab, sub=""):
    """The processes the lab started (sub: those of one node, or "base"):
    the members of its cgroups and of the sessions it started, and -- to the
    end -- every process these started (children, and the members of a
    session one of them leads: containerd makes its own session, its shims
    are adopted by init).  Never this process or one above it."""
    table = {}
    for pid in proc.all_pids():
        fields = proc.stat_fields(pid)
        if fields and fields[0] != "Z":
            table[pid] = (int(fields[1]), int(fields[3]))
    mine = proc.ancestors()
    ours = set()
    for d in lab_cgroup_dirs(lab, sub):
        ours |= proc.cgroup_tree_pids(d)
    sessions = _sessions(lab, sub)
    for pid, (_ppid, sid) in table.items():
        if sid in sessions:
            started = proc.start_time(pid)
            if started is not None and started >= sessions[sid]:
                ours.add(pid)
    ours = {p for p in ours if p in table} - mine
    grown = True
    while grown:
        grown = False
        for pid, (ppid, sid) in table.items():
            if pid not in ours and pid not in mine and (ppid in ours or sid in ours):
                ours.add(pid)
                grown = True
    return ours


# --------------------------------------------------------------------------
# ending them

def shim_socket_files(pids):
    """containerd 1.6 shims listen on /run/containerd/s/sha256(address/ns/id);
    killed shims leave these behind, so compute them before killing."""
    files = []
    for pid in pids:
        if not proc.comm(pid).startswith("containerd-shim"):
            continue
        args = proc.cmdline(pid)
        opts = {}
        for i, a in enumerate(args[:-1]):
            if a.startswith("-"):
                opts[a.lstrip("-")] = args[i + 1]
        if {"namespace", "id", "address"} <= set(opts):
            h = hashlib.sha256(os.path.join(opts["address"], opts["namespace"], opts["id"]).encode())
            files.append(os.path.join(CONTAINERD_RUN, "s", h.hexdigest()))
    return files


def terminate(pids, timeout):
    """SIGTERM, wait up to timeout, then SIGKILL what is left."""
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(proc.alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if proc.alive(p)]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return left


def dockerd_pids(lab, subs=("",)):
    """The lab's dockerds (of the nodes named in subs, or all)."""
    return sorted({p for sub in subs for p in lab_pids(lab, sub) if proc.comm(p) == "dockerd"})


def kill_all(lab, sub="", rounds=60):
    """SIGKILL the lab's processes (of one node when sub is given) until
    none is left."""
    sockets = set()
    for _unused in range(rounds):
        pids = lab_pids(lab, sub)
        if not pids:
            break
        sockets.update(shim_socket_files(pids))
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    for f in sockets:
        try:
            os.unlink(f)
        except OSError:
            pass


def wait_gone(pids, timeout):
    """Wait until dead processes are reaped (zombies still show in ps)."""
    deadline = time.time() + timeout
    while time.time() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
        time.sleep(0.1)


def remove_cgroups(lab):
    for _unused in range(20):
        left = False
        for top in lab_cgroup_dirs(lab):
            for root, _dirs, _files in os.walk(top, topdown=False):
                try:
                    os.rmdir(root)
                except OSError:
                    left = True
        if not left:
            return
        time.sleep(0.2)


def read_pid(pidfile):
    try:
        return int(read_file(pidfile, "").strip())
    except ValueError:
        return None
