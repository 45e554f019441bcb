"""docker_swarm, docker_swarm_node and docker_swarm_info on a real swarm.

One lab of 3 managers + 3 workers (engine nodes) for the whole file; the
tests run in order and each leaves the cluster in the state the next one
expects. Every assertion about the cluster reads the engines' own view
(/info, /nodes, /swarm, /tasks through the Docker SDK), never only the
module's result.
"""


import docker
import pytest

import ansible_run
from ansible_run import failed, ok

pytestmark = pytest.mark.lab_shape(managers=3, workers=3)

MAIN = 'manager1'


class Cluster(ansible_run.LabEngines):
    def truth(self, via=MAIN):
        """{hostname: node} of the live nodes as a manager sees them."""
        return dict((n['Description']['Hostname'], n) for n in self.api(via).nodes())

    def managers(self, via=MAIN):
        return sorted(h for h, n in self.truth(via).items() if n['Spec']['Role'] == 'manager')

    def reachable(self, via=MAIN):
        return sorted(h for h, n in self.truth(via).items()
                      if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable')

    def leader(self, via=MAIN):
        return [h for h, n in self.truth(via).items() if (n.get('ManagerStatus') or {}).get('Leader')][0]


@pytest.fixture(scope='module')
def cluster(lab):
    return Cluster(lab)


def join(cluster, node, role, **extra):
    return cluster.run('docker_swarm', node, state='join', role=role, manager={'docker_host': cluster.host(MAIN)},
                       **extra)


def test_init_applies_settings(cluster):
    result = ok(cluster.run('docker_swarm', MAIN, state='present', snapshot_interval=5000))
    assert result['changed'] and result['actions'] == ['init']
    local = cluster.local(MAIN)
    assert local['LocalNodeState'] == 'active' and local['ControlAvailable']
    assert cluster.api(MAIN).inspect_swarm()['Spec']['Raft']['SnapshotInterval'] == 5000
    assert result['node_id'] == local['NodeID']
    assert 'join_tokens' not in result and 'unlock_key' not in result


def test_settings_are_idempotent_and_check_mode_changes_nothing(cluster):
    assert not ok(cluster.run('docker_swarm', MAIN, snapshot_interval=5000))['changed']
    planned = ok(cluster.run('docker_swarm', MAIN, check=True, diff=True, snapshot_interval=6000,
                             task_history_retention_limit=3))
    assert planned['changed']
    assert planned['diff']['before']['Raft.SnapshotInterval'] == 5000
    assert planned['diff']['after']['Raft.SnapshotInterval'] == 6000
    spec = cluster.api(MAIN).inspect_swarm()['Spec']
    assert spec['Raft']['SnapshotInterval'] == 5000
    applied = ok(cluster.run('docker_swarm', MAIN, snapshot_interval=6000, task_history_retention_limit=3))
    assert applied['changed']
    spec = cluster.api(MAIN).inspect_swarm()['Spec']
    assert spec['Raft']['SnapshotInterval'] == 6000 and spec['Orchestration']['TaskHistoryRetentionLimit'] == 3
    assert not ok(cluster.run('docker_swarm', MAIN, snapshot_interval=6000,
                              task_history_retention_limit=3))['changed']


def test_check_mode_join_predicts_and_changes_nothing(cluster):
    planned = ok(join(cluster, 'worker1', 'worker', check=True, diff=True))
    assert planned['changed'] and planned['actions'] == ['join']
    assert planned['diff'] == {'before': {'local_node_state': 'inactive', 'role': ''},
                               'after': {'local_node_state': 'active', 'role': 'worker'}}
    assert cluster.local('worker1')['LocalNodeState'] == 'inactive'
    assert 'worker1' not in cluster.truth()


def test_join_everyone_with_tokens_fetched_automatically(cluster):
    assert ok(join(cluster, 'manager2', 'manager'))['actions'] == ['join']
    # a manager drained from birth runs no tasks
    assert ok(join(cluster, 'manager3', 'manager', availability='drain'))['actions'] == ['join']
    assert cluster.truth()['manager3']['Spec']['Availability'] == 'drain'
    for node in ('worker1', 'worker2'):
        assert ok(join(cluster, node, 'worker'))['actions'] == ['join']
    truth = cluster.truth()
    assert sorted(truth) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
    assert all(n['Status']['State'] == 'ready' for n in truth.values())
    assert cluster.managers() == cluster.reachable() == ['manager1', 'manager2', 'manager3']


def test_joining_again_is_no_change_also_in_check_mode(cluster):
    for node, role in (('manager2', 'manager'), ('manager3', 'manager'), ('worker1', 'worker'),
                       ('worker2', 'worker')):
        assert not ok(join(cluster, node, role))['changed']
        assert not ok(join(cluster, node, role, check=True))['changed']
    info = ok(cluster.run('docker_swarm_info', MAIN))
    assert (info['managers'], info['reachable_managers'], info['quorum'], info['fault_tolerance']) == (3, 3, 2, 1)
    assert info['leader'] == cluster.leader()
    assert sorted(n['hostname'] for n in info['nodes']) == sorted(cluster.truth())


def test_node_labels_and_availability_of_the_node_itself(cluster):
    def spec(node):
        return cluster.truth()[node]['Spec']
    # a worker cannot change its own entry: refused before anything happens
    failed(cluster.run('docker_swarm', 'worker2', state='join', role='worker', node_labels={'tier': 'web'}),
           'node_labels', 'manager', 'nothing was changed')
    assert 'Labels' not in spec('worker2') or not spec('worker2')['Labels']
    # ... through a manager it can; numbers become text as with the CLI
    result = ok(join(cluster, 'worker2', 'worker', node_labels={'tier': 'web', 'rack': 7}))
    assert result['actions'] == ['update_node'] and spec('worker2')['Labels'] == {'tier': 'web', 'rack': '7'}
    assert not ok(join(cluster, 'worker2', 'worker', node_labels={'tier': 'web'}))['changed']
    # a manager changes its own entry through its own engine, labels and availability in one update
    planned = ok(join(cluster, 'manager2', 'manager', check=True, diff=True, node_labels={'zone': 'b'},
                      availability='drain'))
    assert planned['actions'] == ['update_node'] and planned['diff']['after']['node.labels'] == {'zone': 'b'}
    assert spec('manager2')['Availability'] == 'active' and not spec('manager2').get('Labels')
    ok(join(cluster, 'manager2', 'manager', node_labels={'zone': 'b'}, availability='drain'))
    assert spec('manager2')['Availability'] == 'drain' and spec('manager2')['Labels'] == {'zone': 'b'}
    ok(join(cluster, 'manager2', 'manager', node_labels={}, node_labels_state='replace', availability='active'))
    assert spec('manager2')['Availability'] == 'active' and not spec('manager2').get('Labels')
    assert not ok(join(cluster, 'manager2', 'manager', node_labels={}, node_labels_state='replace',
                       availability='active'))['changed']


def test_bad_requests_fail_cleanly_and_change_nothing(cluster):
    tokens = ok(cluster.run('docker_swarm_info', MAIN, return_join_tokens=True))['join_tokens']
    # a manager token for a worker join: refused before anything happens
    failed(cluster.run('docker_swarm', 'worker3', state='join', role='worker', join_token=tokens['manager'],
                       manager={'docker_host': cluster.host(MAIN)}), 'manager token', 'role=worker')
    # the same without a manager to compare with: the node joins as a manager,
    # notices, and leaves again - never a half-joined node
    failed(cluster.run('docker_swarm', 'worker3', state='join', role='worker', join_token=tokens['manager'],
                       remote_addrs=[cluster.addr(MAIN)]), 'manager token', 'left the swarm again')
    assert cluster.local('worker3')['LocalNodeState'] == 'inactive'
    assert cluster.managers() == cluster.reachable() == ['manager1', 'manager2', 'manager3']
    ok(cluster.run('docker_swarm_node', MAIN, name='worker3', state='absent'))
    assert 'worker3' not in cluster.truth()
    # an address where no manager listens: refused before the engine is asked to join
    failed(cluster.run('docker_swarm', 'worker3', state='join', join_token=tokens['worker'],
                       remote_addrs=['%s:2377' % cluster.addr('worker3')], timeout=30),
           'no swarm manager answers at %s:2377' % cluster.addr('worker3'))
    assert cluster.local('worker3')['LocalNodeState'] == 'inactive'
    # manager-only work asked of a worker
    failed(cluster.run('docker_swarm_node', 'worker1', name='worker2', availability='drain'),
           'must run against a manager', 'a worker')
    failed(cluster.run('docker_swarm', 'worker1', return_join_tokens=True), 'this node is a worker')
    # a TLS file that does not exist, an unknown role, a wrong type
    failed(cluster.run('docker_swarm_info', MAIN, validate_certs=True, ca_path='/nonexistent/ca.pem'),
           'ca_path', '/nonexistent/ca.pem')
    failed(cluster.run('docker_swarm_node', MAIN, name='worker1', role='boss'), 'role', 'boss')
    failed(cluster.run('docker_swarm_node', MAIN, name='worker1', wait_timeout='soon'), 'wait_timeout')
    failed(cluster.run('docker_swarm_node', MAIN, name='nosuchnode', availability='drain'), 'nosuchnode')
    assert cluster.truth()['worker1']['Spec']['Role'] == 'worker'


def test_a_node_of_another_swarm_is_refused_unless_forced(cluster):
    ok(cluster.run('docker_swarm', 'worker3', state='present'))
    other_id = cluster.local('worker3')['NodeID']
    failed(join(cluster, 'worker3', 'worker'), 'another swarm')
    assert other_id not in [n['ID'] for n in cluster.api(MAIN).nodes()]
    assert cluster.local('worker3')['ControlAvailable']
    # worker3 is the only manager of its own swarm: leaving would destroy it
    failed(cluster.run('docker_swarm', 'worker3', state='absent'), 'without a manager')
    assert cluster.local('worker3')['LocalNodeState'] == 'active'
    result = ok(join(cluster, 'worker3', 'worker', force=True))
    assert result['actions'] == ['leave_force', 'join']
    assert cluster.truth()['worker3']['Spec']['Role'] == 'worker'


def test_promote_and_demote(cluster):
    result = ok(cluster.run('docker_swarm_node', MAIN, name='worker1', role='manager', diff=True))
    assert result['diff']['before']['worker1']['role'] == 'worker'
    assert result['diff']['after']['worker1']['role'] == 'manager'
    assert 'worker1' in cluster.reachable()
    assert not ok(cluster.run('docker_swarm_node', MAIN, name='worker1', role='manager'))['changed']
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', role='worker'))
    assert cluster.managers() == ['manager1', 'manager2', 'manager3']
    # the same through the node's own membership module, via the manager
    assert ok(join(cluster, 'worker1', 'manager'))['actions'] == ['promote']
    assert cluster.local('worker1')['ControlAvailable']
    assert ok(join(cluster, 'worker1', 'worker'))['actions'] == ['demote']
    assert cluster.truth()['worker1']['Spec']['Role'] == 'worker'
    assert cluster.managers() == cluster.reachable() == ['manager1', 'manager2', 'manager3']


def test_quorum_guard_refuses_and_the_cluster_stays_healthy(cluster):
    failed(cluster.run('docker_swarm_node', MAIN, name=['manager2', 'manager3'], role='worker',
                       allow_even_managers=True), 'at once')
    failed(cluster.run('docker_swarm_node', MAIN, name='manager3', role='worker'), 'even')
    assert cluster.managers() == cluster.reachable() == ['manager1', 'manager2', 'manager3']
    # one manager down: removing the leader would leave 1 reachable of 2
    leader = cluster.leader()
    victim = [m for m in ('manager2', 'manager3') if m != leader][0]
    via = [m for m in ('manager1', 'manager2', 'manager3') if m != victim][0]
    cluster.lab.stop(victim)
    try:
        cluster.wait('%s is unreachable' % victim, lambda: victim not in cluster.reachable(via))
        result = failed(cluster.run('docker_swarm_node', via, name=leader, state='absent', allow_even_managers=True),
                        '2 of 3 managers are reachable')
        assert 'quorum' in result['msg']
        assert cluster.truth(via)[leader]['Spec']['Role'] == 'manager'
    finally:
        cluster.lab.start(victim)
    cluster.wait('all managers reachable', lambda: len(cluster.reachable()) == 3, timeout=90)


def test_drain_with_wait_moves_real_tasks(cluster):
    api = cluster.api(MAIN)
    spec = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(cluster.lab.test_image, command=['sleep', '3600']),
        placement=docker.types.Placement(constraints=['node.role==worker']))
    service = api.create_service(spec, name='drainme', mode=docker.types.ServiceMode('replicated', replicas=6))
    try:
        def running(node_name=None):
            node_id = cluster.truth()[node_name]['ID'] if node_name else None
            return [t for t in api.tasks(filters={'service': 'drainme'})
                    if t['Status']['State'] == 'running' and (node_id is None or t['NodeID'] == node_id)]
        cluster.wait('6 tasks run', lambda: len(running()) == 6 and running('worker1'), timeout=120)
        result = ok(cluster.run('docker_swarm_node', MAIN, name='worker1', availability='drain', wait=True,
                                wait_timeout=120))
        assert 'worker1: wait_drained' in result['actions']
        assert running('worker1') == []
        assert cluster.truth()['worker1']['Spec']['Availability'] == 'drain'
        cluster.wait('6 tasks run elsewhere', lambda: len(running()) == 6, timeout=120)
        ok(cluster.run('docker_swarm_node', MAIN, name='worker1', availability='active'))
        assert cluster.truth()['worker1']['Spec']['Availability'] == 'active'
    finally:
        api.remove_service(service['ID'])


