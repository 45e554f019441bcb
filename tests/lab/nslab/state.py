"""A lab's names, addresses, paths and recorded state, and who made it.

Everything a lab owns is named after it (NSLAB_NAME) and its state lives in
/var/lib/nslab/<name>/state.json.  The state records, at creation and never
again, who made the lab (`owner`: NSLAB_OWNER or a token made up then) and a
creation id (`instance`) that no later lab of the same name shares."""

import hashlib
import json
import os
import re
import secrets
import time

from .util import die, read_file, write_file

STATE_ROOT = "/var/lib/nslab"
RUN_ROOT = "/run/nslab"
CACHE_DIR = "/var/cache/nslab"
MARKERS = STATE_ROOT + "/.created.json"
NETNS_DIR = "/run/netns"
ETC_NETNS = "/etc/netns"
CONTAINERD_RUN = "/run/containerd"

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
DEFAULT_INVENTORY = os.path.join(REPO_ROOT, "inventories", "lab", "hosts.yml")
DEFAULT_NAME = "nslab"

LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,6}$")
FIRST_HOST = 11          # node addresses start at .11
LAST_HOST = 254


def subnet_index(name):
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 250 + 1


def state_file(name):
    return "%s/%s/state.json" % (STATE_ROOT, name)


def read_state(name):
    """The recorded state of lab `name` (None if there is none)."""
    txt = read_file(state_file(name))
    try:
        return json.loads(txt) if txt else None
    except ValueError:
        return None


def lab_names():
    """Names of the labs that have a state directory on this machine."""
    if not os.path.isdir(STATE_ROOT):
        return []
    return [d for d in sorted(os.listdir(STATE_ROOT))
            if LAB_NAME_RE.match(d) and os.path.isdir(os.path.join(STATE_ROOT, d))]


def other_labs(name):
    return [d for d in lab_names() if d != name]


def requested_inventory_path():
    """NSLAB_INVENTORY, else inventories/lab/hosts.yml for the default lab
    and inventories/lab/<name>.yml for any other, so that labs started by
    hand under their own names never write over each other's inventory."""
    p = os.environ.get("NSLAB_INVENTORY")
    if p:
        return os.path.abspath(p)
    name = os.environ.get("NSLAB_NAME", DEFAULT_NAME)
    if name == DEFAULT_NAME:
        return DEFAULT_INVENTORY
    return os.path.join(os.path.dirname(DEFAULT_INVENTORY), "%s.yml" % name)


