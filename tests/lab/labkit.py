"""Helpers for driving tests/lab/lab from pytest (fixtures live in
tests/integration/conftest.py): run the CLI, a handle on a running lab, and
snapshots of everything a lab may touch on the machine, for "down leaves
nothing behind" checks."""

import glob
import os
import re
import shutil
import subprocess
import time
import urllib.request

from nslab import client, proc

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = client.LAB
SERVICE_COMMS = ('dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2',
                 'docker-proxy', 'runc')

# The owner recorded in every lab this test run creates: this process, for
# good (its pid and start time).  A later run takes down the labs of a run
# that is gone, and nothing else.
OWNER = client.process_owner('pytest')


# --------------------------------------------------------------------------
# calling the lab CLI

def lab_skip_reason(kind='engine'):
    """Why the lab cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return 'the lab needs root (network namespaces, bridges, iptables, dockerd)'
    needs = ['dockerd', 'ip', 'iptables', 'unshare']
    if kind == 'host':
        needs += ['debootstrap', 'docker']
    for tool in needs:
        if not shutil.which(tool):
            return '%s not found (the %s-kind lab needs it)' % (tool, kind)
    if not (os.path.exists('/bin/busybox') or os.path.exists('/usr/bin/busybox')):
        return 'busybox not found (the lab builds its test image from busybox-static)'
    return None


def reap_stale_labs():
    """Down the labs that test runs which are gone (killed, crashed) left:
    only labs whose recorded owner is a test run's process that has ended,
    never a lab made by hand or by a run still going."""
    for name in client.stale_labs('pytest', keep=(OWNER,)):
        client.Lab(name).down(check=False)


def run_lab(*args, name, inventory=None, check=True, timeout=1800):
    """Run tests/lab/lab with its own lab name, as this test run; return the
    CompletedProcess (client.LabCommandError when it fails and check)."""
    return client.Lab(name, inventory, owner=OWNER).run(*args, check=check, timeout=timeout)


def lab_json(*args, name, inventory=None):
    return client.Lab(name, inventory, owner=OWNER).json(*args)


class LabHandle(client.Lab):
    """One running lab, as the tests see it."""

    def __init__(self, name, kind, managers, workers, inventory):
        super().__init__(name, inventory, owner=OWNER)
        self.kind = kind
        self.managers = managers
        self.workers = workers
        self.nodes = []
        self.caps = {}
        self.test_image = None
        self.up_output = None
        self.snapshotter = None   # see LAB_SNAPSHOT_FIRST in tests/integration/conftest.py
        self.before = None

    # ---- CLI
    def cli(self, *args, check=True, timeout=1800):
        return self.run(*args, check=check, timeout=timeout)

    def up(self, managers=None, workers=None):  # pylint: disable=arguments-differ
        if managers is not None:
            self.managers = managers
        if workers is not None:
            self.workers = workers
        self.up_output = super().up(self.managers, self.workers, self.kind)
        if not self.caps:
            self.caps = self.json('caps')
            self.test_image = self.caps['test_image']
        return self.status()

    def status(self):
        self.nodes = super().status()
        return self.nodes

    def down(self, check=False, timeout=600):
        return super().down(check=check, timeout=timeout)

    def stop(self, *nodes, kill=False):
        """Take nodes' engines down (a node failure); `start` brings them back."""
        super().stop(*nodes, kill=kill)
        return self.status()

    def start(self, *nodes):
        super().start(*nodes)
        return self.status()

    # ---- nodes
    def node(self, name):
        for n in self.nodes:
            if n['name'] == name:
                return n
        raise KeyError(name)

    def names(self, group=None):
        return [n['name'] for n in self.nodes if group is None or n['group'] == group]

    def client(self, name, timeout=30):
        import docker  # pylint: disable=import-outside-toplevel
        return docker.DockerClient(base_url=self.node(name)['docker_host'], timeout=timeout)

    @property
    def base_url(self):
        """Host kind: the base dockerd that runs the node containers."""
        return 'unix:///run/nslab/%s/base/docker.sock' % self.name

    def container(self, node):
        return '%s-%s' % (self.name, node)


def lab_name(tag):
    """A lab name for a test lab: a 2-letter tag + this process's pid in base
    36 (6 chars at most), so concurrent test runs on one machine never share
    a lab, and never touch a user's `nslab`."""
    digits = '0123456789abcdefghijklmnopqrstuvwxyz'
    n, pid36 = os.getpid() % 36 ** 4, ''
    for _unused in range(4):
        n, r = divmod(n, 36)
        pid36 = digits[r] + pid36
    return (tag[:2] + pid36).lower()


# --------------------------------------------------------------------------
# what a lab leaves on the machine

def _sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return ''