def test_labels_merge_replace_remove_without_churn(cluster):
    def labels():
        return cluster.truth()['worker1']['Spec'].get('Labels') or {}
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels={'zone': 'a', 'disk': 'ssd'}))
    assert labels() == {'zone': 'a', 'disk': 'ssd'}
    assert not ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels={'zone': 'a'}))['changed']
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels={'rack': '7'}))
    assert labels() == {'zone': 'a', 'disk': 'ssd', 'rack': '7'}
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels_to_remove=['disk']))
    assert labels() == {'zone': 'a', 'rack': '7'}
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels={'only': 'me'}, labels_state='replace'))
    assert labels() == {'only': 'me'}
    assert not ok(cluster.run('docker_swarm_node', MAIN, name='worker1', labels={'only': 'me'},
                              labels_state='replace'))['changed']


def test_safe_removal_of_a_worker(cluster):
    assert ok(cluster.run('docker_swarm', 'worker2', state='absent'))['actions'] == ['leave']
    assert cluster.local('worker2')['LocalNodeState'] == 'inactive'
    result = ok(cluster.run('docker_swarm_node', MAIN, name='worker2', state='absent'))
    assert result['actions'][-1] == 'worker2: remove'
    assert 'worker2' not in cluster.truth()
    assert not ok(cluster.run('docker_swarm_node', MAIN, name='worker2', state='absent'))['changed']


