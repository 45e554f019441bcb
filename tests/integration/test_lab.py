"""The lab itself (tests/lab/lab): real Docker engines as separate hosts.

Engine kind: the module's `lab` (3 managers + 2 workers unless configured).
Host kind: `lab_host` (1 manager + 1 worker, systemd + dockerd per node).
Both are shared by the tests of their kind, scaling included; the last test
of each kind takes its lab down and compares the machine with a snapshot
taken before the lab came up (LAB_SNAPSHOT_FIRST).  Labs never touch each
other: small labs of their own (`lab_factory`) stand for other people's.
"""

import json
import os
import subprocess
import sys
import textwrap

import docker
import pytest
import yaml

from labkit import OWNER, form_swarm, http_get, lab_json, lab_leftovers, other_lab_names, reap_stale_labs, wait_for
from nslab import client, proc
from nslab.state import read_state

# the engine-kind tests below are about the engine kind whatever NSLAB_TEST_KIND says
pytestmark = pytest.mark.lab_shape(kind='engine')
LAB_SNAPSHOT_FIRST = True

NODE_KEYS = {'name', 'kind', 'group', 'address', 'docker_host', 'running', 'ipvs', 'esp'}
VENV_BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CI_RUN = os.path.join(ROOT, '.ci', 'run')


def engines(handle):
    """Each node's engine process, for "was it touched?" checks."""
    return dict((n['name'], (n['pid'], n['started_at'])) for n in handle.status())


# --------------------------------------------------------------------------
# engine kind

def test_status_lists_every_node(lab):
    nodes = lab.status()
    assert isinstance(nodes, list)
    expected = ['manager%d' % i for i in range(1, lab.managers + 1)] + \
               ['worker%d' % i for i in range(1, lab.workers + 1)]
    assert sorted(n['name'] for n in nodes) == sorted(expected)
    subnet = None
    for n in nodes:
        assert NODE_KEYS <= set(n), n
        assert n['kind'] == 'engine'
        assert n['group'] == ('swarm_managers' if n['name'].startswith('manager') else 'swarm_workers')
        assert n['running'] is True, n
        assert n['docker_host'].startswith('unix:///run/nslab/%s/' % lab.name)
        assert len(n['docker_host']) - len('unix://') < 100
        assert n['ipvs'] is lab.caps['ipvs'] and n['esp'] is lab.caps['esp']
        net = n['address'].rsplit('.', 1)[0]
        assert net.startswith('10.231.')
        assert subnet in (None, net)
        subnet = net
        assert int(n['address'].rsplit('.', 1)[1]) >= 11
    assert len({n['address'] for n in nodes}) == len(nodes)


def test_caps_are_reported(lab):
    caps = lab_json('caps', name=lab.name)
    assert isinstance(caps['ipvs'], bool) and isinstance(caps['esp'], bool)
    assert caps['reason']
    assert caps['test_image'] == lab.test_image
    human = lab.cli('status').stdout
    assert 'routing mesh' in human and 'encrypted overlays' in human
    for n in lab.nodes:
        assert n['name'] in human


def test_up_again_changes_nothing(lab):
    before = lab.status()
    out = lab.cli('up', '--managers', lab.managers, '--workers', lab.workers).stdout
    assert '0 started' in out
    assert lab.status() == before
    assert all(n['pid'] for n in before)


def test_each_node_is_its_own_engine(lab):
    ids = set()
    for n in lab.status():
        client = lab.client(n['name'])
        info = client.info()
        assert info['Name'] == n['name']
        assert info['Driver'] == 'overlay2'
        assert info['DockerRootDir'].startswith('/var/lib/nslab/%s/%s/' % (lab.name, n['name']))
        ids.add(info['ID'])
        assert client.images.get(lab.test_image)
    assert len(ids) == len(lab.nodes)


