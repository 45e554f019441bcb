"""docker_swarm validates, plans, then acts: lab tests on real engines.

Two swarms on one lab: swarm A (manager1 leads it, worker1 is its worker)
and swarm B (manager2 alone). worker2 is the node that joins and fails to.
Every test reads the truth from the engines (GET /info of the node, GET
/nodes and GET /swarm of a manager) before and after the module ran, and
asserts that a refused or failed request left both as they were.

The tests run in order; each leaves the lab as the next one expects.
"""

import subprocess

import docker
import pytest

import ansible_run
from ansible_run import failed, module, ok

pytestmark = pytest.mark.lab_shape(managers=2, workers=2)


class Lab:
    def __init__(self, lab):
        self.lab = lab
        self.nodes = dict((n['name'], n) for n in lab.nodes)
        self._api = {}

    def host(self, name):
        return self.nodes[name]['docker_host']

    def addr(self, name):
        return self.nodes[name]['address']

    def unused_addr(self):
        """An address on the lab network where nothing answers (no host)."""
        return '.'.join(self.addr('manager1').split('.')[:3] + ['250'])

    def api(self, name):
        if name not in self._api:
            self._api[name] = docker.APIClient(base_url=self.host(name), timeout=60)
        return self._api[name]

    def run(self, node, check=False, diff=False, **args):
        return module('docker_swarm', check=check, diff=diff, docker_host=self.host(node), **args)

    def swarm(self, name):
        return self.api(name).info()['Swarm']

    def node_list(self, via):
        """{node ID: (hostname, role, status)} as a manager lists them."""
        return dict((n['ID'], (n['Description']['Hostname'], n['Spec']['Role'], n['Status']['State']))
                    for n in self.api(via).nodes())

    def tokens(self, via):
        return self.api(via).inspect_swarm()['JoinTokens']

    def spec_version(self, via='manager1'):
        return self.api(via).inspect_swarm()['Version']['Index']

    def netns(self, node, *cmd):
        """Run a command in the node's network namespace."""
        pid = self.nodes[node].get('pid')
        prefix = (['nsenter', '-t', str(pid), '-n'] if pid else
                  ['ip', 'netns', 'exec', '%s-%s' % (self.lab.name, node)])
        subprocess.run(prefix + list(cmd), check=True, capture_output=True, text=True)

    wait = staticmethod(ansible_run.wait)


@pytest.fixture(scope='module')
def two(lab):
    """Swarm A: manager1 + worker1; swarm B: manager2; worker2 in none."""
    t = Lab(lab)
    ok(t.run('manager1', state='present'))
    ok(t.run('manager2', state='present'))
    ok(t.run('worker1', state='join', role='worker', manager={'docker_host': t.host('manager1')}))
    assert t.swarm('worker1')['LocalNodeState'] == 'active'
    assert t.swarm('manager1')['Cluster']['ID'] != t.swarm('manager2')['Cluster']['ID']
    return t


def membership(t, node):
    swarm = t.swarm(node)
    return (swarm['LocalNodeState'], swarm['NodeID'], swarm['ControlAvailable'],
            sorted(m['Addr'] for m in swarm.get('RemoteManagers') or []))


# ------------------------------------------------------------------ defect 1

def test_forced_join_without_token_or_manager_leaves_nothing(two):
    """A healthy worker of A, asked to join with force but given neither a
    token nor a manager: refused before it leaves A, also in check mode."""
    before, nodes_before = membership(two, 'worker1'), two.node_list('manager1')
    for check in (False, True):
        result = failed(two.run('worker1', check=check, state='join', role='worker', force=True))
        assert 'leave_force' not in result.get('actions', []) and not result.get('changed')
        assert membership(two, 'worker1') == before
        assert two.node_list('manager1') == nodes_before


def test_forced_switch_to_another_swarm_is_checked_before_leaving(two):
    """worker1 (in A) asked to join B with force: every way the join could
    fail is found before worker1 leaves A."""
    before, nodes_a, nodes_b = membership(two, 'worker1'), two.node_list('manager1'), two.node_list('manager2')
    to_b = {'docker_host': two.host('manager2')}
    cases = [
        # a token of A for the swarm B's manager leads
        (dict(manager=to_b, join_token=two.tokens('manager1')['Worker']), 'belongs to another swarm'),
        # a manager token of B for role=worker
        (dict(manager=to_b, join_token=two.tokens('manager2')['Manager']), 'is a manager token'),
        # B's manager, but an address where nothing answers
        (dict(manager=to_b, remote_addrs=[two.unused_addr()]), 'no swarm manager answers'),
        # B's manager, but the address of A's manager
        (dict(manager=to_b, remote_addrs=[two.addr('manager1')]), 'not all managers of the swarm the manager leads'),
        # addresses and a token of B, no manager: the token's role cannot be checked
        (dict(remote_addrs=[two.addr('manager2')], join_token=two.tokens('manager2')['Worker']), 'needs manager'),
    ]
    for index, (args, words) in enumerate(cases):
        for check in (False, True) if index in (0, 2) else (False,):
            result = failed(two.run('worker1', check=check, state='join', role='worker', force=True, **args), words)
            assert 'leave_force' not in result.get('actions', []), (args, result)
            assert membership(two, 'worker1') == before, args
    assert two.node_list('manager1') == nodes_a
    assert two.node_list('manager2') == nodes_b