def other_lab_names(exclude):
    names = set()
    for root in ('/var/lib/nslab', '/run/nslab'):
        if os.path.isdir(root):
            names |= {d for d in os.listdir(root)
                      if re.match(r'^[a-z0-9]{1,6}$', d) and d not in exclude}
    return names


def _pids_of_labs(names):
    """Processes belonging to labs: in their cgroups, or naming their
    directories (broader than what `lab down` ends: a check that down left
    nothing running, and what to ignore of other labs)."""
    pids = set()
    for name in names:
        for d in glob.glob('/sys/fs/cgroup/*/nslab-%s' % name):
            pids |= proc.cgroup_tree_pids(d)
    marks = ['/nslab/%s/' % n for n in names]
    if marks:
        for pid in proc.all_pids():
            cmd = ' '.join(proc.cmdline(pid))
            if any(m in cmd for m in marks):
                pids.add(pid)
    return pids


def _of_labs(pid, names):
    """Does this process belong to one of the labs: its own cgroups or its
    command line, read now (a list of the labs' processes taken a moment
    earlier misses the short-lived ones, like runc)."""
    try:
        with open('/proc/%d/cgroup' % pid) as f:
            paths = [line.split(':', 2)[2].strip() + '/' for line in f if line.count(':') >= 2]
    except OSError:
        paths = []
    cmd = ' '.join(proc.cmdline(pid))
    return any(any(p.startswith('/nslab-%s/' % n) for p in paths) or '/nslab/%s/' % n in cmd for n in names)


def system_snapshot(ignore_labs=()):
    """What the lab could leave behind, minus what belongs to other labs
    (ignore_labs: other users of this machine may run labs meanwhile)."""
    ignore = set(ignore_labs)
    prefixes = tuple('%s-' % n for n in ignore)
    ignored_bridges = ['%s-br' % n for n in ignore] + ['%s-bd' % n for n in ignore]
    enslaved = set()
    for br in ignored_bridges:
        for line in _sh(['ip', '-o', 'link', 'show', 'master', br]).splitlines():
            enslaved.add(line.split(':')[1].strip().split('@')[0])

    def keep(text):
        return not any(p in text for p in prefixes) and not any(
            '/nslab/%s' % n in text or 'nslab:%s' % n in text or 'nslab-%s' % n in text for n in ignore)

    snap = {}
    snap['netns'] = sorted(l.split()[0] for l in _sh(['ip', 'netns', 'list']).splitlines()
                           if l.strip() and keep(l.split()[0]))
    links = [l.split(':')[1].strip().split('@')[0] for l in _sh(['ip', '-o', 'link', 'show']).splitlines()]
    snap['links'] = sorted(l for l in links if keep(l) and l not in enslaved)
    rules = []
    for table in ('filter', 'nat'):
        for l in _sh(['iptables-save', '-t', table]).splitlines():
            if l.startswith('#'):
                continue
            l = re.sub(r'\[\d+:\d+\]', '', l).strip()
            if keep(l):
                rules.append('%s: %s' % (table, l))
    snap['iptables'] = rules
    snap['nft_tables'] = sorted(_sh(['nft', 'list', 'tables']).splitlines()) if shutil.which('nft') else []
    with open('/proc/mounts') as f:
        snap['mounts'] = sorted(l.strip() for l in f if keep(l))
    snap['processes'] = sorted('%d %s' % (p, proc.comm(p)) for p in proc.all_pids()
                               if proc.comm(p) in SERVICE_COMMS and not _of_labs(p, ignore))
    snap['etc_netns'] = sorted(e for e in os.listdir('/etc/netns') if keep(e)) \
        if os.path.isdir('/etc/netns') else None
    snap['run_netns'] = os.path.isdir('/run/netns')
    snap['containerd_s'] = sorted(os.listdir('/run/containerd/s')) \
        if os.path.isdir('/run/containerd/s') else None
    snap['shared_dirs'] = [d for d in ('/run/docker', '/var/lib/docker', '/opt/containerd',
                                       '/run/containerd') if os.path.exists(d)]
    snap['state_dirs'] = sorted(d for d in glob.glob('/var/lib/nslab/*') + glob.glob('/run/nslab/*')
                                if keep(d + '/'))
    snap['cgroups'] = sorted(d for d in glob.glob('/sys/fs/cgroup/*/nslab-*') if keep(d))
    snap['routes'] = sorted(l for l in _sh(['ip', 'route']).splitlines() if keep(l)
                            and not any(' dev %s ' % b in l + ' ' for b in ignored_bridges))
    if not ignore:
        # system-wide knobs a lab may turn while it runs; only comparable when
        # no other lab is around
        snap['sysctls'] = {k: open('/proc/sys/' + k).read().strip()
                           for k in ('net/ipv4/neigh/default/gc_thresh2',
                                     'net/ipv4/neigh/default/gc_thresh3')}
        snap['lab_roots'] = [d for d in ('/var/lib/nslab', '/run/nslab') if os.path.exists(d)]
    return snap


