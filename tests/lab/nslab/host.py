"""Host kind: a base dockerd owned by the lab runs one container per node
from the node image (Debian bookworm with systemd and its own dockerd)."""

import hashlib
import http.client
import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from . import proc
from .engine_api import api, api_json, image_present, import_image, ping
from .network import ensure_forward_rule, link_exists
from .processes import kill_all, lab_cgroup_join_lines, private_paths_lines, start_daemon
from .state import CACHE_DIR
from .util import AbstractLock, LabError, die, log, log_tail, out, read_file, rm_rf, run, write_file

HOST_START_TIMEOUT = 120
NODE_IMAGE_REPO = "nslab/node"
NODE_IMAGE_LATEST = NODE_IMAGE_REPO + ":latest"

# Every capability Docker 20.10 knows (up to CAP_AUDIT_READ; it rejects
# PERFMON, BPF and CHECKPOINT_RESTORE as unknown) except CAP_SYS_RESOURCE,
# which is missing from the bounding set of the VMs this lab was written on
# and makes --privileged fail.  Used for host-kind node containers and
# documented for molecule.
# Every capability by its kernel number.
ALL_CAPABILITIES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
    "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
    "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
CAP_NUMBERS = {n: i for i, n in enumerate(ALL_CAPABILITIES)}
NODE_CAPABILITIES = [c for c in ALL_CAPABILITIES
                     if c not in ("SYS_RESOURCE", "PERFMON", "BPF", "CHECKPOINT_RESTORE")]

# --------------------------------------------------------------------------
# the node image recipe.  Everything that goes into the image is in this
# block; its hash keys the cached rootfs tarball.

NODE_SUITE = "bookworm"
NODE_VARIANT = "minbase"
NODE_PACKAGES = [
    "docker.io", "python3", "systemd", "systemd-sysv", "iproute2",
    "iptables", "procps", "ca-certificates",
    # what Ansible's docker modules want on the target
    "python3-docker", "python3-requests",
    # sshd (enabled at install), for the ssh:// transport of the Engine API
    "openssh-server",
]
NODE_ENTRYPOINT = r"""#!/bin/sh
# nslab node entrypoint: runs as PID 1 for a moment, then execs systemd.
# Docker mounts /sys, the cgroup hierarchies and /proc/sys read-only in
# containers that are not --privileged; systemd and the node's own dockerd
# need them writable.
remount_rw() {
    mount -o remount,rw "$1" 2>/dev/null ||
        mount -o remount,bind,rw "$1" 2>/dev/null ||
        echo "nslab-entrypoint: cannot remount $1 read-write" >&2
}
while read -r _dev mp fstype opts _rest; do
    case ",$opts," in *,ro,*) ;; *) continue ;; esac
    case "$mp" in
        /sys|/sys/fs/cgroup|/sys/fs/cgroup/*|/proc/sys) remount_rw "$mp" ;;
    esac
done </proc/mounts
# systemd wants tmpfs on /run, /run/lock and /tmp; mount them if the
# container was created without them.
mountpoint -q /run || mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
mountpoint -q /run/lock || mount -t tmpfs -o mode=1777,nosuid,nodev,noexec tmpfs /run/lock
mountpoint -q /tmp || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
if [ "${NSLAB_ISOLATE:-0}" = 1 ]; then
    # lab node: no way out, and name lookups that fail at once (nothing
    # listens on 127.0.0.1:53) instead of hanging on an unreachable resolver.
    ip route del default 2>/dev/null || true
    ip -6 route del default 2>/dev/null || true
    echo "nameserver 127.0.0.1" >/etc/resolv.conf
fi
exec /sbin/init "$@"
"""
NODE_DOCKER_DEFAULTS = (
    "# nslab: the node's engine also listens on plain TCP 2375 (lab-only,\n"
    "# internal lab network) so the lab host can drive it.  --tls=false says so\n"
    "# explicitly; without it dockerd 20.10 sleeps 15 s at start to warn.\n"
    'DOCKER_OPTS="-H tcp://0.0.0.0:2375 --tls=false"\n')