# ------------------------------------------------------------------ defect 9

def test_join_where_no_manager_listens_is_refused_before_joining(two):
    """An address with no host behind it: the engine would give up after 20 s
    and leave worker2 'pending'; the module refuses before joining."""
    nodes_a = two.node_list('manager1')
    token = two.tokens('manager1')['Worker']
    for check in (False, True):
        result = failed(two.run('worker2', check=check, state='join', join_token=token,
                                remote_addrs=[two.unused_addr()]),
                        'no swarm manager answers at %s:2377' % two.unused_addr(), 'nothing was changed')
        assert not result.get('changed')
        assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    assert two.node_list('manager1') == nodes_a


def test_token_of_another_swarm_is_refused_before_joining_without_manager(two):
    """A token of swarm B with the address of A's manager, no manager
    connection: the root CA that manager1 serves on its swarm port is not the
    one the token names, so the engine is not asked (it would refuse after
    10 s itself)."""
    nodes_a = two.node_list('manager1')
    result = failed(two.run('worker2', state='join', join_token=two.tokens('manager2')['Worker'],
                            remote_addrs=[two.addr('manager1')]),
                    'join_token belongs to another swarm than the managers at %s:2377' % two.addr('manager1'),
                    'nothing was changed')
    assert not result.get('changed')
    assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    assert two.node_list('manager1') == nodes_a


def test_join_the_engine_cannot_complete_is_undone(two):
    """The host running the module reaches manager1, worker2 itself does
    not (a firewall in its network namespace): the engine times out and
    leaves worker2 'pending'; once wait_timeout has passed too, the module
    makes it give the attempt up and says what to check. The next, correct join needs no force."""
    nodes_a = two.node_list('manager1')
    token = two.tokens('manager1')['Worker']
    rule = ['OUTPUT', '-p', 'tcp', '-d', two.addr('manager1'), '--dport', '2377', '-j', 'DROP']
    two.netns('worker2', 'iptables', '-I', *rule)
    try:
        result = failed(two.run('worker2', state='join', join_token=token, remote_addrs=[two.addr('manager1')],
                                wait_timeout=5),
                        'could not join the swarm through %s:2377' % two.addr('manager1'),
                        'swarm state inactive now, as before',
                        'check that this node itself reaches %s:2377' % two.addr('manager1'))
        assert 'pending' in result['msg']
        assert result['changed'] is False
        assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    finally:
        two.netns('worker2', 'iptables', '-D', *rule)
    assert two.node_list('manager1') == nodes_a
    joined = ok(two.run('worker2', state='join', join_token=token, remote_addrs=[two.addr('manager1')]))
    assert joined['actions'] == ['join']
    assert two.swarm('worker2')['LocalNodeState'] == 'active'
    assert two.node_list('manager1')[two.swarm('worker2')['NodeID']][1:] == ('worker', 'ready')
    leave_and_forget(two, 'worker2')
    assert two.node_list('manager1') == nodes_a


def leave_and_forget(t, node, via='manager1'):
    """Make ``node`` leave and remove its entry, so the next test starts clean."""
    node_id = t.swarm(node)['NodeID']
    ok(t.run(node, state='absent'))
    t.api(via).remove_node(node_id, force=True)


def test_worker_token_for_a_manager_without_manager_names_the_stale_entry(two):
    """role=manager with a worker token and addresses only: the token's role
    cannot be known before joining; worker2 joins as a worker, leaves again,
    and the message names the node entry left behind and how to remove it."""
    nodes_a = two.node_list('manager1')
    result = failed(two.run('worker2', state='join', role='manager', join_token=two.tokens('manager1')['Worker'],
                            remote_addrs=[two.addr('manager1')]),
                    'join_token is a worker token, but role=manager', 'left the swarm again')
    assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    stale = [i for i in two.node_list('manager1') if i not in nodes_a]
    assert len(stale) == 1, two.node_list('manager1')
    assert 'Its node entry %s stays' % stale[0] in result['msg']
    assert 'docker node rm --force %s' % stale[0] in result['msg']
    assert result['changed'] is True
    # the named step works and brings the node list back to what it was
    ok(module('docker_swarm_node', docker_host=two.host('manager1'), name=stale[0], state='absent', force=True))
    assert two.node_list('manager1') == nodes_a


def test_worker_token_for_a_manager_with_manager_is_refused_before_joining(two):
    nodes_a = two.node_list('manager1')
    failed(two.run('worker2', state='join', role='manager', join_token=two.tokens('manager1')['Worker'],
                   manager={'docker_host': two.host('manager1')}),
           'join_token is a worker token, but role=manager')
    assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    assert two.node_list('manager1') == nodes_a


# ------------------------------------------------------------------ defect 11: the pending state explained