def test_inventory_describes_the_nodes(lab):
    with open(lab.inventory) as f:
        inv = yaml.safe_load(f)
    children = inv['all']['children']
    assert set(children) >= {'swarm_managers', 'swarm_workers'}
    for n in lab.nodes:
        hv = children[n['group']]['hosts'][n['name']]
        assert hv['docker_host'] == n['docker_host']
        assert hv['ansible_host'] == n['address'] == hv['lab_address']
        assert hv['lab_kind'] == 'engine'
        assert hv['ansible_connection'] == 'local'
        assert hv['ansible_python_interpreter'] == '{{ ansible_playbook_python }}'
    assert lab.cli('inventory').stdout.strip() == lab.inventory
    # Ansible reads it the same way
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-inventory'), '-i', lab.inventory, '--list'],
                          capture_output=True, text=True, check=True)
    listed = json.loads(proc.stdout)
    assert sorted(listed['swarm_managers']['hosts']) == sorted(lab.names('swarm_managers'))
    assert sorted(listed['swarm_workers']['hosts']) == sorted(lab.names('swarm_workers'))


def test_labs_started_by_hand_get_inventories_of_their_own():
    """Without NSLAB_INVENTORY, only the default lab writes
    inventories/lab/hosts.yml: a lab of another name never overwrites it."""
    def default_path(**env):
        environ = dict((k, v) for k, v in os.environ.items() if k not in ('NSLAB_NAME', 'NSLAB_INVENTORY'))
        return subprocess.run([os.path.join(ROOT, 'tests', 'lab', 'lab'), 'inventory'], env=dict(environ, **env),
                              capture_output=True, text=True, check=True).stdout.strip()
    labs = os.path.join(ROOT, 'inventories', 'lab')
    assert default_path() == os.path.join(labs, 'hosts.yml')
    assert default_path(NSLAB_NAME='zz9') == os.path.join(labs, 'zz9.yml')
    assert default_path(NSLAB_NAME='zz9', NSLAB_INVENTORY='/tmp/zz9.yml') == '/tmp/zz9.yml'


def test_nodes_reach_each_other(lab):
    """Every node runs the test image and reaches every other node."""
    addrs = [n['address'] for n in lab.nodes]
    for n in lab.nodes:
        out = lab.client(n['name']).containers.run(
            lab.test_image, ['sh', '-c', 'for a in %s; do ping -c1 -W2 $a >/dev/null || echo FAIL $a; done'
                             % ' '.join(addrs)], remove=True)
        assert b'FAIL' not in out, (n['name'], out)


def test_engine_nodes_have_no_way_out(lab):
    """No default route and a resolver that fails at once: nothing leaves the machine."""
    for n in lab.nodes:
        namespace = '%s-%s' % (lab.name, n['name'])
        routes = subprocess.run(['ip', '-n', namespace, 'route'], capture_output=True, text=True,
                                check=True).stdout
        assert routes.strip() and 'default' not in routes, routes
        with open('/etc/netns/%s/resolv.conf' % namespace) as handle:
            assert handle.read().split() == ['nameserver', '127.0.0.1']


@pytest.fixture(scope='module')
def swarm(lab):
    return form_swarm(lab, lab.names())


def test_swarm_forms_with_every_node_ready(lab, swarm):
    nodes = swarm.nodes.list()
    assert len(nodes) == len(lab.nodes)
    assert all(x.attrs['Status']['State'] == 'ready' for x in nodes)
    managers = [x for x in nodes if x.attrs['Spec']['Role'] == 'manager']
    assert sorted(x.attrs['Description']['Hostname'] for x in managers) == sorted(lab.names('swarm_managers'))


def test_service_answers_on_a_workers_host_port(lab, swarm):
    worker = (lab.names('swarm_workers') or lab.names())[-1]
    service = swarm.services.create(
        lab.test_image, name='labweb', mode=docker.types.ServiceMode('replicated', 1),
        constraints=['node.hostname == %s' % worker],
        endpoint_spec=docker.types.EndpointSpec(ports=[{'Protocol': 'tcp', 'TargetPort': 80,
                                                        'PublishedPort': 18080,
                                                        'PublishMode': 'host'}]))
    try:
        url = 'http://%s:18080/' % lab.node(worker)['address']
        status, body = wait_for('GET %s' % url, lambda: http_get(url), timeout=60)
        assert status == 200
        # the page is the task container's hostname (its ID); the manager may
        # learn that the task runs a moment after the container answers
        wait_for('the task answering to be reported running', lambda: body.strip() in [
            t['Status']['ContainerStatus']['ContainerID'][:12] for t in service.tasks()
            if t['Status']['State'] == 'running'], timeout=30)
    finally:
        service.remove()


