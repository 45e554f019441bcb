"""The ground for rolling upgrades on a host-kind lab (tests/integration/
test_upgrade.py and the benchmark's P4).

* A local APT repository: host-kind nodes have no route out, so the two
  containerd versions Debian bookworm carries (CONTAINERD_OLD from
  bookworm-security, CONTAINERD_NEW from bookworm) and python3-apt (which
  Ansible's apt module needs and the node image lacks) are downloaded once
  on this machine with `apt-get download` into the lab's cache
  (/var/cache/nslab/upgrade-debs), indexed there, and copied onto every node
  as its only APT source (`file:` repository, trusted).
* The nodes start on CONTAINERD_OLD, installed and held before the swarm is
  formed (with the SDK, through the lab's engine sockets).
* Load: a 3-replica busybox httpd service (the lab's test image, endpoint
  mode dnsrr on an overlay network) and a client task on that network that
  resolves tasks.<service> before every request, sends it to the first
  address and, when that fails within 2 s, once to the next (busybox nc:
  the static busybox's wget crashes in its name service lookups). Every request
  is a line in a file on the node the client runs on (the client moves when
  its node is drained: each instance has its own file); ``Load.result``
  gathers them from every node.
* ``ManagerPoll``: a thread reading every manager's engine twice a second
  (engines up, the leader as the managers see it).
"""

import glob
import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBS = '/var/cache/nslab/upgrade-debs'
CONTAINERD_OLD = '1.6.20~ds1-1+deb12u2'
CONTAINERD_NEW = '1.6.20~ds1-1+deb12u3'
DOWNLOADS = ('containerd=' + CONTAINERD_OLD, 'containerd=' + CONTAINERD_NEW,
             'python3-apt', 'python-apt-common', 'distro-info-data')
NODE_REPO = '/srv/nslab-upgrade-repo'
# daemon.json as the engine role writes it with engine_daemon_options {storage-driver: overlay2}
# (the lab's setting), so that the package upgrade is the only change of the first upgrade
ROLE_DAEMON_JSON = {'storage-driver': 'overlay2', 'log-driver': 'json-file', 'log-opts': {'max-size': '10m', 'max-file': '3'},
                    'live-restore': False}
SERVICE = 'upgweb'
CLIENT = 'upgclient'
NETWORK = 'upgnet'
CLIENT_DIR = '/srv/upgrade-client'
# the client: one line per request, "<uptime centiseconds> ok|retry|fail <address>", in
# CLIENT_DIR/<its container's hostname>.log on its node; it stops at the stop file or after
# MAX requests (bounded either way)
CLIENT_SCRIPT = r'''
trap 'exit 0' TERM INT
get() { printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $1 80 | head -1 | grep -q ' 200 '; }
out=/log/$(hostname).log; i=0
while [ $i -lt $MAX ] && [ ! -e /log/stop ]; do
  set -- $(nslookup tasks.$SVC 2>/dev/null | awk '/^Name:/ {n=1} n && /^Address/ {print $2}')
  t=$(cut -d' ' -f1 /proc/uptime | tr -d .)
  if [ $# -gt 0 ] && get $1; then echo "$t ok $1" >>$out
  elif [ $# -gt 1 ] && get $2; then echo "$t retry $2" >>$out
  else echo "$t fail ${1:-none},${2:-none}" >>$out; fi
  i=$((i+1)); usleep 50000
done
sleep 100000
'''