def test_pending_node_is_explained_and_can_give_the_attempt_up(two):
    """A join the engine gave up on after its 20 s (made directly, as an
    operator would, while a firewall drops worker2's traffic to manager1):
    worker2 stays 'pending'. The module says what that means and what to do,
    and state=absent gives the attempt up; then a plain join works."""
    token = two.tokens('manager1')['Worker']
    rule = ['OUTPUT', '-p', 'tcp', '-d', two.addr('manager1'), '--dport', '2377', '-j', 'DROP']
    two.netns('worker2', 'iptables', '-I', *rule)
    try:
        with pytest.raises(docker.errors.APIError):
            two.api('worker2').join_swarm(['%s:2377' % two.addr('manager1')], token, listen_addr='0.0.0.0:2377')
        assert two.swarm('worker2')['LocalNodeState'] == 'pending'
        result = failed(two.run('worker2', state='join', join_token=token, remote_addrs=[two.addr('manager1')]),
                        'force=true', 'state=absent')
        # the engine keeps trying in the background and, on a slow machine, may have given up by now
        # (swarm state error, with its reason): either way the module says which and what to do
        state = two.swarm('worker2')['LocalNodeState']
        assert state in ('pending', 'error')
        if "swarm state 'pending'" in result['msg']:
            assert 'an earlier join has not completed' in result['msg']
            assert 'trying to reach %s:2377' % two.addr('manager1') in result['msg']
        else:
            assert "swarm state 'error' (" in result['msg'] and state == 'error', result['msg']
        assert 'no error reported' not in result['msg']
        assert ok(two.run('worker2', state='absent'))['actions'] == ['leave_force']
        assert two.swarm('worker2')['LocalNodeState'] == 'inactive'
    finally:
        two.netns('worker2', 'iptables', '-D', *rule)
    joined = ok(two.run('worker2', state='join', join_token=token, remote_addrs=[two.addr('manager1')]))
    assert joined['actions'] == ['join']
    assert two.swarm('worker2')['LocalNodeState'] == 'active'
    leave_and_forget(two, 'worker2')


# ------------------------------------------------------------------ defect 6: nonsense refused before anything

NONSENSE = [
    # (arguments, words of the refusal, also in check mode)
    (dict(election_tick=1), 'election_tick must be greater than heartbeat_tick', True),
    (dict(heartbeat_tick=10), 'election_tick must be greater than heartbeat_tick', False),
    (dict(heartbeat_tick=3, election_tick=3), 'election_tick (3) must be greater than heartbeat_tick (3)', False),
    (dict(task_history_retention_limit=-1), 'task_history_retention_limit must be 0 or more', True),
    (dict(snapshot_interval=-100), 'snapshot_interval must be 0 or more', False),
    (dict(external_cas=[{'url': 'ca.example.com:8888'}]), 'is not an http(s) URL', False),
    (dict(labels={'zone': None}), "label 'zone' has no value", False),
    (dict(labels={'': 'x'}), 'a label has an empty key', False),
    (dict(rotate_unlock_key=True), 'rotate_unlock_key: this swarm is not autolocked', True),
    (dict(rotate_unlock_key=True, autolock_managers=False), 'not autolocked', False),
    (dict(wait_timeout=-5), 'wait_timeout must be 0 or more', False),
]


def test_settings_that_make_no_sense_are_refused_before_anything_changes(two):
    before = two.api('manager1').inspect_swarm()
    for args, words, also_check in NONSENSE:
        for check in (False, True) if also_check else (False,):
            result = failed(two.run('manager1', check=check, **args), words)
            assert not result.get('changed'), args
    after = two.api('manager1').inspect_swarm()
    assert after['Version'] == before['Version'] and after['Spec'] == before['Spec']
    assert after['JoinTokens'] == before['JoinTokens']


def test_numeric_and_boolean_cluster_labels_are_text(two):
    result = ok(two.run('manager1', labels={'rack': 1, 'ssd': True, 'zone': 'a'}))
    assert result['changed']
    assert two.api('manager1').inspect_swarm()['Spec']['Labels'] == {'rack': '1', 'ssd': 'true', 'zone': 'a'}
    assert not ok(two.run('manager1', labels={'rack': 1, 'ssd': True, 'zone': 'a'}))['changed']
    ok(two.run('manager1', labels={}))
    assert not two.api('manager1').inspect_swarm()['Spec'].get('Labels')


# ------------------------------------------------------------------ no-op paths stay cheap

def test_joining_again_makes_no_probe_and_no_extra_request(two):
    result = ok(two.run('worker1', state='join', role='worker', manager={'docker_host': two.host('manager1')},
                        debug=True))
    assert not result['changed']
    assert result['api_calls'] == ['GET /version', 'GET /info', 'manager: GET /version', 'manager: GET /nodes',
                                   'manager: GET /swarm']
    token = two.tokens('manager1')['Worker']
    result = ok(two.run('worker1', state='join', role='worker', join_token=token,
                        remote_addrs=[two.addr('manager1')], debug=True))
    assert not result['changed'] and result['api_calls'] == ['GET /version', 'GET /info']
    result = ok(two.run('manager1', snapshot_interval=10000, debug=True))
    assert result['api_calls'] == ['GET /version', 'GET /info', 'GET /swarm']
