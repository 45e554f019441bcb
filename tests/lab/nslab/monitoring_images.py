"""Monitoring images for the lab, made without any registry: Prometheus,
node-exporter and Alertmanager from Debian bookworm's own packages (real
binaries), on a busybox-static base with the C library they link to.

The .deb files come from apt (`apt-get download`, the machine's Debian
sources); each image's root filesystem is cached as a tarball in
/var/cache/nslab keyed by the package file, the recipe and the C library,
and imported into every node's engine that lacks it (like the test image).
The layout follows the upstream images (binaries in /bin, data directories
owned by nobody), so the roles use the same service arguments for both.

`lab monitoring-images [--json | --ansible-vars] [--engine-metrics 0.0.0.0:9323]`
runs it on the lab's nodes and prints the image names (or the role variables
for playbooks/monitoring.yml on this lab);
with --engine-metrics (host kind) it also sets each node engine's
"metrics-addr", as the engine role's engine_daemon_options do on real hosts."""

import glob
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from .engine_api import api, import_image, ping
from .host import base_cli
from .state import CACHE_DIR
from .testimage import TEST_IMAGE, Rootfs, busybox_path
from .util import AbstractLock, die, log, out

RECIPE_VERSION = 1
DEB_DIR = CACHE_DIR + "/monitoring-debs"
NOBODY = 65534

# name: package, files taken from the package (path in the .deb -> path in
# the image), directories owned by nobody, import changes.  The tag is the
# package's upstream version.
IMAGES = {
    "prometheus": {
        "package": "prometheus",
        "files": {"usr/bin/prometheus": "bin/prometheus", "usr/bin/promtool": "bin/promtool"},
        "data_dirs": ["prometheus", "etc/prometheus"],
        "changes": ['ENTRYPOINT ["/bin/prometheus"]',
                    'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]',
                    "EXPOSE 9090/tcp", "WORKDIR /prometheus", "USER nobody", "VOLUME /prometheus"],
    },
    "node-exporter": {
        "package": "prometheus-node-exporter",
        "files": {"usr/bin/prometheus-node-exporter": "bin/node_exporter"},
        "data_dirs": [],
        "changes": ['ENTRYPOINT ["/bin/node_exporter"]', "EXPOSE 9100/tcp", "USER nobody"],
    },
    "alertmanager": {
        "package": "prometheus-alertmanager",
        "files": {"usr/bin/prometheus-alertmanager": "bin/alertmanager", "usr/bin/amtool": "bin/amtool"},
        # Debian's build reads its notification templates from here
        "trees": ["usr/share/prometheus/alertmanager"],
        "data_dirs": ["alertmanager", "etc/alertmanager"],
        "changes": ['ENTRYPOINT ["/bin/alertmanager"]',
                    'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]',
                    "EXPOSE 9093/tcp", "WORKDIR /alertmanager", "USER nobody", "VOLUME /alertmanager"],
    },
}


def deb_file(package):
    """The cached .deb of a package, downloaded with apt when missing."""
    found = sorted(glob.glob("%s/%s_*.deb" % (DEB_DIR, package)))
    if found:
        return found[-1]
    os.makedirs(DEB_DIR, exist_ok=True)
    log("downloading %s with apt-get download" % package)
    proc = subprocess.run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package], cwd=DEB_DIR,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    found = sorted(glob.glob("%s/%s_*.deb" % (DEB_DIR, package)))
    if proc.returncode != 0 or not found:
        die("apt-get download %s failed (%d): %s\n(the lab builds its monitoring images from Debian's "
            "packages: it needs a Debian bookworm apt source)" % (package, proc.returncode,
                                                                  (proc.stderr or proc.stdout).strip()[-400:]))
    return found[-1]


def upstream_version(deb):
    """1.5.0 from prometheus-node-exporter_1.5.0-1+b6_amd64.deb."""
    version = os.path.basename(deb).split("_")[1]
    version = version.split(":")[-1].split("-")[0]
    return version.split("+")[0]


def libc_files():
    """The dynamic loader and C library the Debian binaries link to, as
    (path on this machine, path in the image)."""
    files = []
    for path in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"):
        if not os.path.exists(path):
            die("%s not found: the monitoring images need an x86-64 Debian machine" % path)
        files.append((os.path.realpath(path), path.lstrip("/")))
    return files


def recipe(name):
    spec = IMAGES[name]
    libc = out(["dpkg-query", "-W", "-f", "${Version}", "libc6"], check=False).strip()
    return {"version": RECIPE_VERSION, "name": name, "deb": os.path.basename(deb_file(spec["package"])),
            "files": spec["files"], "trees": spec.get("trees", []), "data_dirs": spec["data_dirs"], "libc": libc,
            "busybox": hashlib.sha256(open(busybox_path(), "rb").read()).hexdigest()[:12]}


def recipe_hash(name):
    return hashlib.sha256(json.dumps(recipe(name), sort_keys=True).encode()).hexdigest()[:12]


def image_name(name):
    return "nslab/%s:%s" % (name, upstream_version(deb_file(IMAGES[name]["package"])))


