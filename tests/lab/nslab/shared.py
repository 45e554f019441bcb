"""Things some lab created outside its own directories, shared by all labs
on the machine (iproute2's /run/netns and /etc/netns, an iptables table,
kernel neighbour-table limits, cgroup2 mount flags): recorded when a lab
first makes or changes them, put back when the last lab goes away."""

import json
import os

from . import proc
from .network import iptables_is_nft, iptables_table_exists
from .state import CONTAINERD_RUN, ETC_NETNS, MARKERS, NETNS_DIR, RUN_ROOT, STATE_ROOT, other_labs, read_state
from .util import AbstractLock, log, out, read_file, rm_rf, run, write_file

# Directories outside the lab's own that a lab may create: iproute2's
# /run/netns and /etc/netns; the rest only if a daemon ever escaped its
# private /run, /var/lib and /opt (see processes.private_paths_lines).
# Parents first.
SHARED_DIRS = [NETNS_DIR, ETC_NETNS, CONTAINERD_RUN, CONTAINERD_RUN + "/s", "/run/docker",
               "/run/docker/plugins", "/opt/containerd", "/opt/containerd/bin",
               "/opt/containerd/lib", "/etc/docker"]


def markers_load():
    txt = read_file(MARKERS)
    return set(json.loads(txt)) if txt else set()


def note_created(*items):
    """Record items; a "key=value" item is kept only for the first value."""
    with AbstractLock("global"):
        m = markers_load()
        keys = {i.split("=", 1)[0] for i in m}
        new = {i for i in items if i.split("=", 1)[0] not in keys}
        if new:
            write_file(MARKERS, json.dumps(sorted(m | new)) + "\n")


def prepare_shared_paths():
    """Record which shared paths do not exist yet (so the last down can
    remove them again)."""
    items = ["dir:" + d for d in SHARED_DIRS if not os.path.isdir(d)]
    if not proc.is_mountpoint(NETNS_DIR):
        items.append("mount:" + NETNS_DIR)
    if not iptables_table_exists("filter"):
        items.append("iptables:filter")
    # cgroup2 root flags (e.g. nsdelegate) are system wide: a systemd in a
    # container that shares the host's cgroup namespace sets them when it
    # mounts cgroup2.  Host-kind nodes use a private cgroup namespace; this is
    # the safety net.
    for mp, fstype, opts in proc.mounts():
        if fstype == "cgroup2":
            items.append("cgroup2:%s=%s" % (mp, opts))
    if items:
        note_created(*items)


def total_lab_nodes(lab):
    n = len(lab.state["nodes"]) if lab.state else 0
    for other in other_labs(lab.name):
        st = read_state(other)
        if st:
            n += len(st.get("nodes", {}))
    return n


def ensure_neigh_capacity(lab):
    """The kernel's ARP/ND cache is one table for all network namespaces
    (gc_thresh3 = 1024 entries by default).  A swarm of N nodes is a full
    mesh (N*N entries plus containers); at ~40 nodes new entries fail with
    "neighbour: arp_cache: neighbor table overflow!" and nodes can no longer
    reach even their own containers.  Raise the limits for the lab; the last
    `down` puts the original values back."""
    n = total_lab_nodes(lab)
    need3 = 2 * (n + 4) ** 2 + 512
    raised = []
    for fam in ("ipv4", "ipv6"):
        cur3 = read_file("/proc/sys/net/%s/neigh/default/gc_thresh3" % fam)
        if cur3 is None or int(cur3) >= need3:
            continue
        for key, want in (("net/%s/neigh/default/gc_thresh3" % fam, need3),
                          ("net/%s/neigh/default/gc_thresh2" % fam, need3 * 3 // 4)):
            cur = int(read_file("/proc/sys/" + key, "0").strip() or 0)
            if cur < want:
                raised.append((key, cur, want))
    if not raised:
        return
    with AbstractLock("global"):
        m = markers_load()
        recorded = {i.split("=")[0] for i in m if i.startswith("sysctl:")}
        new = {"sysctl:%s=%d" % (k, cur) for k, cur, _unused in raised if "sysctl:" + k not in recorded}
        if new:
            write_file(MARKERS, json.dumps(sorted(m | new)) + "\n")
        for key, cur, want in raised:
            with open("/proc/sys/" + key, "w") as f:
                f.write(str(want))
    log("raised the kernel neighbour table limit to %d entries for %d lab nodes" % (need3, n))


def _restore_netns_dir(m):
    """/run/netns: iproute2 bind-mounts it onto itself on first use."""
    if not os.path.isdir(NETNS_DIR) or os.listdir(NETNS_DIR):
        return
    if "mount:" + NETNS_DIR in m:
        for _unused in range(5):
            if not proc.is_mountpoint(NETNS_DIR):
                break
            run(["umount", NETNS_DIR], check=False)
    if "dir:" + NETNS_DIR in m and not proc.is_mountpoint(NETNS_DIR):
        try:
            os.rmdir(NETNS_DIR)
        except OSError:
            pass


def cleanup_shared():
    """Remove shared leftovers when no lab is left."""
    with AbstractLock("global"):
        if other_labs(""):
            return
        m = markers_load()
        _restore_netns_dir(m)
        for d in reversed(SHARED_DIRS):
            if d != NETNS_DIR and "dir:" + d in m:
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        if "iptables:filter" in m and iptables_is_nft():
            save = out(["iptables-save", "-t", "filter"], check=False)
            rules = [line for line in save.splitlines() if line.startswith("-A ")]
            chains = [line for line in save.splitlines() if line.startswith(":")]
            if not rules and all(c.split()[1] == "ACCEPT" for c in chains) and len(chains) <= 3:
                run(["nft", "delete", "table", "ip", "filter"], check=False)
        current = {mp: opts for mp, fstype, opts in proc.mounts() if fstype == "cgroup2"}
        for item in m:
            if item.startswith("cgroup2:"):
                mp, opts = item[len("cgroup2:"):].split("=", 1)
                if mp in current and current[mp] != opts:
                    log("restoring the mount options of %s (%s -> %s)" % (mp, current[mp], opts))
                    run(["mount", "-t", "cgroup2", "-o", "remount," + opts, "none", mp], check=False)
            if item.startswith("sysctl:"):
                key, val = item[len("sysctl:"):].split("=", 1)
                try:
                    with open("/proc/sys/" + key, "w") as f:
                        f.write(val)
                except OSError:
                    pass
        rm_rf(MARKERS)
        for d in (STATE_ROOT, RUN_ROOT):
            try:
                os.rmdir(d)
            except OSError:
                pass
