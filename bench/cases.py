"""The benchmark cases. Each repetition runs on fresh engines (the lab is
taken down and started again), and every figure is a ratio to a baseline
measured in the same repetition. Nothing here judges a timing: the report
says whether a goal is met."""

import json
import os
import statistics
import sys
import tempfile
import threading
import time

import docker

from bench import overhead
from bench.lab import ROOT, cpu_seconds
from bench.run import FLOOR_SCRIPT, PEER_PLAYBOOK, SITE, Run, playbook, timed

P1_SHAPE = (3, 2)
P3_MANAGERS = 3
P3_SIZES = (4, 40)
P3_LARGE = 100
# the two ways site.yml forms the swarm from one inventory: the extra vars of
# each, both explicit (an inventory, the lab's among them, may choose one)
PATHS = {'role path': {'swarm_form_from_controller': False}, 'controller': {'swarm_form_from_controller': True}}
P1_VARIANTS = ('floor', 'peer') + tuple(PATHS)
# the large/small ratio each path should stay under in P3
P3_GOALS = {'role path': 3.0, 'controller': 2.0}
# the aim for a stand-up: at most this many tasks that run (task rounds)
TASK_ROUNDS_GOAL = 15
# P4: a rolling upgrade of this shape (host-kind nodes), in at most this many times the floor
P4_SHAPE = (3, 2)
P4_GOAL = 1.5
UPGRADE = os.path.join(ROOT, 'playbooks', 'upgrade.yml')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))


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


def check_swarm(nodes, managers, workers, labels=None, settle=60):
    """The engines' own view: one swarm with the expected roles, all ready,
    with the labels. '' when it is right, else what is wrong. A node that has
    just joined reports its description and its first heartbeat a moment
    after its own engine says it is a member: that is waited for up to
    ``settle`` seconds (after the timed run)."""
    deadline = time.time() + settle
    while True:
        problem = _swarm_problems(nodes, managers, workers, labels)
        if not problem or time.time() > deadline:
            return problem
        time.sleep(1)