NODE_DAEMON_JSON = '{\n  "storage-driver": "overlay2"\n}\n'
NODE_MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "getty@tty1.service",
    "console-getty.service", "systemd-firstboot.service",
    "systemd-remount-fs.service", "dev-hugepages.mount",
    "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
]
# `docker import --change` takes no STOPSIGNAL: containers of the node image
# need --stop-signal SIGRTMIN+3 (systemd's "halt") when they are created.
NODE_IMAGE_CHANGES = [
    'ENTRYPOINT ["/usr/local/sbin/nslab-entrypoint"]',
    "ENV container=docker",
    "VOLUME /var/lib/docker",
    "LABEL org.opencontainers.image.title=nslab-node",
]
NODE_STOP_SIGNAL = "SIGRTMIN+3"
RECIPE_VERSION = 1


# --------------------------------------------------------------------------
# the base dockerd and the node containers

def docker_cli():
    return shutil.which("docker") or die("the docker CLI is needed for the host kind")


def base_cli(lab, *args, check=True, timeout=None):
    return run([docker_cli(), "-H", lab.base_url] + list(args), check=check, timeout=timeout)


def base_start_script(lab):
    dockerd = shutil.which("dockerd") or die("dockerd not found (apt-get install docker.io)")
    q = shlex.quote
    lines = ["#!/bin/sh",
             "# Generated by nslab: the base dockerd of lab %s (host kind), run in a" % lab.name,
             "# private mount namespace so none of its mounts show on the host.",
             "set -eu"]
    lines += lab_cgroup_join_lines(lab, "base/engine")
    lines += private_paths_lines(lab.base_var, lab.base_run)
    lines.append(
        "exec %s --config-file %s --data-root %s --exec-root %s --host %s --pidfile %s "
        "--bridge %s --iptables=false --ip-forward=false --ip-masq=false "
        "--default-address-pool %s --cgroup-parent %s" % (
            q(dockerd), q(lab.base_var + "/daemon.json"), q(lab.base_var + "/docker"),
            q(lab.base_run + "/x"), q(lab.base_url), q(lab.base_pidfile), lab.base_bridge,
            q("base=%s,size=28" % lab.base_pool), q("/%s/base" % lab.cgroup)))
    return "\n".join(lines) + "\n"


def ensure_base(lab):
    if ping(lab.base_url):
        return
    log("starting the base dockerd (%s)" % lab.base_url)
    kill_all(lab, "base")
    for f in (lab.base_pidfile, lab.base_sock):
        if os.path.exists(f):
            os.unlink(f)
    rm_rf(lab.base_run + "/x")
    # its default bridge: our own (never docker0 of a user's engine)
    if not link_exists(lab.base_bridge):
        run(["ip", "link", "add", lab.base_bridge, "type", "bridge"])
    if (" %s " % lab.base_bridge_cidr) not in out(["ip", "-4", "-o", "addr", "show", "dev", lab.base_bridge]):
        run(["ip", "addr", "add", lab.base_bridge_cidr, "dev", lab.base_bridge])
    run(["ip", "link", "set", lab.base_bridge, "up"])
    ensure_forward_rule(lab, lab.base_bridge)
    os.makedirs(lab.base_var, exist_ok=True)
    os.makedirs(lab.base_run, exist_ok=True)
    write_file(lab.base_var + "/daemon.json",
               json.dumps({"deprecated-key-path": lab.base_var + "/key.json"}, indent=2) + "\n")
    script = lab.base_var + "/start.sh"
    write_file(script, base_start_script(lab), 0o755)
    p = start_daemon(["unshare", "--mount", "--propagation", "slave", "--", "/bin/sh", script],
                     lab.base_run, lab.base_var + "/dockerd.log")
    deadline = time.time() + 60
    while not ping(lab.base_url):
        if p.poll() is not None or time.time() > deadline:
            die("base dockerd did not start; log:\n%s" % log_tail(lab.base_var + "/dockerd.log"))
        time.sleep(0.2)


def node_rootfs_recipe():
    """What goes into the cached debootstrap tarball (lab files are laid
    over it at import time, so changing them needs no rebuild)."""
    return {"version": RECIPE_VERSION, "suite": NODE_SUITE, "variant": NODE_VARIANT,
            "packages": NODE_PACKAGES}