def build_rootfs(name):
    """The image's root filesystem as a tarball in the cache (built once)."""
    spec = IMAGES[name]
    tarball = "%s/monitoring-%s-%s.tar" % (CACHE_DIR, name, recipe_hash(name))
    if os.path.exists(tarball):
        return tarball
    with AbstractLock("cache"):
        if os.path.exists(tarball):
            return tarball
        log("building the %s image from %s" % (name, os.path.basename(deb_file(spec["package"]))))
        tmp = tempfile.mkdtemp(prefix="nslab-mon-")
        try:
            subprocess.run(["dpkg-deb", "-x", deb_file(spec["package"]), tmp], check=True)
            _write_rootfs(tarball + ".tmp", spec, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        os.replace(tarball + ".tmp", tarball)
        for stale in glob.glob("%s/monitoring-%s-*.tar" % (CACHE_DIR, name)):
            if stale != tarball:
                os.unlink(stale)
    return tarball


def _write_rootfs(path, spec, extracted):
    with tarfile.open(path, mode="w", format=tarfile.GNU_FORMAT) as tf:
        fs = Rootfs(tf)
        dirs = ["bin", "etc", "lib", "lib64", "lib/x86_64-linux-gnu", "root", "proc", "sys", "dev", "var",
                "run", "home"]
        fs.base(dirs, b"/home")
        for d in spec["data_dirs"]:
            fs.entry(d, tarfile.DIRTYPE, 0o755, uid=NOBODY)
        for src, dest in libc_files():
            fs.copy(src, dest)
        for src, dest in spec["files"].items():
            fs.copy(os.path.join(extracted, src), dest)
        for tree in spec.get("trees", []):
            parts = tree.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) not in dirs:
                    fs.entry("/".join(parts[:i]), tarfile.DIRTYPE, 0o755)
            tf.add(os.path.join(extracted, tree), arcname=tree, filter=_root_owned)
        fs.entry("etc/nsswitch.conf", tarfile.REGTYPE, 0o644, data=b"hosts: files dns\n")


def image_current(url, image, recipe_key):
    """The engine has the image, made from this recipe."""
    try:
        status, data = api(url, "GET", "/images/%s/json" % image, timeout=10)
    except (OSError, http.client.HTTPException):
        return False
    if status != 200:
        return False
    labels = (json.loads(data).get("Config") or {}).get("Labels") or {}
    return labels.get("nslab.recipe") == recipe_key


def _root_owned(ti):
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = 0
    return ti


def ensure_images(urls):
    """Every monitoring image in every engine of urls; {name: image}."""
    images = {name: image_name(name) for name in IMAGES}
    tarballs = {name: build_rootfs(name) for name in IMAGES}

    def load(url):
        for name, image in images.items():
            if not image_current(url, image, recipe_hash(name)):
                with open(tarballs[name], "rb") as f:
                    import_image(url, image, (f, os.path.getsize(tarballs[name])),
                                 IMAGES[name]["changes"] + ["LABEL nslab.recipe=%s" % recipe_hash(name)])
    with ThreadPoolExecutor(3) as ex:
        list(ex.map(load, urls))
    return images


_METRICS_SCRIPT = r"""
import json, subprocess, sys
path = "/etc/docker/daemon.json"
try:
    conf = json.load(open(path))
except (OSError, ValueError):
    conf = {}
if conf.get("metrics-addr") == sys.argv[1]:
    sys.exit(0)
conf["metrics-addr"] = sys.argv[1]
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
subprocess.run(["systemctl", "restart", "docker"], check=True)
"""


def enable_engine_metrics(lab, nodes, addr):
    """Host kind: "metrics-addr" in every node's daemon.json (what the engine
    role's engine_daemon_options set on real hosts), the engine restarted
    where it changed."""
    if lab.kind != "host":
        die("--engine-metrics needs a host-kind lab (its nodes have a daemon.json and systemd)")

    def one(n):
        base_cli(lab, "exec", n.container, "python3", "-c", _METRICS_SCRIPT, addr, timeout=120)
        deadline = time.time() + 60
        while not ping(n.docker_host, timeout=1.0):
            if time.time() > deadline:
                die("node %s: its engine did not come back after the metrics-addr change" % n.name)
            time.sleep(0.3)
    with ThreadPoolExecutor(5) as ex:
        list(ex.map(one, nodes))


def ansible_vars(images):
    """Role variables for monitoring.yml on this lab: its images, no
    cAdvisor (no package, no registry), Grafana's service on the test image
    as a stand-in, and host-mode publishing (no IPVS here)."""
    return {"prometheus_image": images["prometheus"],
            "prometheus_node_exporter_image": images["node-exporter"],
            "prometheus_alertmanager_image": images["alertmanager"],
            "prometheus_cadvisor_enabled": False,
            "prometheus_publish_mode": "host",
            "prometheus_endpoint_mode": "dnsrr",
            "grafana_image": TEST_IMAGE,
            "grafana_publish_mode": "host"}


def cmd_monitoring_images(lab, args):
    """Build (once) and load the monitoring images onto every node."""
    if not lab.state:
        die("no lab named %s" % lab.name)
    nodes = lab.nodes()
    if args.engine_metrics:
        log("engine metrics on %s on every node" % args.engine_metrics)
        enable_engine_metrics(lab, nodes, args.engine_metrics)
    log("loading the monitoring images onto %d node(s)" % len(nodes))
    images = ensure_images([n.docker_host for n in nodes])
    if args.ansible_vars:
        print(json.dumps(ansible_vars(images), indent=2))
    elif args.json:
        print(json.dumps(images, indent=2))
    else:
        for name, image in sorted(images.items()):
            print("%s: %s" % (name, image))
    return 0


def add_parser(sub):
    p = sub.add_parser("monitoring-images", help="build (cached) and load the Prometheus, node-exporter and "
                                                 "Alertmanager images from Debian packages onto every node")
    p.add_argument("--json", action="store_true")
    p.add_argument("--ansible-vars", action="store_true",
                   help="print the role variables (JSON, for ansible-playbook -e @file) that point "
                        "playbooks/monitoring.yml at these images and this lab")
    p.add_argument("--engine-metrics", metavar="ADDR",
                   help="host kind: also set the engines' metrics-addr (e.g. 0.0.0.0:9323) in every node's "
                        "daemon.json, restarting the engines where it changed")
