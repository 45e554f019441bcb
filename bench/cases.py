"""The benchmark cases. Each repetition runs on fresh engines (the lab is
taken down and started again), and every figure is a ratio to a baseline
measured in the same repetition. Nothing here judges a timing: the report
says whether a goal is met."""

import json
import os
import statistics
import tempfile
import threading

import docker

from bench import overhead
from bench.lab import ROOT
from bench.run import FLOOR_SCRIPT, PEER_PLAYBOOK, SITE, Run, playbook, timed

P1_SHAPE = (3, 2)
P3_MANAGERS = 3


def summary(values):
    """Median and spread of a list of numbers (None when it is empty)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'values': values, 'median': statistics.median(values), 'min': min(values), 'max': max(values)}


def ratios(numerators, denominators):
    return summary([n / d if n is not None and d else None for n, d in zip(numerators, denominators)])


def node_labels(nodes):
    """The labels every benchmark node gets (P1's 'with labels')."""
    return dict((n['name'], {'bench.zone': 'ab'[i % 2], 'bench.node': n['name']}) for i, n in enumerate(nodes))


def write_labels_inventory(path, labels):
    """A second inventory giving each lab host its swarm_node_labels (JSON is YAML)."""
    with open(path, 'w') as handle:
        json.dump({'all': {'hosts': dict((name, {'swarm_node_labels': value}) for name, value in labels.items())}},
                  handle, indent=1)


def check_swarm(nodes, managers, workers, labels=None):
    """The engines' own view: one swarm with the expected roles, all ready,
    with the labels. '' when it is right, else what is wrong."""
    first = next(n for n in nodes if n['group'] == 'swarm_managers')
    try:
        with docker.APIClient(base_url=first['docker_host'], timeout=30) as client:
            seen = client.nodes()
    except (docker.errors.DockerException, OSError) as exc:
        return 'cannot list the nodes on %s: %s' % (first['name'], exc)
    roles = [n['Spec']['Role'] for n in seen]
    problems = []
    if (roles.count('manager'), roles.count('worker')) != (managers, workers):
        problems.append('%d managers, %d workers' % (roles.count('manager'), roles.count('worker')))
    not_ready = [n['Description']['Hostname'] for n in seen if n['Status']['State'] != 'ready']
    if not_ready:
        problems.append('not ready: %s' % ', '.join(not_ready))
    for node in seen:
        wanted = (labels or {}).get(node['Description']['Hostname'], {})
        if any(node['Spec'].get('Labels', {}).get(k) != v for k, v in wanted.items()):
            problems.append('labels missing on %s' % node['Description']['Hostname'])
    return '; '.join(problems)


class Bench:
    """The cases, on one lab; results collected in ``self.memory`` too."""

    def __init__(self, lab, workdir, log=print):
        self.lab = lab
        self.workdir = workdir
        self.log = log
        self.memory = {}

    # -- helpers ----------------------------------------------------------
    def _fresh(self, managers, workers):
        self.lab.fresh(managers, workers)
        return self.lab.status()

    def _sample_memory(self, key):
        per_node, source = self.lab.memory()
        if not per_node:
            return
        values = sorted(per_node.values())
        entry = self.memory.setdefault(key, {'source': source, 'nodes': len(values), 'samples': []})
        entry['samples'].append({'median': statistics.median(values), 'max': values[-1]})

    def _verified(self, run, nodes, managers, workers, labels=None):
        if run.ok:
            problem = check_swarm(nodes, managers, workers, labels)
            if problem:
                run.ok, run.error = False, 'swarm not as expected: ' + problem
        if not run.ok:
            self.log('    ! %s' % run.error)
        return run

    def _labels_inventory(self, nodes):
        labels = node_labels(nodes)
        path = os.path.join(self.workdir, 'labels.json')
        write_labels_inventory(path, labels)
        return labels, path

    # -- P1 + P2 ----------------------------------------------------------
    def floor(self, nodes, labels):
        lines = ''.join('%s %s %s %s %s\n' % (n['group'][len('swarm_'):-1], n['name'], n['docker_host'],
                                              n['address'], ','.join('%s=%s' % kv for kv in labels[n['name']].items()))
                        for n in sorted(nodes, key=lambda n: n['group'] != 'swarm_managers'))
        seconds, proc = timed(['bash', FLOOR_SCRIPT], stdin=lines)
        return Run(seconds, proc.returncode == 0, error=proc.stderr.strip()[-1500:] if proc.returncode else '')

    def stand_up(self, reps, forks=5):
        """P1 (floor, peer, collection from bare engines) and P2 (the
        collection's site.yml again on the cluster it formed)."""
        runs = {'floor': [], 'peer': [], 'collection': [], 'rerun': []}
        managers, workers = P1_SHAPE
        for rep in range(reps):
            for variant in ('floor', 'peer', 'collection'):
                self.log('  P1 rep %d/%d: %s' % (rep + 1, reps, variant))
                nodes = self._fresh(managers, workers)
                self._sample_memory('idle engine')
                labels, labels_inventory = self._labels_inventory(nodes)
                if variant == 'floor':
                    run = self.floor(nodes, labels)
                else:
                    path = PEER_PLAYBOOK if variant == 'peer' else SITE
                    run = playbook(path, [self.lab.inventory, labels_inventory], forks)
                runs[variant].append(self._verified(run, nodes, managers, workers, labels))
                self._sample_memory('formed swarm')
            self.log('  P2 rep %d/%d: site.yml again' % (rep + 1, reps))
            runs['rerun'].append(self._verified(playbook(SITE, [self.lab.inventory, labels_inventory], forks),
                                                nodes, managers, workers, labels))
        seconds = dict((k, [r.seconds if r.ok else None for r in v]) for k, v in runs.items())
        p1 = {'case': 'P1', 'what': 'stand-up %d+%d with labels, forks %d' % (managers, workers, forks),
              'variants': _variants(runs, ('floor', 'peer', 'collection')),
              'ratios': {'collection/floor': ratios(seconds['collection'], seconds['floor']),
                         'collection/peer': ratios(seconds['collection'], seconds['peer'])},
              'goals': {'collection/floor': ['<=', 1.5], 'collection/peer': ['<', 1.0]}}
        changed = [r.changed for r in runs['rerun']]
        p2 = {'case': 'P2', 'what': 'site.yml again, forks %d' % forks,
              'variants': _variants({'first run': runs['collection'], 'rerun': runs['rerun']},
                                    ('first run', 'rerun')),
              'ratios': {'rerun/first run': ratios(seconds['rerun'], seconds['collection'])},
              'goals': {'rerun/first run': ['<=', 0.5]},
              'changed': changed,
              'changed_goal_met': all(c == 0 for c in changed)}
        return [p1, p2]

    # -- P3 ---------------------------------------------------------------
    def scale(self, reps, sizes=(4, 40), forks=50):
        """P3: the managers formed first, then engines for N workers added
        and site.yml run once to join them (the timed run)."""
        runs = dict((size, []) for size in sizes)
        for rep in range(reps):
            for size in sizes:
                self.log('  P3 rep %d/%d: join %d workers' % (rep + 1, reps, size))
                self._fresh(P3_MANAGERS, 0)
                formed = playbook(SITE, [self.lab.inventory], forks)
                if not formed.ok:
                    runs[size].append(self._verified(formed, [], 0, 0))
                    continue
                self.lab.up(P3_MANAGERS, size)
                nodes = self.lab.status()
                with MemorySampler(self, 'during the %d-worker join' % size):
                    run = playbook(SITE, [self.lab.inventory], forks)
                runs[size].append(self._verified(run, nodes, P3_MANAGERS, size))
        small, large = sizes
        seconds = dict((k, [r.seconds if r.ok else None for r in v]) for k, v in runs.items())
        key = '%d workers/%d workers' % (large, small)
        return [{'case': 'P3', 'what': 'site.yml joins workers to %d managers, forks %d' % (P3_MANAGERS, forks),
                 'variants': _variants(dict(('%d workers' % k, v) for k, v in runs.items()),
                                       ['%d workers' % s for s in sizes]),
                 'ratios': {key: ratios(seconds[large], seconds[small])},
                 'goals': {key: ['<=', 3.0]}}]

    # -- P4 ---------------------------------------------------------------
    @staticmethod
    def rolling():
        upgrade = os.path.join(ROOT, 'playbooks', 'upgrade.yml')
        note = 'not yet: needs playbooks/upgrade.yml' if not os.path.exists(upgrade) else \
            'not yet: playbooks/upgrade.yml exists but has no benchmark case'
        return [{'case': 'P4', 'what': 'rolling restart/upgrade', 'variants': {}, 'ratios': {}, 'goals': {},
                 'note': note}]

    # -- module overhead --------------------------------------------------
    def overhead(self, reps, calls=5):
        """One no-op call of each module (its own process, as Ansible runs it)
        against a direct docker SDK process doing the same inspection."""
        managers, workers = P1_SHAPE
        rows = []
        per_module = dict((name, {'module': [], 'sdk': [], 'api_calls': None}) for name in overhead.MODULES)
        for rep in range(reps):
            self.log('  overhead rep %d/%d' % (rep + 1, reps))
            nodes = self._fresh(managers, workers)
            labels, labels_inventory = self._labels_inventory(nodes)
            formed = self._verified(playbook(SITE, [self.lab.inventory, labels_inventory], 5),
                                    nodes, managers, workers, labels)
            if not formed.ok:
                continue
            manager = next(n for n in nodes if n['group'] == 'swarm_managers')
            worker = next(n for n in nodes if n['group'] == 'swarm_workers')
            for name in overhead.MODULES:
                try:
                    module_times, sdk_times, api_calls = overhead.measure(name, manager, worker, labels, calls,
                                                                          self.workdir)
                except RuntimeError as exc:
                    self.log('    ! %s' % exc)
                    continue
                per_module[name]['module'].append(statistics.median(module_times))
                per_module[name]['sdk'].append(statistics.median(sdk_times))
                per_module[name]['api_calls'] = api_calls
        for name, data in per_module.items():
            calls_made = data['api_calls'] or []
            rows.append({'case': 'overhead', 'what': 'one no-op %s call' % name, 'module': name,
                         'variants': {'module': summary(data['module']), 'sdk': summary(data['sdk'])},
                         'ratios': {'module/sdk': ratios(data['module'], data['sdk'])},
                         'goals': {},
                         'api_calls': calls_made,
                         'redundant_calls': sorted(set(c for c in calls_made if calls_made.count(c) > 1))})
        return rows


class MemorySampler:
    """Samples the lab's memory every ``interval`` seconds while a run lasts."""

    def __init__(self, bench, key, interval=2.0):
        self.bench, self.key, self.interval = bench, key, interval
        self._stop = None
        self._thread = None

    def __enter__(self):
        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(self.interval):
                try:
                    self.bench._sample_memory(self.key)
                except (OSError, RuntimeError, ValueError):
                    pass
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.bench._sample_memory(self.key)


def _variants(runs, order):
    """{variant: {seconds: summary, runs: [...]}} in the given order."""
    return dict((name, dict(summary([r.seconds for r in runs[name] if r.ok]) or {'median': None},
                            runs=[r.as_dict() for r in runs[name]])) for name in order)


def tempdir():
    return tempfile.mkdtemp(prefix='nsbench-')