def node_overlay_entries():
    """(path, kind, mode, content) laid over the rootfs when importing."""
    entries = [
        ("./usr/local/sbin", "dir", 0o755, None),
        ("./usr/local/sbin/nslab-entrypoint", "file", 0o755, NODE_ENTRYPOINT),
        ("./etc/default/docker", "file", 0o644, NODE_DOCKER_DEFAULTS),
        ("./etc/docker", "dir", 0o755, None),
        ("./etc/docker/daemon.json", "file", 0o644, NODE_DAEMON_JSON),
        ("./etc/machine-id", "file", 0o444, ""),
    ]
    for unit in NODE_MASKED_UNITS:
        entries.append(("./etc/systemd/system/" + unit, "symlink", 0o777, "/dev/null"))
    return entries


def _hash(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def node_rootfs_hash():
    """Keys the cached rootfs tarball."""
    return _hash(node_rootfs_recipe())


def node_recipe_hash():
    """Keys the image: rootfs + lab files + import changes."""
    return _hash([node_rootfs_hash(), node_overlay_entries(), NODE_IMAGE_CHANGES])


def node_image_name():
    return "%s:%s" % (NODE_IMAGE_REPO, node_recipe_hash())


def node_tarball():
    return "%s/node-rootfs-%s.tar" % (CACHE_DIR, node_rootfs_hash())


def node_overlay_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for path, kind, mode, content in node_overlay_entries():
            ti = tarfile.TarInfo(path)
            ti.mode, ti.mtime, ti.uid, ti.gid = mode, 0, 0, 0
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, content
                tf.addfile(ti)
            else:
                data = content.encode()
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class _RangesReader:
    """File-like over byte ranges of a file, then extra bytes."""

    def __init__(self, path, ranges, extra):
        self.f = open(path, "rb")
        self.ranges = list(ranges)
        self.extra = io.BytesIO(extra)
        self.size = sum(e - s for s, e in self.ranges) + len(extra)
        self.cur = None

    def read(self, n=-1):
        n = 1 << 20 if n is None or n < 0 else n
        while self.cur is None or self.cur[0] >= self.cur[1]:
            if not self.ranges:
                return self.extra.read(n)
            self.cur = list(self.ranges.pop(0))
            self.f.seek(self.cur[0])
        chunk = self.f.read(min(n, self.cur[1] - self.cur[0]))
        if not chunk:
            raise OSError("short read in %s" % self.f.name)
        self.cur[0] += len(chunk)
        return chunk

    def close(self):
        self.f.close()


def tar_ranges_without(path, drop):
    """Byte ranges of the members of a tar, leaving out those named in drop
    (Docker's import refuses duplicate paths, so the members the overlay
    replaces must go)."""
    def norm(n):
        return n[2:] if n.startswith("./") else n.rstrip("/")
    drop = {norm(d).rstrip("/") for d in drop}
    ranges = []
    with tarfile.open(path, "r:") as tf:
        for m in tf:
            end = m.offset_data + ((m.size + 511) // 512 * 512 if m.isreg() else 0)
            if norm(m.name).rstrip("/") in drop:
                continue
            if ranges and ranges[-1][1] == m.offset:
                ranges[-1][1] = end
            else:
                ranges.append([m.offset, end])
    return ranges


def debian_mirror():
    return os.environ.get("NSLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def run_logged(cmd, logpath, what):
    """Run a long command, output to a log file, a progress line on stderr
    every few seconds."""
    t0 = time.time()
    with open(logpath, "ab") as logf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        last = 0
        while p.poll() is None:
            time.sleep(0.5)
            if time.time() - last >= 5:
                lines = [l for l in (read_file(logpath, "") or "").splitlines() if l.startswith("I: ")]
                log("%s (%ds) %s" % (what, time.time() - t0, lines[-1][3:] if lines else ""))
                last = time.time()
    if p.returncode != 0:
        die("%s failed (%d); log %s:\n%s" % (what, p.returncode, logpath, log_tail(logpath, 25)))


def build_node_tarball():
    tarball = node_tarball()
    if os.path.exists(tarball):
        return tarball
    if not shutil.which("debootstrap"):
        die("debootstrap is needed to build the host-kind node image (apt-get install debootstrap)")
    with AbstractLock("cache"):
        if os.path.exists(tarball):
            return tarball
        t0 = time.time()
        os.makedirs(CACHE_DIR, exist_ok=True)
        build = "%s/build-%s" % (CACHE_DIR, node_rootfs_hash())
        rm_rf(build)
        rootfs = build + "/rootfs"
        os.makedirs(rootfs)
        logpath = build + "/build.log"
        log("building node image %s (debootstrap %s %s, ~1 min, log %s)"
            % (node_image_name(), NODE_SUITE, NODE_VARIANT, logpath))
        run_logged(["debootstrap", "--foreign", "--variant=" + NODE_VARIANT,
                    "--include=" + ",".join(NODE_PACKAGES), NODE_SUITE, rootfs, debian_mirror()],
                   logpath, "debootstrap: download + unpack")
        # no service may start while packages are configured
        write_file(rootfs + "/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
        # second stage in private mount + pid namespaces: whatever it mounts or
        # starts disappears with it
        run_logged(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                    "chroot", rootfs, "/debootstrap/debootstrap", "--second-stage"],
                   logpath, "debootstrap: configure")
        for mp, _unused, _unused2 in proc.mounts():
            if mp.startswith(build + "/"):
                run(["umount", "-l", mp], check=False)
        for p in ("/usr/sbin/policy-rc.d", "/var/lib/dbus/machine-id", "/etc/hostname"):
            if os.path.lexists(rootfs + p):
                os.unlink(rootfs + p)
        for d in ("/var/lib/apt/lists", "/var/cache/apt/archives", "/var/log"):
            for root, _dirs, files in os.walk(rootfs + d):
                for f in files:
                    if f not in ("lock",):
                        os.unlink(os.path.join(root, f))
        for f in ("/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin"):
            if os.path.exists(rootfs + f):
                os.unlink(rootfs + f)
        log("packing rootfs")
        run(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", tarball + ".tmp", "."])
        os.replace(tarball + ".tmp", tarball)
        rm_rf(build)
        log("node image built in %.0fs, cached as %s" % (time.time() - t0, tarball))
    return tarball


def ensure_node_image(lab):
    image = node_image_name()
    if not image_present(lab.base_url, image):
        tarball = build_node_tarball()
        log("importing %s into the base dockerd" % image)
        changes = NODE_IMAGE_CHANGES + ["LABEL nslab.recipe=%s" % node_recipe_hash()]
        ranges = tar_ranges_without(tarball, [e[0] for e in node_overlay_entries()])
        body = _RangesReader(tarball, ranges, node_overlay_tar())
        try:
            import_image(lab.base_url, image, (body, body.size), changes)
        finally:
            body.close()
    repo, tag = NODE_IMAGE_LATEST.split(":")
    api_json(lab.base_url, "POST", "/images/%s/tag?%s" % (image, urllib.parse.urlencode(
        {"repo": repo, "tag": tag})), ok=(200, 201))
    return image


def ensure_base_network(lab):
    nets = api_json(lab.base_url, "GET", "/networks?" + urllib.parse.urlencode(
        {"filters": json.dumps({"name": [lab.network]})}))
    if any(n["Name"] == lab.network for n in nets):
        return
    # Internal: no default route out of the nodes; docker still puts the
    # gateway address on the bridge, so this machine reaches every node.
    api_json(lab.base_url, "POST", "/networks/create", {
        "Name": lab.network, "Driver": "bridge", "Internal": True, "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": lab.subnet, "Gateway": lab.gateway}]},
        "Options": {"com.docker.network.bridge.name": lab.bridge,
                    "com.docker.network.bridge.enable_ip_masquerade": "false"},
        "Labels": {"nslab.lab": lab.name},
    })


def node_run_args(lab, node, image):
    args = ["run", "-d", "--name", node.container, "--hostname", node.name,
            "--label", "nslab.lab=" + lab.name, "--label", "nslab.node=" + node.name,
            "--network", lab.network, "--ip", node.address,
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--security-opt", "systempaths=unconfined",
            "--device-cgroup-rule", "a *:* rwm",
            "--cgroupns", "private",
            "--tmpfs", "/run:rw,nosuid,nodev,mode=755", "--tmpfs", "/run/lock:rw,nosuid,nodev,noexec,mode=1777",
            "--tmpfs", "/tmp:rw,nosuid,nodev,exec,mode=1777",
            "--mount", "type=volume,source=%s,target=/var/lib/docker" % node.volume,
            "--env", "NSLAB_ISOLATE=1", "--stop-signal", NODE_STOP_SIGNAL]
    for c in node_capabilities():
        args += ["--cap-add", c]
    return args + [image]


def node_capabilities():
    """NODE_CAPABILITIES that this machine's bounding set allows."""
    bnd = None
    for line in (read_file("/proc/self/status", "") or "").splitlines():
        if line.startswith("CapBnd:"):
            bnd = int(line.split()[1], 16)
    if bnd is None:
        return list(NODE_CAPABILITIES)
    return [c for c in NODE_CAPABILITIES if bnd & (1 << CAP_NUMBERS[c])]


def base_containers(lab):
    return api_json(lab.base_url, "GET", "/containers/json?all=1&" + urllib.parse.urlencode(
        {"filters": json.dumps({"label": ["nslab.lab=%s" % lab.name]})}))


def up(lab, only=None):
    """Start the node containers whose engine does not answer (of the nodes
    named in only, or all); returns the nodes started."""
    ensure_base(lab)
    image = ensure_node_image(lab)
    ensure_base_network(lab)
    ensure_forward_rule(lab)
    existing = {c["Names"][0].lstrip("/"): c for c in base_containers(lab)}
    todo = [n for n in lab.nodes() if (only is None or n.name in only) and not (
        existing.get(n.container, {}).get("State") == "running" and ping(n.docker_host, timeout=1.0))]
    started = []
    if not todo:
        return started
    log("starting %d node container(s): %s" % (len(todo), " ".join(n.name for n in todo)))

    def start(n):
        c = existing.get(n.container)
        if c and c["State"] != "running":
            base_cli(lab, "start", n.container)
        elif not c:
            api_json(lab.base_url, "POST", "/volumes/create",
                     {"Name": n.volume, "Labels": {"nslab.lab": lab.name}})
            base_cli(lab, *node_run_args(lab, n, image))
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(start, todo))
    t0 = time.time()
    waiting = list(todo)
    last = 0
    while waiting:
        for n in list(waiting):
            if ping(n.docker_host, timeout=1.0):
                waiting.remove(n)
                started.append(n)
        if time.time() - last > 1 or not waiting:
            log("node engines answering: %d/%d" % (len(todo) - len(waiting), len(todo)))
            last = time.time()
        if waiting and time.time() - t0 > HOST_START_TIMEOUT:
            n = waiting[0]
            logs = base_cli(lab, "logs", "--tail", "20", n.container, check=False)
            die("node %s: its dockerd did not answer on %s within %ds\n%s%s" % (
                n.name, n.docker_host, HOST_START_TIMEOUT, logs.stdout.decode(errors="replace"),
                logs.stderr.decode(errors="replace")))
        time.sleep(0.3)
    return started


def clear_base(lab):
    """Remove the node containers, volumes and networks of the base dockerd
    (when it answers)."""
    if not ping(lab.base_url):
        return
    try:
        cs = api_json(lab.base_url, "GET", "/containers/json?all=1")
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda c: api(lab.base_url, "DELETE", "/containers/%s?force=1&v=1" % c["Id"],
                                      timeout=60), cs))
        for v in (api_json(lab.base_url, "GET", "/volumes") or {}).get("Volumes") or []:
            api(lab.base_url, "DELETE", "/volumes/%s?force=1" % v["Name"], timeout=30)
        for nw in api_json(lab.base_url, "GET", "/networks"):
            if nw["Name"] not in ("bridge", "host", "none"):
                api(lab.base_url, "DELETE", "/networks/%s" % nw["Id"], timeout=30)
    except (LabError, OSError, http.client.HTTPException) as e:
        log("base dockerd cleanup: %s" % e)