def test_rotated_worker_token_is_rejected_by_a_real_join(cluster):
    old = ok(cluster.run('docker_swarm_info', MAIN, return_join_tokens=True))['join_tokens']['worker']
    assert ok(cluster.run('docker_swarm', MAIN, rotate_worker_token=True))['changed']
    new = ok(cluster.run('docker_swarm_info', MAIN, return_join_tokens=True))['join_tokens']['worker']
    assert new != old
    with pytest.raises(docker.errors.APIError):
        cluster.api('worker2').join_swarm(remote_addrs=['%s:2377' % cluster.addr(MAIN)], join_token=old)
    assert cluster.local('worker2')['LocalNodeState'] == 'inactive'
    failed(cluster.run('docker_swarm', 'worker2', state='join', join_token=old,
                       remote_addrs=[cluster.addr(MAIN)]), 'POST /swarm/join')
    assert ok(join(cluster, 'worker2', 'worker'))['actions'] == ['join']
    assert cluster.truth()['worker2']['Status']['State'] == 'ready'


def test_safe_removal_of_a_manager_keeps_three(cluster):
    ok(cluster.run('docker_swarm_node', MAIN, name='worker1', role='manager'))
    assert len(cluster.managers()) == 4
    result = ok(cluster.run('docker_swarm', 'manager3', state='absent'))
    assert result['actions'] == ['demote', 'leave']
    assert cluster.local('manager3')['LocalNodeState'] == 'inactive'
    ok(cluster.run('docker_swarm_node', MAIN, name='manager3', state='absent'))
    assert 'manager3' not in cluster.truth()
    assert cluster.managers() == cluster.reachable() == ['manager1', 'manager2', 'worker1']