def lab_leftovers(name):
    """Everything on this machine still named after lab `name`."""
    left = []
    left += ['netns %s' % l for l in _sh(['ip', 'netns', 'list']).split() if l.startswith(name + '-')]
    left += ['link %s' % l.split(':')[1].strip() for l in _sh(['ip', '-o', 'link', 'show']).splitlines()
             if l.split(':')[1].strip().startswith(name + '-')]
    for table in ('filter', 'nat'):
        left += ['iptables %s' % l for l in _sh(['iptables-save', '-t', table]).splitlines()
                 if 'nslab:%s' % name in l or ' %s-br ' % name in l + ' ' or ' %s-bd ' % name in l + ' ']
    with open('/proc/mounts') as f:
        left += ['mount %s' % l.strip() for l in f if '/nslab/%s/' % name in l]
    left += ['process %d' % p for p in _pids_of_labs([name])]
    left += ['path %s' % p for p in glob.glob('/etc/netns/%s-*' % name)
             + glob.glob('/var/lib/nslab/%s' % name) + glob.glob('/run/nslab/%s' % name)
             + glob.glob('/sys/fs/cgroup/*/nslab-%s' % name)]
    return left


def wait_until_equal(before, snapshot, timeout=15):
    """Poll: processes are reaped and links vanish a moment after `down`."""
    deadline = time.time() + timeout
    while True:
        after = snapshot()
        if after == before or time.time() > deadline:
            return after
        time.sleep(0.5)


def snapshot_diff(before, after):
    lines = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if isinstance(b, list) and isinstance(a, list):
            lines.append('%s: gone %s, new %s' % (key, sorted(set(b) - set(a)), sorted(set(a) - set(b))))
        else:
            lines.append('%s: before %r, after %r' % (key, b, a))
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# small test helpers

def wait_for(what, predicate, timeout=60, interval=0.5):
    """Poll predicate() until it returns something true; return that."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the thing may not be ready yet
            last = e
        if time.time() > deadline:
            raise AssertionError('timed out waiting for %s (last error: %r)' % (what, last))
        time.sleep(interval)


def http_get(url, timeout=3):
    """GET without any proxy from the environment; (status, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def form_swarm(lab, names):
    """swarm init on the lab's first manager, join the other nodes (managers
    as managers, workers as workers), wait until all are Ready; returns the
    first manager's docker.DockerClient."""
    clients = {n: lab.client(n) for n in names}
    first = lab.names('swarm_managers')[0]
    mgr = clients[first]
    if mgr.info()['Swarm']['LocalNodeState'] != 'active':
        mgr.swarm.init(advertise_addr=lab.node(first)['address'], listen_addr='0.0.0.0:2377')
    mgr.swarm.reload()
    tokens = mgr.swarm.attrs['JoinTokens']
    manager_addr = '%s:2377' % lab.node(first)['address']
    for n in names:
        if n == first or clients[n].info()['Swarm']['LocalNodeState'] == 'active':
            continue
        token = tokens['Manager'] if lab.node(n)['group'] == 'swarm_managers' else tokens['Worker']
        clients[n].swarm.join(remote_addrs=[manager_addr], join_token=token,
                              advertise_addr=lab.node(n)['address'], listen_addr='0.0.0.0:2377')
    wait_for('all %d nodes Ready' % len(names),
             lambda: sorted(x.attrs['Description']['Hostname'] for x in mgr.nodes.list()
                            if x.attrs['Status']['State'] == 'ready') == sorted(names))
    return mgr


class Snapshotter:
    """Snapshots that ignore whatever other labs (other users of this
    machine) own, including labs that appear while a test runs."""

    def __init__(self, mine):
        self.mine = mine
        self.seen = set()

    # shared by all labs: kept or removed depending on whether other labs
    # are still around, so only comparable when no other lab was seen
    SHARED = ('sysctls', 'lab_roots', 'run_netns', 'nft_tables')

    def __call__(self):
        while True:
            self.seen.update(other_lab_names({self.mine}))
            known = set(self.seen)
            snap = system_snapshot(known)
            # a lab that appeared while the snapshot was taken: take it again
            self.seen.update(other_lab_names({self.mine}))
            if self.seen == known:
                return self._trim(snap) if self.seen else snap

    def _trim(self, snap):
        for key in self.SHARED:
            snap.pop(key, None)
        snap['mounts'] = [m for m in snap['mounts'] if m.split()[1] != '/run/netns']
        if snap['etc_netns'] == []:
            snap['etc_netns'] = None
        return snap

    def assert_unchanged(self, before):
        after = wait_until_equal(before, self)
        if self.seen:
            before, after = self._trim(dict(before)), self._trim(dict(after))
        assert after == before, 'down left something behind:\n' + snapshot_diff(before, after)