def test_routing_mesh(lab, swarm):
    if not lab.caps['ipvs']:
        pytest.skip('routing mesh needs IPVS: %s' % lab.caps['reason'])
    service = swarm.services.create(
        lab.test_image, name='labmesh', mode=docker.types.ServiceMode('replicated', 1),
        endpoint_spec=docker.types.EndpointSpec(ports={18081: 80}))
    try:
        for n in lab.nodes:
            url = 'http://%s:18081/' % n['address']
            assert wait_for('GET %s' % url, lambda: http_get(url), timeout=60)[0] == 200
    finally:
        service.remove()


def test_stop_and_start_a_node(lab):
    node = lab.names()[-1]
    lab.stop(node)
    assert lab.node(node)['running'] is False
    assert all(n['running'] for n in lab.nodes if n['name'] != node)
    lab.start(node)
    assert lab.node(node)['running'] is True
    assert lab.client(node).info()['Name'] == node


def test_up_with_more_workers_adds_without_restarting(lab):
    before = {n['name']: n for n in lab.status()}
    added = 'worker%d' % (lab.workers + 1)
    lab.up(workers=lab.workers + 1)
    after = {n['name']: n for n in lab.nodes}
    assert set(after) == set(before) | {added}
    for name in before:
        assert after[name]['pid'] == before[name]['pid']
        assert after[name]['started_at'] == before[name]['started_at']
        assert after[name]['address'] == before[name]['address']
    assert after[added]['running']
    assert lab.client(added).info()['Name'] == added
    # a smaller shape never removes nodes
    out = lab.cli('up', '--managers', 1, '--workers', 1).stdout
    assert 'up never removes nodes' in out
    assert {n['name'] for n in lab.status()} == set(after)
    with open(lab.inventory) as f:
        inv = yaml.safe_load(f)
    assert set(inv['all']['children']['swarm_workers']['hosts']) == set(lab.names('swarm_workers'))
    assert added in lab.names('swarm_workers')


# --------------------------------------------------------------------------
# labs never touch each other

def test_ci_cleanup_takes_down_only_the_labs_its_run_created(lab, lab_factory, tmp_path):
    """A CI run (.ci/run around a job) on a machine where others run labs: it
    creates one lab, brings up again a lab someone else started before it,
    and someone else starts a lab while it runs.  Its cleanup takes down its
    own lab and touches neither of the others."""
    before = engines(lab)
    state_before = read_state(lab.name)
    made = lab_factory('cm', 0, 0, up=False)        # created by the run
    other = lab_factory('co', 1, 0, up=False)       # someone else's, started during the run
    other.owner = 'someone-else'
    job = tmp_path / 'job.sh'
    job.write_text(textwrap.dedent('''\
        set -eu
        lab=%(lab)s
        NSLAB_NAME=%(made)s NSLAB_INVENTORY=%(made_inv)s "$lab" up --managers 0 --workers 0
        NSLAB_NAME=%(a)s NSLAB_INVENTORY=%(a_inv)s "$lab" up --managers %(m)d --workers %(w)d
        env -u NSLAB_RECORD NSLAB_OWNER=%(o_owner)s NSLAB_NAME=%(o)s NSLAB_INVENTORY=%(o_inv)s \\
            "$lab" up --managers 1 --workers 0
        ''' % {'lab': client.LAB, 'made': made.name, 'made_inv': made.inventory,
               'a': lab.name, 'a_inv': lab.inventory, 'm': lab.managers, 'w': lab.workers,
               'o': other.name, 'o_inv': other.inventory, 'o_owner': other.owner}))
    env = dict(os.environ, NSLAB_OWNER='ci-run-%d' % os.getpid())
    env.pop('NSLAB_RECORD', None)
    run = subprocess.run([CI_RUN, 'bash', str(job)], env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    # the run's own lab: gone, nothing of it left
    assert not made.exists()
    assert lab_leftovers(made.name) == []
    # the lab started before the run (and brought up by it): untouched, still its maker's
    assert engines(lab) == before
    assert 'lab %s: %d nodes' % (lab.name, len(before)) in run.stdout and '0 started' in run.stdout
    state_after = read_state(lab.name)
    assert [state_after[k] for k in ('owner', 'instance', 'created')] == \
        [state_before[k] for k in ('owner', 'instance', 'created')]
    assert state_after['owner'] == OWNER
    # the lab someone else started while the run went on: running, still theirs
    assert [n['running'] for n in other.status()] == [True]
    assert read_state(other.name)['owner'] == 'someone-else'
    # a down for another creation of the lab leaves it alone
    assert 'left alone' in lab.cli('down', '--instance', 'f' * 16).stdout
    assert engines(lab) == before


def test_down_ends_only_processes_the_lab_started(lab_factory):
    """Processes that name a lab's paths but that the lab did not start (an
    operator tailing an engine's log, a script handed a socket path) live on
    when the lab goes down; its engine does not."""
    gone = lab_factory('dp', 1, 0)
    engine = gone.node('manager1')
    bystanders = [
        subprocess.Popen(['tail', '-f', '/var/lib/nslab/%s/manager1/dockerd.log' % gone.name],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)',
                          '/run/nslab/%s/manager1/docker.sock' % gone.name]),
    ]
    try:
        down = gone.down()
        assert down.returncode == 0, down.stderr
        assert not proc.is_running(engine['pid'], engine['started_at'])
        assert [b.poll() for b in bystanders] == [None, None]
    finally:
        for b in bystanders:
            b.kill()
            b.wait()


