"""The benchmark's lab: the lab's own Python wrapper (tests/lab/nslab/client.py,
the one tests use too) under its own name and inventory path, so it never
touches a user's or a test's lab, plus memory per node."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from nslab import client, proc  # noqa: E402  pylint: disable=wrong-import-position

MEMORY_CGROUP = '/sys/fs/cgroup/memory'


class Lab(client.Lab):
    """Engine-kind lab ``name`` whose inventory is written to ``inventory``."""

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
        return dict((n['name'], sum(_pss(pid) for pid in proc.descendants(n['pid'])))
                    for n in nodes if n.get('pid')), 'PSS'


def cpu_seconds(pid):
    """CPU seconds (user + system) used so far by ``pid`` and every process
    under it (dockerd: containerd, shims), counting the children that have
    already exited and been reaped (cutime, cstime) too."""
    ticks = 0
    for each in proc.descendants(pid):
        try:
            with open('/proc/%d/stat' % each) as handle:
                # the fields after the command's closing parenthesis: state is
                # field 3, utime..cstime are fields 14-17
                fields = handle.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf('SC_CLK_TCK')


def _read_int(path):
    with open(path) as handle:
        return int(handle.read().strip() or 0)


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