def test_autolock_restart_locked_unlock(cluster):
    result = ok(cluster.run('docker_swarm', MAIN, autolock_managers=True, return_unlock_key=True))
    key = result['unlock_key']
    assert key.startswith('SWMKEY-1-')
    assert cluster.api(MAIN).inspect_swarm()['Spec']['EncryptionConfig']['AutoLockManagers'] is True
    cluster.lab.stop('manager2')
    cluster.lab.start('manager2')
    info = ok(cluster.run('docker_swarm_info', 'manager2'))
    assert info['local_node_state'] == 'locked' == cluster.local('manager2')['LocalNodeState']
    failed(cluster.run('docker_swarm', 'manager2'), 'locked', 'unlock_key')
    assert ok(cluster.run('docker_swarm', 'manager2', unlock_key=key))['actions'] == ['unlock']
    assert cluster.local('manager2')['LocalNodeState'] == 'active'
    cluster.wait('manager2 reachable again', lambda: 'manager2' in cluster.reachable())
    rotated = ok(cluster.run('docker_swarm', MAIN, rotate_unlock_key=True, return_unlock_key=True))
    assert rotated['unlock_key'] != key and cluster.api(MAIN).get_unlock_key()['UnlockKey'] == rotated['unlock_key']
    ok(cluster.run('docker_swarm', MAIN, autolock_managers=False))
    assert not cluster.api(MAIN).inspect_swarm()['Spec']['EncryptionConfig']['AutoLockManagers']


def test_forced_ca_rotation(cluster):
    before = cluster.api(MAIN).inspect_swarm()
    assert ok(cluster.run('docker_swarm', MAIN, rotate_ca=True))['actions'] == ['rotate_ca', 'update']
    cluster.wait('the root CA rotation ends', lambda: not cluster.api(MAIN).inspect_swarm()['RootRotationInProgress'],
                 timeout=180)
    after = cluster.api(MAIN).inspect_swarm()
    assert after['Spec']['CAConfig']['ForceRotate'] == before['Spec']['CAConfig'].get('ForceRotate', 0) + 1
    assert after['TLSInfo']['TrustRoot'] != before['TLSInfo']['TrustRoot']
    assert cluster.managers() == cluster.reachable()


def test_worker_leaves(cluster):
    assert ok(cluster.run('docker_swarm', 'worker3', state='absent'))['actions'] == ['leave']
    assert cluster.local('worker3')['LocalNodeState'] == 'inactive'
    assert not ok(cluster.run('docker_swarm', 'worker3', state='absent'))['changed']
