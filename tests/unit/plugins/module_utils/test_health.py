"""The health checks' pure core, and docker_swarm_info's health option on a fake engine."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _health
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import quorum_facts
from ansible_collections.nativeswarm.cluster.plugins.modules.docker_swarm_info import check_health, gather

x509 = pytest.importorskip('cryptography.x509')
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def pem(not_after, cn='m1', ou='swarm-manager', not_before=None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'cluster1')])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before or datetime.datetime(2026, 1, 1, tzinfo=UTC))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def node(node_id, hostname, role='worker', reachability=None, leader=False, state='ready', availability='active'):
    result = dict(ID=node_id, Spec=dict(Role=role, Availability=availability),
                  Description=dict(Hostname=hostname), Status=dict(State=state, Addr='10.0.0.1'))
    if reachability:
        result['ManagerStatus'] = dict(Reachability=reachability, Leader=leader, Addr='10.0.0.%s:2377' % node_id[-1])
    return result


def healthy():
    return [node('m1', 'manager1', 'manager', 'reachable', leader=True), node('m2', 'manager2', 'manager', 'reachable'),
            node('m3', 'manager3', 'manager', 'reachable'), node('w1', 'worker1')]


def problems(nodes):
    return _health.cluster_problems(nodes, quorum_facts(nodes))


# ---------------------------------------------------------------- certificates

@pytest.mark.parametrize('not_after', [datetime.datetime(2027, 3, 1, 10, 0, 0, tzinfo=UTC),   # UTCTime
                                       datetime.datetime(2051, 1, 2, 3, 4, 5, tzinfo=UTC)])  # GeneralizedTime
def test_certificate_not_after_reads_both_time_encodings(not_after):
    assert _health.certificate_not_after(pem(not_after)) == not_after


@pytest.mark.parametrize('text', [None, '', 'garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'])
def test_certificate_not_after_of_unreadable_text_is_none(text):
    assert _health.certificate_not_after(text) is None


def test_days_left_counts_whole_days_and_goes_negative():
    assert _health.days_left(NOW + datetime.timedelta(days=10, hours=23), NOW) == 10
    assert _health.days_left(NOW - datetime.timedelta(days=2), NOW) == -2


def test_manager_certificate_must_be_the_nodes_own():
    m1 = healthy()[0]
    good = _health.manager_certificate(m1, pem(NOW + datetime.timedelta(days=50)))
    assert good['error'] is None and good['not_after'] == (NOW + datetime.timedelta(days=50)).replace(microsecond=0)
    other = _health.manager_certificate(m1, pem(NOW + datetime.timedelta(days=50), cn='m9'))
    assert other['not_after'] is None and "not this node's (it names m9)" in other['error']
    unread = _health.manager_certificate(m1, None, 'no answer within 5s')
    assert unread['error'] == 'no answer within 5s'


def test_certificate_problems_within_threshold_expired_and_unreadable():
    certs = [dict(hostname='manager1', not_after=NOW + datetime.timedelta(days=12, hours=1), error=None),
             dict(hostname='manager2', not_after=NOW + datetime.timedelta(days=80), error=None),
             dict(hostname='manager3', not_after=NOW - datetime.timedelta(days=3), error=None),
             dict(hostname='manager4', not_after=None, error='Connection refused')]
    lines = _health.certificate_problems(certs, NOW + datetime.timedelta(days=20, hours=2), 30, NOW)
    assert lines == ['root CA certificate expires in 20 days',
                     'certificate of node manager1 expires in 12 days',
                     'certificate of node manager3 expired 3 days ago',
                     'certificate of node manager4 cannot be read: Connection refused']
    assert _health.certificate_problems(certs, None, 0, NOW) == []
    assert _health.certificate_problems([], None, 5, NOW) == ['root CA certificate of the swarm cannot be read']


# ---------------------------------------------------------------- services

def service(sid, name, replicas=None, mode='replicated'):
    modes = {'replicated': {'Replicated': {'Replicas': replicas}} if replicas is not None else {'Replicated': {}},
             'global': {'Global': {}}, 'job': {'ReplicatedJob': {'MaxConcurrent': 1}}}
    return dict(ID=sid, Spec=dict(Name=name, Mode=modes[mode]))


def task(sid, node_id, state='running', desired='running'):
    return dict(ServiceID=sid, NodeID=node_id, DesiredState=desired, Status=dict(State=state))


def test_service_status_counts_running_tasks_on_ready_nodes_only():
    nodes = healthy() + [node('w2', 'worker2', state='down')]
    services = [service('s1', 'web', 3), service('s2', 'agent', mode='global'), service('s3', 'once', mode='job'),
                service('s4', 'single'), service('s5', 'none', 0)]
    tasks = [task('s1', 'w1'), task('s1', 'm1'), task('s1', 'w2'),          # w2 is down: not running
             task('s1', 'm2', state='shutdown', desired='shutdown'),       # an old task
             task('s1', '', state='pending'),
             task('s2', 'm1'), task('s2', 'm2'), task('s2', 'm3', state='preparing'), task('s2', 'w1'),
             task('s2', 'w2'),                                             # on a down node: not desired here
             task('s3', 'w1', state='complete', desired='complete'),
             task('s4', 'm3')]
    status = _health.service_status(services, tasks, nodes)
    assert status == [dict(name='agent', mode='global', desired=4, running=3),
                      dict(name='none', mode='replicated', desired=0, running=0),
                      dict(name='single', mode='replicated', desired=1, running=1),
                      dict(name='web', mode='replicated', desired=3, running=2)]
    assert _health.service_problems(status) == ['service agent: 3 of 4 tasks running',
                                                'service web: 2 of 3 tasks running']


def test_a_service_no_node_can_run_is_zero_of_n():
    status = _health.service_status([service('s1', 'nowhere', 2)], [task('s1', '', 'pending')] * 2, healthy())
    assert _health.service_problems(status) == ['service nowhere: 0 of 2 tasks running']


# ---------------------------------------------------------------- cluster

def test_a_healthy_cluster_has_no_problems():
    assert problems(healthy()) == []


def test_a_stopped_manager():
    nodes = healthy()
    nodes[1]['ManagerStatus']['Reachability'] = 'unreachable'
    nodes[1]['Status']['State'] = 'down'
    assert problems(nodes) == ['quorum at risk: fault tolerance 0 (2 of 3 managers reachable, 2 needed)',
                               'manager manager2 unreachable', 'node manager2 down']


def test_even_manager_count_and_its_fault_tolerance():
    nodes = healthy() + [node('m4', 'manager4', 'manager', 'reachable')]
    assert problems(nodes) == ['even manager count: 4']
    assert problems(nodes[:2]) == ['quorum at risk: fault tolerance 0 (2 of 2 managers reachable, 2 needed)',
                                   'even manager count: 2']


def test_a_single_manager_is_at_risk():
    assert problems(healthy()[:1]) == ['quorum at risk: fault tolerance 0 (1 of 1 managers reachable, 1 needed)']


def test_quorum_lost_as_far_as_the_node_list_says():
    nodes = healthy()
    for n in nodes[1:3]:
        n['ManagerStatus']['Reachability'] = 'unreachable'
        n['Status']['State'] = 'down'
    assert problems(nodes)[0] == 'quorum lost: 1 of 3 managers reachable, 2 needed'


def test_worker_down_and_shared_hostnames_get_the_id():
    nodes = healthy() + [node('w1old0000000000', 'worker1', state='down')]
    assert problems(nodes) == ['node worker1 (w1old0000000) down']
    nodes[-1]['Status']['State'] = 'disconnected'
    assert problems(nodes) == ['node worker1 (w1old0000000) disconnected']


def test_quorum_lost_problems_from_a_leaderless_manager():
    assert _health.quorum_lost_problems(dict(managers=3, quorum=2)) == [
        'quorum lost: the swarm has no leader (3 managers known, a majority unreachable, 2 needed)']
    assert _health.quorum_lost_problems(dict(managers=4, quorum=3))[1] == 'even manager count: 4'


# ---------------------------------------------------------------- the module option

class FakeEngine:
    url = 'tcp://10.0.0.1:2375'

    def __init__(self, info, nodes=(), services=(), tasks=(), swarm=None):
        self._info, self._nodes, self._services, self._tasks = info, list(nodes), list(services), list(tasks)
        self._swarm = swarm or {}

    def info(self):
        return self._info

    def nodes(self):
        return self._nodes

    def services(self, filters=None):
        return self._services

    def tasks(self, filters=None):
        return self._tasks

    def swarm_inspect(self):
        return self._swarm


MANAGER_INFO = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'm1', 'ControlAvailable': True, 'Cluster': {'ID': 'c1'}}}
PARAMS = dict(nodes=True, services=False, services_filters=None, tasks=False, tasks_filters=None,
              return_join_tokens=False)


def test_health_option_on_a_worker_says_it_is_no_manager():
    info = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'w1', 'ControlAvailable': False}}
    result = gather(FakeEngine(info), dict(PARAMS, health=dict(cert_expiry_days=0, services=True)))
    assert result['health']['problems'] == ['the engine at tcp://10.0.0.1:2375 is not a swarm manager: it is a worker']


def test_health_option_without_leader_reports_quorum_lost(monkeypatch):
    from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm_info
    monkeypatch.setattr(docker_swarm_info, 'nodes_unless_leaderless', lambda engine, grace=0: None)
    info = dict(MANAGER_INFO, Swarm=dict(MANAGER_INFO['Swarm'], Managers=3))
    result = gather(FakeEngine(info), dict(PARAMS, health=dict(cert_expiry_days=0, services=True)))
    assert result['health']['problems'][0].startswith('quorum lost: the swarm has no leader (3 managers known')


def test_health_option_without_it_nothing_is_added():
    assert 'health' not in gather(FakeEngine(MANAGER_INFO, healthy()), PARAMS)


def test_check_health_reads_services_and_the_managers_certificates():
    nodes = healthy()
    nodes[2]['ManagerStatus']['Reachability'] = 'unreachable'
    certs = {'10.0.0.1:2377': (pem(NOW + datetime.timedelta(days=5), cn='m1'), None),
             '10.0.0.2:2377': (None, 'Connection refused')}
    read = []

    def read_certificate(addr):
        read.append(addr)
        return certs[addr]

    engine = FakeEngine(MANAGER_INFO, nodes, [service('s1', 'web', 2)], [task('s1', 'w1')],
                        swarm=dict(TLSInfo=dict(TrustRoot=pem(NOW + datetime.timedelta(days=3650))),
                                   RootRotationInProgress=True))
    found = check_health(engine, nodes, quorum_facts(nodes), dict(cert_expiry_days=30, services=True), now=NOW,
                         read_certificate=read_certificate)
    assert read == ['10.0.0.1:2377', '10.0.0.2:2377']  # not the unreachable manager3
    assert found['problems'] == ['quorum at risk: fault tolerance 0 (2 of 3 managers reachable, 2 needed)',
                                 'manager manager3 unreachable',
                                 'service web: 1 of 2 tasks running',
                                 'certificate of node manager1 expires in 5 days',
                                 'certificate of node manager2 cannot be read: Connection refused']
    assert found['certificates'][0]['days_left'] == 5 and found['certificates'][1]['days_left'] is None
    assert found['root_rotation_in_progress'] is True and found['root_ca_not_after'].startswith('2036-')
    assert len(found['root_ca_digest']) == 50


def test_check_health_skips_what_is_turned_off():
    nodes = healthy()

    def never(addr):
        raise AssertionError('no certificate should be read')

    found = check_health(FakeEngine(MANAGER_INFO, nodes, [service('s1', 'web', 2)]), nodes, quorum_facts(nodes),
                         dict(cert_expiry_days=0, services=False), read_certificate=never)
    assert found == dict(problems=[], services=[], certificates=[], root_ca_not_after='', root_ca_digest='',
                         root_rotation_in_progress=False)


def test_peer_certificate_of_a_closed_port_is_a_reason_not_an_exception():
    pem_text, error = _health.peer_certificate('127.0.0.1:1', timeout=2)
    assert pem_text is None and error
