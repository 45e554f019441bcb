"""A thin wrapper over ``tests/lab/lab`` for one benchmark lab: its own name
and its own inventory path, so it never touches a user's or a test's lab."""

import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, 'tests', 'lab', 'lab')
STATE_DIR = '/var/lib/nslab'
MEMORY_CGROUP = '/sys/fs/cgroup/memory'


class Lab:
    """Engine-kind lab ``name`` whose inventory is written to ``inventory``."""

    def __init__(self, name, inventory):
        self.name = name
        self.inventory = inventory
        self.env = dict(os.environ, NSLAB_NAME=name, NSLAB_INVENTORY=inventory)

    def _run(self, *args):
        proc = subprocess.run([LAB] + list(args), env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode:
            detail = proc.stderr.strip()[-2000:]
            raise RuntimeError('lab %s failed (rc %d): %s' % (' '.join(args), proc.returncode, detail))
        return proc.stdout

    def up(self, managers, workers):
        """Start (or grow to) ``managers`` + ``workers`` engines; write the inventory."""
        self._run('up', '--managers', str(managers), '--workers', str(workers))

    def down(self):
        self._run('down')

    def fresh(self, managers, workers):
        """Bare engines: remove the lab if it exists, then start it again."""
        if self.exists():
            self.down()
        self.up(managers, workers)

    def exists(self):
        return os.path.exists(os.path.join(STATE_DIR, self.name))

    def status(self):
        """The lab's nodes: name, group, address, docker_host, pid (dockerd), ..."""
        return json.loads(self._run('status', '--json'))

    def memory(self):
        """Memory per node in bytes: the node's memory cgroup peak when the lab
        has one, else the PSS of its dockerd and every descendant (containerd,
        shims) right now. Returns ({node: bytes}, 'cgroup peak' | 'PSS')."""
        nodes = self.status()
        cgroups = dict((n['name'], os.path.join(MEMORY_CGROUP, 'nslab-%s' % self.name, n['name']))
                       for n in nodes)
        if nodes and all(os.path.isfile(os.path.join(d, 'memory.max_usage_in_bytes')) for d in cgroups.values()):
            return dict((name, _read_int(os.path.join(d, 'memory.max_usage_in_bytes')))
                        for name, d in cgroups.items()), 'cgroup peak'
        return dict((n['name'], sum(_pss(pid) for pid in _tree(n['pid']))) for n in nodes if n.get('pid')), 'PSS'


def _read_int(path):
    with open(path) as handle:
        return int(handle.read().strip() or 0)


def _children():
    """{ppid: [pid, ...]} of every process."""
    result = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        result.setdefault(ppid, []).append(int(entry))
    return result


def _tree(pid):
    children, todo, found = _children(), [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _pss(pid):
    """Proportional set size of a process in bytes (0 when it is gone)."""
    try:
        with open('/proc/%d/smaps_rollup' % pid) as handle:
            for line in handle:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
