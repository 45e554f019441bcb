"""docker_swarm_info, docker_swarm_node and the shared client on a real swarm:
clean failures for bad connections and options before anything changes,
true messages about manager counts, one node name resolution (down nodes,
ID prefixes, hostnames two nodes share), role changes that return only once
the node's own engine has switched, and a swarm that lost quorum reported
as such instead of as a dead engine.

One lab of 3 managers + 2 workers (engine nodes) for the whole file; the
tests run in order and each leaves the cluster as the next one expects.
Assertions about the cluster read the engines (/info, /nodes, the node's
certificate where its engine keeps it), not only the modules' results.
"""

import os
import re
import signal
import socket
import subprocess
import time

import docker
import pytest

import ansible_run
from ansible_run import module, ok

pytestmark = pytest.mark.lab_shape(managers=3, workers=2)

MAIN = 'manager1'
# what a message must not contain: Python's own representation of an error
PYTHON_TEXT = re.compile(r"Errno|object at 0x|[A-Za-z]+(Error|Exception)\(|Traceback|invalid literal|"
                         r"ConnectionPool|Max retries|_ssl\.c")


class Swarm(ansible_run.LabEngines):

    def run(self, module_name, node, check=False, **args):
        return super().run(module_name, node, check=check, **args)

    def entries(self, hostname, via=MAIN):
        """Every node entry with that hostname, as the manager lists them."""
        return [n for n in self.api(via).nodes() if n['Description']['Hostname'] == hostname]

    def entry(self, hostname, via=MAIN):
        found = self.entries(hostname, via)
        assert len(found) == 1, found
        return found[0]

    def certificate_role(self, name):
        """The OU of the node's swarm certificate, read where its engine keeps it."""
        root = self.api(name).info()['DockerRootDir']
        subject = subprocess.run(['openssl', 'x509', '-noout', '-subject', '-nameopt', 'sep_multiline',
                                  '-in', '%s/swarm/certificates/swarm-node.crt' % root],
                                 capture_output=True, text=True, check=True).stdout
        return re.search(r'OU=(\S+)', subject).group(1)

    def join(self, node, role):
        return ok(self.run('docker_swarm', node, state='join', role=role, manager={'docker_host': self.host(MAIN)}))


def failed(result, *words):
    ansible_run.failed(result, *words)
    assert not PYTHON_TEXT.search(result['msg']), result['msg']
    return result


@pytest.fixture(scope='module')
def swarm(lab):
    """manager1..3 and worker1 in one swarm; worker2 outside it."""
    s = Swarm(lab)
    ok(s.run('docker_swarm', MAIN, state='present'))
    for node, role in (('manager2', 'manager'), ('manager3', 'manager'), ('worker1', 'worker')):
        s.join(node, role)
    s.wait('4 nodes ready', lambda: len([n for n in s.api(MAIN).nodes() if n['Status']['State'] == 'ready']) == 4)
    return s


# ------------------------------------------------------------ defect 6 and 11: connections and options

def test_bad_connection_options_are_refused_in_words(swarm):
    # timeout 0 used to become 60 silently; -1 reached the HTTP layer
    for value in (0, -1):
        failed(swarm.run('docker_swarm_info', MAIN, timeout=value), 'timeout', 'greater than 0')
        failed(swarm.run('docker_swarm_node', MAIN, name='worker1', availability='pause', timeout=value,
                         api_version='1.41'), 'timeout')
    failed(swarm.run('docker_swarm_info', MAIN, api_version='banana'), 'api_version', 'banana')
    assert swarm.entry('worker1')['Spec']['Availability'] == 'active'