def test_stale_lab_reaper_takes_only_labs_of_ended_test_runs(lab_factory, monkeypatch):
    """The fixtures take down labs whose recorded owner is a test run that
    has ended, and never a lab made by hand or by a run still going."""
    monkeypatch.delenv('NSLAB_OWNER', raising=False)
    ended = subprocess.Popen(['sleep', '300'])
    going = subprocess.Popen(['sleep', '300'])
    try:
        dead_run = lab_factory('rd', 0, 0, up=False)
        dead_run.owner = client.process_owner('pytest', ended.pid)
        live_run = lab_factory('rl', 0, 0, up=False)
        live_run.owner = client.process_owner('pytest', going.pid)
        by_hand = lab_factory('rh', 0, 0, up=False)
        by_hand.owner = None
        ended.kill()
        ended.wait()
        for handle in (dead_run, live_run, by_hand):
            handle.cli('up', '--managers', 0, '--workers', 0)
        assert by_hand.info()['owner'].startswith('cli:')
        reap_stale_labs()
        assert not dead_run.exists()
        assert live_run.exists() and by_hand.exists()
    finally:
        for p in (ended, going):
            p.kill()
            p.wait()


def test_down_leaves_nothing_behind(lab, swarm):
    """The last test on the module's lab: give the engines something to clean
    up (a swarm, an overlay network with a service -- load-balancer
    sandboxes --, a container with a published port), take the lab down and
    compare the machine with the snapshot taken before it came up."""
    swarm.networks.create('labnet', driver='overlay', attachable=True)
    swarm.services.create(lab.test_image, name='dnweb', networks=['labnet'],
                          mode=docker.types.ServiceMode('global'),
                          endpoint_spec=docker.types.EndpointSpec(mode='dnsrr'))
    members = len(swarm.nodes.list())
    wait_for('dnweb running everywhere',
             lambda: len([t for t in swarm.services.get('dnweb').tasks()
                          if t['Status']['State'] == 'running']) == members)
    lab.client(lab.names('swarm_workers')[0]).containers.run(lab.test_image, detach=True,
                                                             ports={'80/tcp': 18082})
    assert os.path.exists(lab.inventory)
    assert other_lab_names(set()) >= {lab.name}
    down = lab.down()
    assert down.returncode == 0, down.stderr
    assert not os.path.exists(lab.inventory)
    lab.snapshotter.assert_unchanged(lab.before)


# --------------------------------------------------------------------------
# host kind