def _swarm_problems(nodes, managers, workers, labels):
    first = next(n for n in nodes if n['group'] == 'swarm_managers')
    try:
        with docker.APIClient(base_url=first['docker_host'], timeout=30) as client:
            seen = client.nodes()
    except (docker.errors.DockerException, OSError) as exc:
        return 'cannot list the nodes on %s: %s' % (first['name'], exc)

    def hostname(node):
        return (node.get('Description') or {}).get('Hostname') or node['ID']
    roles = [n['Spec']['Role'] for n in seen]
    problems = []
    if (roles.count('manager'), roles.count('worker')) != (managers, workers):
        problems.append('%d managers, %d workers' % (roles.count('manager'), roles.count('worker')))
    not_ready = [hostname(n) for n in seen if n['Status']['State'] != 'ready']
    if not_ready:
        problems.append('not ready: %s' % ', '.join(not_ready))
    for node in seen:
        wanted = (labels or {}).get(hostname(node), {})
        if any(node['Spec'].get('Labels', {}).get(k) != v for k, v in wanted.items()):
            problems.append('labels missing on %s' % hostname(node))
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
        seconds, proc, cpu = timed(['bash', FLOOR_SCRIPT], stdin=lines)
        return Run(seconds, proc.returncode == 0, error=proc.stderr.strip()[-1500:] if proc.returncode else '', cpu=cpu)

    def stand_up(self, reps, forks=5):
        """P1 (floor, peer, and site.yml by each of its paths from bare
        engines) and P2 (each path's site.yml again on the cluster it formed)."""
        runs = dict((key, []) for key in P1_VARIANTS + tuple('%s rerun' % path for path in PATHS))
        managers, workers = P1_SHAPE
        for rep in range(reps):
            for variant in P1_VARIANTS:
                self.log('  P1 rep %d/%d: %s' % (rep + 1, reps, variant))
                nodes = self._fresh(managers, workers)
                self._sample_memory('idle engine')
                labels, labels_inventory = self._labels_inventory(nodes)
                if variant == 'floor':
                    run = self.floor(nodes, labels)
                elif variant == 'peer':
                    run = playbook(PEER_PLAYBOOK, [self.lab.inventory, labels_inventory], forks)
                else:
                    run = playbook(SITE, [self.lab.inventory, labels_inventory], forks, PATHS[variant])
                runs[variant].append(self._verified(run, nodes, managers, workers, labels))
                self._sample_memory('formed swarm')
                if variant in PATHS:
                    self.log('  P2 rep %d/%d: site.yml again, %s' % (rep + 1, reps, variant))
                    runs['%s rerun' % variant].append(self._verified(
                        playbook(SITE, [self.lab.inventory, labels_inventory], forks, PATHS[variant]),
                        nodes, managers, workers, labels))
        seconds = dict((k, [r.seconds if r.ok else None for r in v]) for k, v in runs.items())
        p1 = {'case': 'P1', 'what': 'stand-up %d+%d with labels, forks %d' % (managers, workers, forks),
              'variants': _variants(runs, P1_VARIANTS),
              'ratios': {'role path/floor': ratios(seconds['role path'], seconds['floor']),
                         'role path/peer': ratios(seconds['role path'], seconds['peer']),
                         'controller/floor': ratios(seconds['controller'], seconds['floor']),
                         'controller/peer': ratios(seconds['controller'], seconds['peer'])},
              'goals': {'role path/floor': ['<=', 1.5], 'role path/peer': ['<', 1.0],
                        'controller/floor': ['<=', 1.5]},
              'task_rounds': dict((path, _task_rounds(runs[path])) for path in PATHS),
              'task_rounds_goal': ['<=', TASK_ROUNDS_GOAL]}
        rows = [p1]
        for path in PATHS:
            rerun = runs['%s rerun' % path]
            changed = [r.changed for r in rerun]
            rows.append({'case': 'P2', 'path': path, 'what': 'site.yml again, %s, forks %d' % (path, forks),
                         'variants': _variants({'first run': runs[path], 'rerun': rerun}, ('first run', 'rerun')),
                         'ratios': {'rerun/first run': ratios(seconds['%s rerun' % path], seconds[path])},
                         'goals': {'rerun/first run': ['<=', 0.4]} if path == 'role path' else {},
                         'changed': changed,
                         'changed_goal_met': bool(changed) and all(c == 0 for c in changed)})
        return rows

    # -- P3 ---------------------------------------------------------------
    def _join(self, path, size, forks, memory_key):
        """Fresh engines; the managers formed by ``path``; engines for
        ``size`` workers added; one timed site.yml run by ``path`` joins
        them, with the memory sampled and the CPU of the first manager's
        engine and of all engines (dockerd process trees) read before and
        after."""
        self._fresh(P3_MANAGERS, 0)
        formed = playbook(SITE, [self.lab.inventory], forks, PATHS[path])
        if not formed.ok:
            formed.error = 'forming the managers: ' + formed.error
            return self._verified(formed, [], 0, 0)
        self.lab.up(P3_MANAGERS, size)
        nodes = self.lab.status()
        pid = next(n for n in nodes if n['group'] == 'swarm_managers').get('pid')
        pids = [n['pid'] for n in nodes if n.get('pid')]
        cpu_before = cpu_seconds(pid) if pid else None
        engines_before = sum(cpu_seconds(each) for each in pids)
        with MemorySampler(self, memory_key):
            run = playbook(SITE, [self.lab.inventory], forks, PATHS[path])
        if cpu_before is not None:
            cpu = cpu_seconds(pid) - cpu_before
            run.extra['manager_cpu_seconds'] = round(cpu, 2)
            run.extra['manager_cpu_percent'] = round(100.0 * cpu / run.seconds, 1) if run.seconds else None
        run.extra['engines_cpu_seconds'] = round(sum(cpu_seconds(each) for each in pids) - engines_before, 2)
        return self._verified(run, nodes, P3_MANAGERS, size)

    def scale(self, reps, sizes=P3_SIZES, large=P3_LARGE, forks=50):
        """P3: for each path, the managers formed first, then engines for N
        workers added and site.yml run once to join them (the timed run);
        then, unless ``large`` is 0, one run of the controller path joining
        ``large`` workers."""
        small, big = sizes
        runs = dict(((path, size), []) for path in PATHS for size in sizes)
        for rep in range(reps):
            for path in PATHS:
                for size in sizes:
                    self.log('  P3 rep %d/%d: %s joins %d workers' % (rep + 1, reps, path, size))
                    runs[path, size].append(self._join(path, size, forks,
                                                       'during the %d-worker join, %s' % (size, path)))
        rows = []
        key = '%d workers/%d workers' % (big, small)
        for path in PATHS:
            seconds = dict((size, [r.seconds if r.ok else None for r in runs[path, size]]) for size in sizes)
            rows.append({'case': 'P3', 'path': path,
                         'what': 'site.yml joins workers to %d managers, %s, forks %d' % (P3_MANAGERS, path, forks),
                         'variants': _variants(dict(('%d workers' % size, runs[path, size]) for size in sizes),
                                               ['%d workers' % size for size in sizes]),
                         'ratios': {key: ratios(seconds[big], seconds[small])},
                         'goals': {key: ['<=', P3_GOALS[path]]},
                         'manager_cpu': _manager_cpu(runs[path, big])})
        if large:
            path = 'controller'
            self.log('  P3 once: %s joins %d workers' % (path, large))
            run = self._join(path, large, forks, 'during the %d-worker join, %s' % (large, path))
            baseline = next(row for row in rows if row['path'] == path)['variants']['%d workers' % small]
            key = '%d workers/%d workers' % (large, small)
            rows.append({'case': 'P3', 'path': path,
                         'what': 'site.yml joins workers to %d managers, %s, one run' % (P3_MANAGERS, path),
                         'variants': {'%d workers' % large: _variants({'run': [run]}, ['run'])['run'],
                                      '%d workers' % small: baseline},
                         'ratios': {key: ratios([run.seconds if run.ok else None], [baseline.get('median')])},
                         'goals': {},
                         'manager_cpu': _manager_cpu([run])})
        return rows

    # -- P4 ---------------------------------------------------------------
    def rolling(self):
        """P4, once: playbooks/upgrade.yml moves containerd from the older to
        the newer of Debian bookworm's two versions on a 3+2 host-kind lab
        (tests/integration/upgrade_ground.py: local APT repository, a
        3-replica dnsrr service and a client task on its overlay network,
        the managers polled twice a second), against the floor: the sum of
        each engine's own restart-until-Ready time (systemctl restart, one
        node at a time, no load), measured on the same lab just before."""
        import upgrade_ground as ground  # tests/integration, on the path below
        from labkit import LabHandle
        what = 'rolling containerd upgrade of 3+2 under load (upgrade.yml vs the engines\' own restarts)'
        reason = ground.fetch_debs()
        if reason:
            return [{'case': 'P4', 'what': what, 'variants': {}, 'ratios': {}, 'goals': {}, 'note': 'not run: ' + reason}]
        self.log('P4: fresh host-kind lab 3+2, local APT repository, swarm')
        self.lab.fresh(P4_SHAPE[0], P4_SHAPE[1], kind='host')
        lab = LabHandle(self.lab.name, 'host', P4_SHAPE[0], P4_SHAPE[1], self.lab.inventory)
        lab.status()
        lab.test_image = lab.json('caps')['test_image']
        ground.install_repo(lab)
        ground.form_swarm(lab)
        self.log('P4: the floor (each engine restarted by hand until Ready)')
        restarts = dict((name, ground.engine_restart_seconds(lab, name)) for name in _upgrade_order(lab))
        floor = Run(sum(restarts.values()), True)
        base = os.path.join(self.workdir, 'p4-daemon.json')
        with open(base, 'w') as handle:
            json.dump({'all': {'hosts': dict((n, {'engine_daemon_options': {'storage-driver': 'overlay2'}})
                                             for n in lab.names())}}, handle)
        self.log('P4: upgrade.yml under load')
        load = ground.Load(lab)
        load.start()
        with ground.ManagerPoll(lab) as poll:
            run = playbook(UPGRADE, [lab.inventory, base], forks=5,
                           extra_vars={'engine_containerd_version': ground.CONTAINERD_NEW})
            requests = load.stop(at_least=1000)
        quorum = poll.summary()
        upgraded = all(ground.versions(lab, n)[0].get('containerd') == ground.CONTAINERD_NEW for n in lab.names())
        if run.ok and not upgraded:
            run.ok, run.error = False, 'containerd not upgraded on every node'
        if not run.ok:
            self.log('    ! %s' % run.error)
        self.log('    P4: %.1fs (floor %.1fs), %d of %d requests failed, quorum held at every poll: %s'
                 % (run.seconds, floor.seconds, requests['failed'], requests['total'], quorum['majority_up_at_every_poll']))
        return [{'case': 'P4', 'what': what,
                 'variants': _variants({'upgrade.yml': [run], 'floor': [floor]}, ['upgrade.yml', 'floor']),
                 'ratios': {'upgrade.yml/floor': ratios([run.seconds if run.ok else None], [floor.seconds])},
                 'goals': {'upgrade.yml/floor': ['<=', P4_GOAL]},
                 'restarts': dict((k, round(v, 2)) for k, v in restarts.items()),
                 'load': requests, 'quorum': quorum,
                 'load_goal_met': run.ok and requests['failed'] == 0 and quorum['majority_up_at_every_poll']}]

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
    """{variant: {seconds: summary, cpu_seconds: summary (the command's own
    processes, see bench.run.timed), runs: [...]}} in the given order."""
    return dict((name, dict(summary([r.seconds for r in runs[name] if r.ok]) or {'median': None},
                            cpu_seconds=summary([r.cpu for r in runs[name] if r.ok and r.cpu is not None]),
                            runs=[r.as_dict() for r in runs[name]])) for name in order)