def test_unreachable_engines_are_described_in_words(swarm):
    # the SDK negotiating the API version (auto), and a plain request (fixed version)
    for api_version in ('auto', '1.41'):
        failed(module('docker_swarm_info', docker_host='unix:///nonexistent/docker.sock', api_version=api_version),
               'unix:///nonexistent/docker.sock', 'no socket')
        failed(module('docker_swarm_info', docker_host='tcp://127.0.0.1:1', api_version=api_version),
               'connection refused')
    # the node's own engine connection is checked the same way, before anything changes
    failed(swarm.run('docker_swarm_node', MAIN, name='worker1', role='manager',
                     node_connection={'docker_host': swarm.host('worker1'), 'timeout': -3}),
           'node_connection: timeout')
    assert swarm.entry('worker1')['Spec']['Role'] == 'worker'


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on 127.0.0.1 that is not a Docker engine (openssl's test
    server), its certificate, and an unrelated CA certificate."""
    paths = dict((name, str(tmp_path / name)) for name in ('key.pem', 'cert.pem', 'other-key.pem', 'other-ca.pem'))
    for key, cert, san in (('key.pem', 'cert.pem', ['-addext', 'subjectAltName=IP:127.0.0.1']),
                           ('other-key.pem', 'other-ca.pem', [])):
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths[key], '-out',
                        paths[cert], '-days', '2', '-subj', '/CN=127.0.0.1'] + san, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(['openssl', 's_server', '-accept', '127.0.0.1:%d' % port, '-cert', paths['cert.pem'],
                               '-key', paths['key.pem'], '-www', '-quiet'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while socket.socket().connect_ex(('127.0.0.1', port)) != 0:
            assert time.time() < deadline and server.poll() is None, 'openssl s_server did not start'
            time.sleep(0.2)
        yield 'tcp://127.0.0.1:%d' % port, paths
    finally:
        server.terminate()
        server.wait()


def test_tls_settings_are_not_overridden_by_the_environment(tls_server, monkeypatch):
    url, paths = tls_server
    # requests let these replace the client's own CA, or its verify=False, on every request
    monkeypatch.setitem(ansible_run.ENV, 'REQUESTS_CA_BUNDLE', paths['other-ca.pem'])
    monkeypatch.setitem(ansible_run.ENV, 'CURL_CA_BUNDLE', paths['other-ca.pem'])
    # tls without validate_certs does not check the certificate: the handshake
    # passes and the server turns out not to be an engine
    failed(module('docker_swarm_info', docker_host=url, tls=True), 'not JSON', 'Docker Engine API')
    # validate_certs checks against ca_path, not against the bundle
    failed(module('docker_swarm_info', docker_host=url, validate_certs=True, ca_path=paths['cert.pem']),
           'not JSON', 'Docker Engine API')
    failed(module('docker_swarm_info', docker_host=url, validate_certs=True, ca_path=paths['other-ca.pem']),
           "the engine's TLS certificate was not accepted")


def test_bad_node_requests_fail_before_anything_changes(swarm):
    before = swarm.entry('worker1')
    failed(swarm.run('docker_swarm_node', MAIN, name=[], availability='drain'), 'name')
    failed(swarm.run('docker_swarm_node', MAIN, name='worker1', labels={'': 'x', 'zone': 'a'}), 'empty key')
    failed(swarm.run('docker_swarm_node', MAIN, name='worker1', labels_to_remove=['']), 'labels_to_remove')
    # used to drain first and then "time out after -5s"
    failed(swarm.run('docker_swarm_node', MAIN, name='worker1', availability='drain', wait=True, wait_timeout=-5),
           'wait_timeout')
    failed(swarm.run('docker_swarm_node', MAIN, name='worker1', availability='drain', wait_timeout=0),
           'wait_timeout')
    after = swarm.entry('worker1')
    assert after['Version'] == before['Version']
    assert after['Spec']['Availability'] == 'active' and not after['Spec'].get('Labels')


def test_numeric_label_values_are_sent_as_text_like_the_cli(swarm):
    ok(swarm.run('docker_swarm_node', MAIN, name='worker1', labels={'rack': 1, 'ssd': True, 'weight': 1.5}))
    assert swarm.entry('worker1')['Spec']['Labels'] == {'rack': '1', 'ssd': 'true', 'weight': '1.5'}
    # the same again is no change
    assert not ok(swarm.run('docker_swarm_node', MAIN, name='worker1', labels={'rack': 1}))['changed']
    ok(swarm.run('docker_swarm_node', MAIN, name='worker1', labels={}, labels_state='replace'))
    assert not swarm.entry('worker1')['Spec'].get('Labels')


def test_manager_count_messages_tell_the_right_numbers(swarm):
    result = failed(swarm.run('docker_swarm_node', MAIN, name='manager3', role='worker'),
                    'leave 2 managers', 'tolerates no manager failure', 'allow_even_managers')
    assert 'no more failures than 1' not in result['msg']
    assert swarm.entry('manager3')['Spec']['Role'] == 'manager'
    info = ok(swarm.run('docker_swarm_info', MAIN, nodes=False))
    assert (info['managers'], info['quorum'], info['fault_tolerance'], info['quorum_lost']) == (3, 2, 1, False)


def test_the_last_manager_refusal_names_force(swarm):
    # worker2 leads a swarm of its own, with one manager
    ok(swarm.run('docker_swarm', 'worker2', state='present'))
    own = swarm.local('worker2')['NodeID']
    failed(swarm.run('docker_swarm_node', 'worker2', name=own, role='worker'), 'without a manager', 'force')
    failed(swarm.run('docker_swarm', 'worker2', state='absent'), 'without a manager', 'force=true')
    assert swarm.local('worker2')['ControlAvailable']
    # what the message says dissolves it
    ok(swarm.run('docker_swarm', 'worker2', state='absent', force=True))
    assert swarm.local('worker2')['LocalNodeState'] == 'inactive'
    swarm.join('worker2', 'worker')
    swarm.wait('worker2 ready', lambda: swarm.entry('worker2')['Status']['State'] == 'ready')


# ------------------------------------------------------------ defect 4: one resolver for names

def test_info_finds_a_node_by_id_prefix_and_by_a_fully_qualified_name(swarm):
    truth = swarm.entry('worker1')
    for name in (truth['ID'][:12], truth['ID'], 'worker1', 'WORKER1', 'worker1.example.com'):
        result = ok(swarm.run('docker_swarm_info', MAIN, nodes=False, name=name))
        assert result['node']['id'] == truth['ID'] and result['node']['hostname'] == 'worker1', name
        assert 'nodes' not in result
    assert ok(swarm.run('docker_swarm_info', MAIN, nodes=False, name='nosuchnode'))['node'] == {}
    failed(swarm.run('docker_swarm_info', 'worker1', name='worker1'), 'name', 'manager')


def test_a_down_node_is_found_by_its_hostname(swarm):
    swarm.lab.stop('worker1')
    try:
        swarm.wait('worker1 is down', lambda: swarm.entry('worker1')['Status']['State'] == 'down')
        truth = swarm.entry('worker1')
        result = ok(swarm.run('docker_swarm_info', MAIN, nodes=False, name='worker1'))
        assert result['node']['id'] == truth['ID'] and result['node']['status'] == 'down'
        # docker_swarm_node resolves it the same way (check mode: the removal it would do)
        planned = ok(swarm.run('docker_swarm_node', MAIN, check=True, name='worker1', state='absent'))
        assert planned['actions'] == ['worker1: remove']
        assert swarm.entry('worker1')['ID'] == truth['ID']
    finally:
        swarm.lab.start('worker1')
    swarm.wait('worker1 ready again', lambda: swarm.entry('worker1')['Status']['State'] == 'ready')


def test_a_hostname_shared_by_a_live_node_and_its_down_entry_is_refused(swarm):
    # worker2 leaves and joins again: its old entry stays behind, down
    ok(swarm.run('docker_swarm', 'worker2', state='absent'))
    swarm.wait('the old worker2 entry is down',
               lambda: [n['Status']['State'] for n in swarm.entries('worker2')] == ['down'])
    old = swarm.entries('worker2')[0]['ID']
    swarm.join('worker2', 'worker')
    swarm.wait('the new worker2 is ready',
               lambda: sorted(n['Status']['State'] for n in swarm.entries('worker2')) == ['down', 'ready'])
    live = [n['ID'] for n in swarm.entries('worker2') if n['ID'] != old][0]

    result = failed(swarm.run('docker_swarm_info', MAIN, nodes=False, name='worker2'), old, live, 'down', 'ready',
                    'by its ID')
    # a removal or a drain by that name is refused: never the live node by preference
    failed(swarm.run('docker_swarm_node', MAIN, name='worker2', state='absent', wait_timeout=20), old, live)
    failed(swarm.run('docker_swarm_node', MAIN, name='worker2.example.com', availability='drain'), old, live)
    entries = dict((n['ID'], n) for n in swarm.entries('worker2'))
    assert sorted(entries) == sorted([old, live]), result
    assert entries[live]['Spec']['Availability'] == 'active' and entries[live]['Status']['State'] == 'ready'

    # the stale entry, named by the 12-character ID prefix the CLI shows
    found = ok(swarm.run('docker_swarm_info', MAIN, nodes=False, name=old[:12]))['node']
    assert found['id'] == old and found['status'] == 'down'
    ok(swarm.run('docker_swarm_node', MAIN, name=old[:12], state='absent'))
    assert [n['ID'] for n in swarm.entries('worker2')] == [live]
    assert swarm.local('worker2')['LocalNodeState'] == 'active'


# ------------------------------------------------------------ defect 10: role changes are waited for

def test_role_changes_return_once_the_nodes_own_engine_has_switched(swarm):
    own = {'docker_host': swarm.host('worker1')}
    for _round in range(3):
        result = ok(swarm.run('docker_swarm_node', MAIN, name='worker1', role='manager', node_connection=own))
        # right after the module returned, the node's own engine runs a manager
        assert swarm.local('worker1')['ControlAvailable'] is True
        assert swarm.certificate_role('worker1') == 'swarm-manager'
        assert 'worker1: its engine runs a manager (its /info)' in result['confirmed']
        result = ok(swarm.run('docker_swarm_node', MAIN, name='worker1', role='worker', node_connection=own))
        # ... and after the demotion it runs none and already holds its worker certificate
        assert swarm.local('worker1')['ControlAvailable'] is False
        assert swarm.certificate_role('worker1') == 'swarm-worker'
        assert (manager_status(swarm, 'worker1'), swarm.entry('worker1')['Spec']['Role']) == (None, 'worker')
        assert result['confirmed'][-1] == 'worker1: its swarm certificate is a worker certificate (read on this host)'


def manager_status(swarm, hostname):
    return swarm.entry(hostname).get('ManagerStatus')


def test_an_engine_stopped_right_after_a_demotion_comes_back_as_a_clean_worker(swarm):
    own = {'docker_host': swarm.host('worker1')}
    ok(swarm.run('docker_swarm_node', MAIN, name='worker1', role='manager', node_connection=own))
    swarm.lab.status()
    dockerd = swarm.lab.node('worker1')['pid']
    ok(swarm.run('docker_swarm_node', MAIN, name='worker1', role='worker', node_connection=own))
    # the maintenance flow: stop the engine at once (as soon as the module
    # returned: a signal to its dockerd, then the lab's stop), start it again
    os.kill(dockerd, signal.SIGTERM)
    swarm.lab.stop('worker1')
    swarm.lab.start('worker1')
    swarm.wait('worker1 ready as a worker', lambda: swarm.entry('worker1')['Status']['State'] == 'ready'
               and swarm.local('worker1')['LocalNodeState'] == 'active'
               and swarm.certificate_role('worker1') == 'swarm-worker')
    assert swarm.local('worker1')['ControlAvailable'] is False
    # no stale Raft member left behind: three managers, all reachable
    assert manager_status(swarm, 'worker1') is None
    assert swarm.local(MAIN)['Managers'] == 3
    managers = [n for n in swarm.api(MAIN).nodes() if n.get('ManagerStatus')]
    assert sorted(n['Description']['Hostname'] for n in managers) == ['manager1', 'manager2', 'manager3']
    assert all(n['ManagerStatus']['Reachability'] == 'reachable' for n in managers)


# ------------------------------------------------------------ defect 2: lost quorum (last: stops two managers)

def no_leader(api):
    try:
        api.nodes()
    except docker.errors.APIError as exc:
        return 'does not have a leader' in str(exc)
    return False


def test_lost_quorum_is_reported_and_nothing_is_attempted(swarm):
    survivor = swarm.local('manager3')
    swarm.lab.stop('manager1')
    swarm.lab.stop('manager2')
    try:
        swarm.wait('manager3 says its swarm has no leader', lambda: no_leader(swarm.api('manager3')))
        for args in ({'nodes': False}, {}, {'name': 'worker1'}):
            result = ok(swarm.run('docker_swarm_info', 'manager3', **args))
            assert result['quorum_lost'] is True and result['docker_swarm_manager'] is True
            assert (result['managers'], result['quorum'], result['reachable_managers'],
                    result['fault_tolerance']) == (3, 2, 1, 0)
            assert result['local_node_state'] == 'active' and result['node_id'] == survivor['NodeID']
            assert result['cluster_warnings'][0].startswith('quorum lost: the swarm has no leader; 3 managers')
            assert 'force-new-cluster' in result['cluster_warnings'][0]
            assert 'nodes' not in result and 'node' not in result
        failed(swarm.run('docker_swarm_node', 'manager3', name='worker1', availability='drain'),
               'quorum lost', 'nothing was changed')
        assert no_leader(swarm.api('manager3'))
    finally:
        swarm.lab.start('manager1')
        swarm.lab.start('manager2')
    swarm.wait('3 reachable managers again',
               lambda: len([n for n in swarm.api('manager3').nodes()
                            if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable']) == 3)
    info = ok(swarm.run('docker_swarm_info', 'manager3', nodes=False))
    assert not info['quorum_lost'] and info['fault_tolerance'] == 1
    assert swarm.entry('worker1', via='manager3')['Spec']['Availability'] == 'active'