def test_host_nodes_are_listed(lab_host):
    nodes = lab_host.status()
    assert sorted(n['name'] for n in nodes) == sorted(
        ['manager%d' % i for i in range(1, lab_host.managers + 1)] +
        ['worker%d' % i for i in range(1, lab_host.workers + 1)])
    for n in nodes:
        assert n['kind'] == 'host' and n['running'] is True
        assert n['docker_host'] == 'tcp://%s:2375' % n['address']


def test_host_nodes_boot_systemd_with_their_own_overlay2_dockerd(lab_host):
    base = docker.DockerClient(base_url=lab_host.base_url)
    for n in lab_host.nodes:
        c = base.containers.get(lab_host.container(n['name']))
        comm = c.exec_run(['cat', '/proc/1/comm']).output.decode().strip()
        assert comm == 'systemd'
        state = wait_for('systemd up on %s' % n['name'], lambda: [
            s for s in [c.exec_run(['systemctl', 'is-system-running']).output.decode().strip()]
            if s in ('running', 'degraded')])[0]
        assert state == 'running', c.exec_run(['systemctl', '--failed']).output.decode()
        info = lab_host.client(n['name']).info()
        assert info['Name'] == n['name']
        assert info['Driver'] == 'overlay2'
        assert lab_host.client(n['name']).images.get(lab_host.test_image)


def test_host_nodes_have_no_way_out(lab_host):
    base = docker.DockerClient(base_url=lab_host.base_url)
    for n in lab_host.nodes:
        c = base.containers.get(lab_host.container(n['name']))
        routes = c.exec_run(['ip', 'route']).output.decode()
        assert 'default' not in routes, routes
        assert c.exec_run(['cat', '/etc/resolv.conf']).output.decode().split() == ['nameserver', '127.0.0.1']


def test_host_inventory_uses_the_docker_connection(lab_host):
    with open(lab_host.inventory) as f:
        inv = yaml.safe_load(f)
    for n in lab_host.nodes:
        hv = inv['all']['children'][n['group']]['hosts'][n['name']]
        assert hv['ansible_connection'] == 'community.docker.docker'
        assert hv['ansible_host'] == lab_host.container(n['name'])
        assert hv['ansible_docker_extra_args'] == '-H ' + lab_host.base_url
        assert hv['ansible_python_interpreter'] == '/usr/bin/python3'
        assert hv['docker_host'] == 'unix:///var/run/docker.sock'
        assert hv['lab_address'] == n['address'] and hv['lab_kind'] == 'host'
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible'), 'all', '-i', lab_host.inventory,
                           '-m', 'ansible.builtin.command', '-a', 'hostname'],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for n in lab_host.nodes:
        assert '%s | CHANGED | rc=0 >>\n%s' % (n['name'], n['name']) in proc.stdout


def test_host_nodes_form_a_swarm(lab_host):
    mgr = form_swarm(lab_host, lab_host.names())
    assert len(mgr.nodes.list()) == len(lab_host.nodes)
    worker = (lab_host.names('swarm_workers') or lab_host.names())[-1]
    service = mgr.services.create(
        lab_host.test_image, name='hostweb', constraints=['node.hostname == %s' % worker],
        endpoint_spec=docker.types.EndpointSpec(ports=[{'Protocol': 'tcp', 'TargetPort': 80,
                                                        'PublishedPort': 18083,
                                                        'PublishMode': 'host'}]))
    try:
        url = 'http://%s:18083/' % lab_host.node(worker)['address']
        assert wait_for('GET %s' % url, lambda: http_get(url), timeout=60)[0] == 200
    finally:
        service.remove()


def test_host_down_leaves_nothing_behind(lab_host):
    """The last host-kind test: a swarm and a container with a published
    port on the module's host lab, then down and the snapshot comparison."""
    form_swarm(lab_host, lab_host.names())
    lab_host.client(lab_host.names('swarm_workers')[0]).containers.run(lab_host.test_image, detach=True,
                                                                       ports={'80/tcp': 18084})
    down = lab_host.down()
    assert down.returncode == 0, down.stderr
    lab_host.snapshotter.assert_unchanged(lab_host.before)