def _task_rounds(runs):
    """{'tasks': n, 'ran': m} of the last run that worked (the counts do not
    change between repetitions of one path), None when none worked."""
    done = [r for r in runs if r.ok and r.tasks is not None]
    return {'tasks': done[-1].tasks, 'ran': done[-1].ran} if done else None


def _manager_cpu(runs):
    """CPU seconds of the first manager's engine during the runs and as a
    percentage of their wall time, and of all the lab's engines
    (``engines``); None when not measured."""
    done = [r.extra for r in runs if r.ok and 'manager_cpu_seconds' in r.extra]
    if not done:
        return None
    return {'seconds': summary([d['manager_cpu_seconds'] for d in done]),
            'percent_of_wall': summary([d['manager_cpu_percent'] for d in done]),
            'engines': summary([d['engines_cpu_seconds'] for d in done])}


def _upgrade_order(lab):
    """The nodes in upgrade.yml's order: managers (the leader last), then workers."""
    with docker.APIClient(base_url=lab.node('manager1')['docker_host'], timeout=30) as client:
        leader = [n['Description']['Hostname'] for n in client.nodes() if (n.get('ManagerStatus') or {}).get('Leader')]
    managers = lab.names('swarm_managers')
    return [m for m in managers if m not in leader] + [m for m in managers if m in leader] + lab.names('swarm_workers')


def tempdir():
    return tempfile.mkdtemp(prefix='nsbench-')