class Node:
    def __init__(self, lab, rec):
        self.lab = lab
        self.rec = rec
        self.name = rec["name"]
        self.role = rec["role"]
        self.index = rec["index"]
        self.address = rec["address"]
        self.slot = int(self.address.rsplit(".", 1)[1]) - FIRST_HOST
        self.group = "swarm_managers" if self.role == "manager" else "swarm_workers"
        self.netns = "%s-%s" % (lab.name, self.name)
        self.veth = "%s-%s%d" % (lab.name, self.role[0], self.index)
        self.var = "%s/%s" % (lab.state_dir, self.name)
        self.run = "%s/%s" % (lab.run_dir, self.name)
        self.sock = self.run + "/docker.sock"
        self.pidfile = self.run + "/docker.pid"
        self.container = "%s-%s" % (lab.name, self.name)
        self.volume = "%s-%s-docker" % (lab.name, self.name)

    @property
    def docker_host(self):
        if self.lab.kind == "host":
            return "tcp://%s:2375" % self.address
        return "unix://" + self.sock

    # engine-kind addressing inside the node
    @property
    def bip(self):
        return "172.%d.%d.1/24" % (16 + self.slot // 256, self.slot % 256)

    @property
    def address_pool(self):
        return "10.%d.%d.0/19" % (192 + self.slot // 8, (self.slot % 8) * 32)


class Lab:
    def __init__(self, name):
        if not LAB_NAME_RE.match(name):
            die("NSLAB_NAME must be 1-6 characters [a-z0-9], got %r" % name)
        self.name = name
        self.set_subnet(subnet_index(name))
        self.bridge = "%s-br" % name
        self.base_bridge = "%s-bd" % name
        self.state_dir = "%s/%s" % (STATE_ROOT, name)
        self.run_dir = "%s/%s" % (RUN_ROOT, name)
        self.state_file = state_file(name)
        self.cgroup = "nslab-%s" % name
        self.network = "%s-net" % name
        self.base_var = self.state_dir + "/base"
        self.base_run = self.run_dir + "/base"
        self.base_sock = self.base_run + "/docker.sock"
        self.base_url = "unix://" + self.base_sock
        self.base_pidfile = self.base_run + "/docker.pid"
        self.state = None

    def set_subnet(self, n):
        """Lab addresses: 10.231.<n>.0/24 (nodes), 10.232.<n>.0/24 (host-kind base dockerd)."""
        self.n = n
        self.prefix = "10.231.%d" % n
        self.subnet = self.prefix + ".0/24"
        self.gateway = self.prefix + ".1"
        self.base_bridge_cidr = "10.232.%d.1/25" % n
        self.base_pool = "10.232.%d.128/25" % n

    # ---- state
    def load(self):
        self.state = read_state(self.name)
        if self.state and self.state.get("subnet"):
            self.set_subnet(int(self.state["subnet"].split(".")[2]))

    def save(self):
        write_file(self.state_file, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    def create(self, kind):
        """A new state for this lab (not saved yet): who makes it and a
        creation id, recorded now and never changed by a later command."""
        self.state = {"name": self.name, "kind": kind, "subnet": self.subnet, "bridge": self.bridge,
                      "created": time.time(), "nodes": {}, "inventory": requested_inventory_path(),
                      "owner": os.environ.get("NSLAB_OWNER") or "cli:" + secrets.token_hex(6),
                      "instance": secrets.token_hex(8)}

    def record_creation(self):
        """Append "<name> <creation id>" to $NSLAB_RECORD: what a CI run
        takes down when it ends, and nothing else."""
        path = os.environ.get("NSLAB_RECORD")
        if not path:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, ("%s %s\n" % (self.name, self.instance)).encode())
            finally:
                os.close(fd)
        except OSError as e:
            die("cannot record the new lab in NSLAB_RECORD=%s: %s" % (path, e.strerror))

    @property
    def kind(self):
        return self.state["kind"] if self.state else None

    @property
    def owner(self):
        return self.state.get("owner") if self.state else None

    @property
    def instance(self):
        return self.state.get("instance") if self.state else None

    def nodes(self):
        if not self.state:
            return []
        recs = sorted(self.state["nodes"].values(),
                      key=lambda r: (r["role"] != "manager", r["index"]))
        return [Node(self, r) for r in recs]

    def inventory_path(self):
        if self.state and self.state.get("inventory"):
            return self.state["inventory"]
        return requested_inventory_path()

    def allocate(self, managers, workers):
        """Add missing nodes to the state; returns the names added."""
        used = {r["address"] for r in self.state["nodes"].values()}
        added = []
        for role, count in (("manager", managers), ("worker", workers)):
            for i in range(1, count + 1):
                name = "%s%d" % (role, i)
                if name in self.state["nodes"]:
                    continue
                for host in range(FIRST_HOST, LAST_HOST + 1):
                    addr = "%s.%d" % (self.prefix, host)
                    if addr not in used:
                        break
                else:
                    die("lab subnet %s is full" % self.subnet)
                used.add(addr)
                self.state["nodes"][name] = {"name": name, "role": role, "index": i,
                                             "address": addr, "created": time.time()}
                added.append(name)
        return added

    def info(self):
        """The lab itself, for `lab info`."""
        if not self.state:
            return {"name": self.name, "exists": False}
        return {"name": self.name, "exists": True, "kind": self.kind, "owner": self.owner,
                "instance": self.instance, "created": self.state.get("created"),
                "subnet": self.subnet, "bridge": self.bridge, "inventory": self.inventory_path(),
                "nodes": [n.name for n in self.nodes()]}