def fetch_debs():
    """The packages, once, into the lab's cache; None, or why they cannot be had."""
    os.makedirs(DEBS, exist_ok=True)
    want = [d.replace('=', '_').replace(':', '%3a') for d in DOWNLOADS]
    if all(glob.glob(os.path.join(DEBS, '%s*.deb' % w)) for w in want) and os.path.exists(os.path.join(DEBS, 'Packages')):
        return None
    proc = subprocess.run(['apt-get', 'download'] + list(DOWNLOADS), cwd=DEBS, capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        return 'the packages of the upgrade cannot be fetched (apt-get download: %s)' % proc.stderr.strip()[-300:]
    index = []
    for deb in sorted(glob.glob(os.path.join(DEBS, '*.deb'))):
        fields = subprocess.run(['dpkg-deb', '-f', deb], capture_output=True, text=True, check=True).stdout
        sha = subprocess.run(['sha256sum', deb], capture_output=True, text=True, check=True).stdout.split()[0]
        index.append('%sFilename: ./%s\nSize: %d\nSHA256: %s\n' % (fields, os.path.basename(deb), os.path.getsize(deb), sha))
    with open(os.path.join(DEBS, 'Packages.tmp'), 'w') as f:
        f.write('\n'.join(index))
    os.replace(os.path.join(DEBS, 'Packages.tmp'), os.path.join(DEBS, 'Packages'))
    return None


def _sh(*cmd, check=True, timeout=600):
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError('%s: rc %d\n%s%s' % (' '.join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


def node_sh(lab, node, script, check=True):
    """A shell script as root on a host-kind node (through the lab's base dockerd)."""
    return _sh('docker', '-H', lab.base_url, 'exec', lab.container(node), 'sh', '-c', script, check=check)


def install_repo(lab):
    """The repository on every node as its only APT source; python3-apt, and
    containerd CONTAINERD_OLD installed and held, daemon.json as the engine
    role writes it (as the role leaves a node with engine_containerd_version:
    CONTAINERD_OLD), before the swarm."""
    def one(node):
        _sh('docker', '-H', lab.base_url, 'cp', DEBS + '/.', '%s:%s' % (lab.container(node), NODE_REPO))
        node_sh(lab, node, 'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*'
                ' && echo "deb [trusted=yes] file:%s ./" >/etc/apt/sources.list.d/nslab-upgrade.list'
                ' && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --allow-downgrades'
                ' python3-apt containerd=%s >/dev/null && apt-mark hold docker.io containerd runc >/dev/null'
                ' && cat >/etc/docker/daemon.json <<EOF\n%s\nEOF\nsystemctl restart docker'
                % (NODE_REPO, CONTAINERD_OLD, json.dumps(ROLE_DAEMON_JSON, indent=2, sort_keys=True)))
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, lab.names()))


def versions(lab, node, packages=('containerd', 'docker.io')):
    """dpkg's truth on a node: {package: version}, and which are held."""
    out = node_sh(lab, node, "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' %s" % ' '.join(packages))
    found = dict((line.split()[0], line.split()[1]) for line in out.splitlines() if line.strip())
    held = set(line.split()[0] for line in out.splitlines() if line.split()[2:3] == ['hold'])
    return found, held


def form_swarm(lab):
    """manager1 initializes, the other managers join one at a time, then the workers."""
    import docker  # pylint: disable=import-outside-toplevel
    first = lab.client('manager1')
    if not first.info()['Swarm'].get('ControlAvailable'):
        first.swarm.init(advertise_addr=lab.node('manager1')['address'])
    tokens = first.api.inspect_swarm()['JoinTokens']
    remote = ['%s:2377' % lab.node('manager1')['address']]
    for name in lab.names():
        if name == 'manager1':
            continue
        engine = lab.client(name)
        if engine.info()['Swarm']['LocalNodeState'] == 'active':
            continue
        token = tokens['Manager' if lab.node(name)['group'] == 'swarm_managers' else 'Worker']
        engine.swarm.join(remote_addrs=remote, join_token=token, advertise_addr=lab.node(name)['address'])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = dict((n['Description']['Hostname'], n) for n in first.api.nodes())
            n = nodes.get(name)
            if n and n['Status']['State'] == 'ready' and (
                    lab.node(name)['group'] != 'swarm_managers'
                    or (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable'):
                break
            time.sleep(0.5)
    return docker


class Load:
    """The service and its client (see the module docstring)."""

    def __init__(self, lab, replicas=3, max_requests=20000):
        self.lab = lab
        self.replicas = replicas
        self.max_requests = max_requests

    def start(self):
        import docker  # pylint: disable=import-outside-toplevel
        api = self.lab.client('manager1').api
        for service in (CLIENT, SERVICE):   # those of an earlier run
            if api.services(filters={'name': service}):
                api.remove_service(service)
        for name in self.lab.names():
            node_sh(self.lab, name, 'rm -rf %s && mkdir -p %s' % (CLIENT_DIR, CLIENT_DIR))
        if not api.networks(names=[NETWORK]):
            api.create_network(NETWORK, driver='overlay', attachable=True)
        image = self.lab.test_image
        api.create_service(
            docker.types.TaskTemplate(docker.types.ContainerSpec(image), networks=[NETWORK]),
            name=SERVICE, mode=docker.types.ServiceMode('replicated', replicas=self.replicas),
            endpoint_spec=docker.types.EndpointSpec(mode='dnsrr'))
        self.wait_running(SERVICE, self.replicas)
        api.create_service(
            docker.types.TaskTemplate(
                docker.types.ContainerSpec(image, command=['sh', '-c', CLIENT_SCRIPT],
                                           env={'SVC': SERVICE, 'MAX': str(self.max_requests)},
                                           mounts=['%s:/log:rw' % CLIENT_DIR]),
                networks=[NETWORK]),
            name=CLIENT, mode=docker.types.ServiceMode('replicated', replicas=1))
        self.wait_running(CLIENT, 1)
        # the first requests answered: the load is on
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.lines():
            time.sleep(0.5)
        assert self.lines(), 'the client sent no request'

    def wait_running(self, service, count, timeout=120):
        api = self.lab.client('manager1').api
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = api.tasks(filters={'service': service, 'desired-state': 'running'})
            if sum(1 for t in tasks if t['Status']['State'] == 'running') >= count:
                return
            time.sleep(0.5)
        raise AssertionError('%s: fewer than %d tasks running after %ds' % (service, count, timeout))

    def lines(self):
        """Every request so far, from every node: [(node, file, centiseconds, outcome, address)]."""
        def one(node):
            out = node_sh(self.lab, node, 'cd %s && for f in *.log; do [ -e "$f" ] && sed "s|^|$f |" "$f"; done; true'
                          % CLIENT_DIR, check=False)
            rows = []
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[1].isdigit():
                    rows.append((node, parts[0], int(parts[1]), parts[2], parts[3]))
            return rows
        with ThreadPoolExecutor(8) as ex:
            return [row for rows in ex.map(one, self.lab.names()) for row in rows]

    def stop(self, at_least=0):
        """Stop the client (the stop file on every node), once it has sent
        ``at_least`` requests (it is bounded), and return the result."""
        while self.result()['total'] < min(at_least, self.max_requests):
            time.sleep(1)
        for name in self.lab.names():
            node_sh(self.lab, name, 'touch %s/stop' % CLIENT_DIR, check=False)
        return self.result()

    def result(self):
        rows = self.lines()
        by_file = {}
        for node, name, t, outcome, _addr in rows:
            by_file.setdefault((node, name), []).append((t, outcome))
        gap = 0
        for seq in by_file.values():
            seq.sort()
            good = [t for t, outcome in seq if outcome != 'fail']
            gap = max([gap] + [b - a for a, b in zip(good, good[1:])])
        return {'total': len(rows), 'failed': sum(1 for r in rows if r[3] == 'fail'),
                'failures': ['%s %s %.2f %s' % (r[0], r[1], r[2] / 100.0, r[4]) for r in rows if r[3] == 'fail'][:20],
                'retried': sum(1 for r in rows if r[3] == 'retry'), 'client_instances': len(by_file),
                'longest_gap_s': gap / 100.0}


class ManagerPoll:
    """Polls the managers' engines (the lab's sockets) twice a second: how many
    answer, and the leader the first answering one names ('' during an
    election). ``summary()`` after ``stop()``."""

    def __init__(self, lab, interval=0.5):
        self.lab = lab
        self.managers = lab.names('swarm_managers')
        self.interval = interval
        self.polls = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _one(self, name):
        import docker  # pylint: disable=import-outside-toplevel
        import requests  # pylint: disable=import-outside-toplevel
        try:
            # the engines' API version, so that no /version request comes first
            api = docker.APIClient(base_url=self.lab.node(name)['docker_host'], timeout=5, version='1.41')
            api.ping()
        except (requests.exceptions.Timeout, requests.exceptions.ReadTimeout):
            return name, 'slow', ''   # the engine is there, but busy (a loaded machine): not down
        except Exception:  # pylint: disable=broad-except  # refused: the engine is down
            return name, False, None
        try:
            leaders = [n['Description']['Hostname'] for n in api.nodes()
                       if (n.get('ManagerStatus') or {}).get('Leader')]
            return name, True, leaders[0] if leaders else ''
        except Exception:  # pylint: disable=broad-except  # no leader (election) or not a manager now
            return name, True, ''
        finally:
            api.close()

    def _run(self):
        with ThreadPoolExecutor(len(self.managers)) as ex:
            while not self._stop.is_set():
                t = time.monotonic()
                answers = list(ex.map(self._one, self.managers))
                up = [a for a in answers if a[1]]
                leaders = set(a[2] for a in up if a[2])
                self.polls.append({'t': t, 'up': len(up), 'slow': sum(1 for a in up if a[1] == 'slow'),
                                   'leader': sorted(leaders)[0] if leaders else ''})
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def summary(self):
        majority = len(self.managers) // 2 + 1
        return {'polls': len(self.polls),
                'majority_up_at_every_poll': all(p['up'] >= majority for p in self.polls),
                'polls_without_majority': sum(1 for p in self.polls if p['up'] < majority),
                'election_polls': sum(1 for p in self.polls if p['up'] >= majority and not p['leader']
                                      and not p['slow']),
                'slow_polls': sum(1 for p in self.polls if p['slow']),
                'leader_at_end': self.polls[-1]['leader'] if self.polls else ''}


def engine_restart_seconds(lab, node):
    """The floor for one node: its dockerd restarted by hand (systemctl) until
    its own engine is an active swarm node again and, for a manager, answers
    for the cluster (a leader elected)."""
    t0 = time.monotonic()
    node_sh(lab, node, 'systemctl restart docker')
    manager = node in lab.names('swarm_managers')
    while True:
        try:
            api = lab.client(node, timeout=2).api
            if api.info()['Swarm']['LocalNodeState'] == 'active':
                mine = [n for n in api.nodes() if n['Description']['Hostname'] == node] if manager else [{}]
                if mine and (not manager or (mine[0].get('ManagerStatus') or {}).get('Reachability') == 'reachable'):
                    return time.monotonic() - t0
        except Exception:  # pylint: disable=broad-except  # not up yet, or no leader yet
            pass
        time.sleep(0.1)


def write_json(path, data):
    with open(path, 'w') as f:
        json.dump(data, f)
