# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_swarm_node on fake engines: what a role change waits for (the
manager's view, the node's own engine, its certificate), the checks of
node_connection, lost quorum and ambiguous names, all before any change."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import EngineError
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import PlanError
from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm_node
from ansible_collections.nativeswarm.cluster.plugins.modules.docker_swarm_node import NodeOperator
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.swarm_certs import MANAGER_PEM, NODE, WORKER_PEM

NO_LEADER = EngineError('GET /nodes on unix:///m1: rpc error: code = Unknown desc = The swarm does not have a '
                        'leader.', 500)


def entry(node_id, hostname, role='manager', state='ready', reachability='reachable'):
    result = {'ID': node_id, 'Version': {'Index': 3}, 'Spec': {'Role': role, 'Availability': 'active'},
              'Description': {'Hostname': hostname}, 'Status': {'State': state}}
    if reachability:
        result['ManagerStatus'] = {'Reachability': reachability, 'Addr': '10.0.0.9:2377'}
    return result


class Clock:
    """Time for the module: each sleep moves time on and runs the next
    scripted event (what the swarm does meanwhile)."""

    def __init__(self, events=()):
        self.now = 1000.0
        self.events = list(events)
        self.slept = 0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.slept += 1
        if self.events:
            self.events.pop(0)()


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(docker_swarm_node.time, 'time', clock.time)
    monkeypatch.setattr(docker_swarm_node.time, 'sleep', clock.sleep)
    monkeypatch.setattr(_client.time, 'time', clock.time)
    monkeypatch.setattr(_client.time, 'sleep', clock.sleep)
    return clock


class Manager:
    url = 'unix:///m1'

    def __init__(self, nodes):
        self.entries = dict((n['ID'], n) for n in nodes)
        self.order = [n['ID'] for n in nodes]
        self.calls = []
        self.nodes_error = None

    def info(self):
        return {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'm1', 'ControlAvailable': True,
                          'RemoteManagers': [{'NodeID': 'm%d' % i, 'Addr': 'x'} for i in (1, 2, 3)]}}

    def nodes(self):
        self.calls.append('GET /nodes')
        if self.nodes_error:
            raise self.nodes_error
        return [copy.deepcopy(self.entries[i]) for i in self.order]

    def node_inspect(self, node_id):
        return copy.deepcopy(self.entries[node_id])

    def node_update(self, node_id, version, spec):
        self.calls.append('POST /nodes/%s/update' % node_id)
        self.entries[node_id]['Spec'] = spec

    def node_remove(self, node_id, force=False):
        self.calls.append('DELETE /nodes/%s' % node_id)

    def tasks(self, filters=None):
        return []


class OwnEngine:
    """The demoted node's own engine: /info and a data root on this host."""

    def __init__(self, root, node_id=NODE, control=True):
        self.root, self.node_id, self.control = root, node_id, control
        self.down = False

    def info(self):
        if self.down:
            raise EngineError('cannot reach the Docker engine at unix:///n: there is no socket at that path')
        return {'DockerRootDir': str(self.root),
                'Swarm': {'NodeID': self.node_id, 'LocalNodeState': 'active', 'ControlAvailable': self.control}}

    def certificate(self, pem):
        path = os.path.join(str(self.root), 'swarm', 'certificates')
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, 'swarm-node.crt'), 'w') as handle:
            handle.write(pem)


class Module:
    check_mode = False

    def __init__(self, **params):
        self.params = dict(name=[NODE], state='present', role=None, availability=None, wait=False,
                           wait_timeout=30, labels=None, labels_state='merge', labels_to_remove=None, force=False,
                           allow_even_managers=True, node_connection=None, debug=False)
        self.params.update(params)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def operator(module, manager, own=None):
    op = NodeOperator.__new__(NodeOperator)
    op.module, op.p, op.labels = module, module.params, None
    op.engine, op.node_engine = manager, own
    op.node_info = own.info() if own else None
    op.actions, op.changes, op.confirmed = [], [], []
    return op


def cluster(target_role='manager'):
    nodes = [entry('m1', 'manager1'), entry('m2', 'manager2'), entry('m3', 'manager3')]
    nodes.append(entry(NODE, 'worker1', role=target_role, reachability='reachable' if target_role == 'manager'
                       else None))
    return nodes


# ============================================================== what a demotion waits for

def test_demotion_without_the_nodes_engine_waits_for_the_manager_and_warns(clock):
    manager = Manager(cluster())
    clock.events = [lambda: manager.entries[NODE].pop('ManagerStatus')]
    module = Module(role='worker')
    op = operator(module, manager)
    op.wait_role(manager.entries[NODE], 'worker')
    assert op.confirmed == ['worker1: no longer a member of the Raft cluster (seen by the manager)']
    assert clock.slept == 1
    assert len(module.warnings) == 1 and 'Do not stop that engine before then' in module.warnings[0]


def test_demotion_waits_for_the_nodes_engine_and_its_worker_certificate(clock, tmp_path):
    manager = Manager(cluster())
    own = OwnEngine(tmp_path)
    own.certificate(MANAGER_PEM)
    clock.events = [lambda: manager.entries[NODE].pop('ManagerStatus'),
                    lambda: setattr(own, 'down', True),          # an answer missed: keep waiting
                    lambda: setattr(own, 'down', False),
                    lambda: setattr(own, 'control', False),
                    lambda: None,
                    lambda: own.certificate(WORKER_PEM)]
    module = Module(role='worker')
    op = operator(module, manager, own)
    op.wait_role(manager.entries[NODE], 'worker')
    assert op.confirmed == ['worker1: no longer a member of the Raft cluster (seen by the manager)',
                            'worker1: its engine no longer runs a manager (its /info)',
                            'worker1: its swarm certificate is a worker certificate (read on this host)']
    assert module.warnings == [] and clock.slept == 6 and not clock.events


def test_demotion_when_the_certificate_cannot_be_read_here_warns(clock, tmp_path):
    manager = Manager(cluster())
    own = OwnEngine(tmp_path / 'elsewhere')
    clock.events = [lambda: manager.entries[NODE].pop('ManagerStatus'), lambda: setattr(own, 'control', False)]
    module = Module(role='worker')
    op = operator(module, manager, own)
    op.wait_role(manager.entries[NODE], 'worker')
    assert op.confirmed[-1] == 'worker1: its engine no longer runs a manager (its /info)'
    assert len(module.warnings) == 1 and 'OU=swarm-worker' in module.warnings[0]


def test_a_certificate_of_another_node_is_not_taken_for_this_ones(clock, tmp_path):
    manager = Manager(cluster())
    own = OwnEngine(tmp_path)
    own.certificate(WORKER_PEM)
    manager.entries[NODE]['ID'] = 'othernode'
    manager.entries['othernode'] = manager.entries.pop(NODE)
    manager.entries['othernode'].pop('ManagerStatus')
    own.node_id, own.control = 'othernode', False
    op = operator(Module(role='worker'), manager, own)
    op.wait_role(manager.entries['othernode'], 'worker')
    assert len(op.confirmed) == 2 and op.module.warnings


def test_a_demotion_that_does_not_settle_times_out_naming_the_step(clock, tmp_path):
    manager = Manager(cluster())
    manager.entries[NODE].pop('ManagerStatus')
    own = OwnEngine(tmp_path)
    op = operator(Module(role='worker', wait_timeout=3), manager, own)
    with pytest.raises(PlanError, match=r'timed out after 3s waiting for worker1 to stop running a manager '
                                        r'\(its own engine\)'):
        op.wait_role(manager.entries[NODE], 'worker')


# ============================================================== what a promotion waits for

def test_promotion_waits_until_the_nodes_engine_runs_a_manager(clock, tmp_path):
    manager = Manager(cluster(target_role='worker'))
    own = OwnEngine(tmp_path, control=False)
    clock.events = [lambda: manager.entries[NODE].update(ManagerStatus={'Reachability': 'unknown'}),
                    lambda: manager.entries[NODE].update(ManagerStatus={'Reachability': 'reachable'}),
                    lambda: setattr(own, 'control', True)]
    op = operator(Module(role='manager'), manager, own)
    op.wait_role(manager.entries[NODE], 'manager')
    assert op.confirmed == ['worker1: a reachable member of the Raft cluster (seen by the manager)',
                            'worker1: its engine runs a manager (its /info)']
    assert op.module.warnings == [] and clock.slept == 3


# ============================================================== node_connection checked before anything changes

@pytest.fixture
def own_engine(monkeypatch, tmp_path):
    made = []

    def make(params, label='engine'):
        if params.get('docker_host') == 'unix:///broken':
            raise ValueError('timeout must be a number of seconds greater than 0, not -1')
        engine = OwnEngine(tmp_path, node_id=params.get('docker_host').rsplit('/', 1)[-1])
        engine.down = params.get('docker_host') == 'unix:///gone'
        made.append(engine)
        return engine
    monkeypatch.setattr(docker_swarm_node, 'Engine', make)
    return made


def run(module, manager):
    op = operator(module, manager)
    return op, op.run()


def test_node_connection_to_another_engine_is_refused_before_any_change(clock, own_engine):
    manager = Manager(cluster())
    module = Module(role='worker', node_connection={'docker_host': 'unix:///m2'})
    with pytest.raises(PlanError) as err:
        run(module, manager)
    assert str(err.value) == ('node_connection reaches the engine of node m2, not of worker1 (%s): check '
                              'node_connection; nothing was changed' % NODE)
    assert manager.calls == ['GET /nodes']


def test_a_bad_node_connection_option_is_refused_before_any_change(clock, own_engine):
    manager = Manager(cluster())
    with pytest.raises(PlanError, match='node_connection: timeout must be'):
        run(Module(role='worker', node_connection={'docker_host': 'unix:///broken'}), manager)
    assert manager.calls == ['GET /nodes']


def test_a_node_engine_that_does_not_answer_is_skipped_with_a_warning(clock, own_engine):
    manager = Manager(cluster())
    clock.events = [lambda: manager.entries[NODE].pop('ManagerStatus')]
    module = Module(role='worker', node_connection={'docker_host': 'unix:///gone'})
    op, result = run(module, manager)
    assert result['confirmed'] == ['worker1: no longer a member of the Raft cluster (seen by the manager)']
    assert 'does not answer' in module.warnings[0] and 'Do not stop' in module.warnings[1]


# ============================================================== refusals before any change

def test_lost_quorum_changes_nothing(clock):
    manager = Manager(cluster())
    manager.nodes_error = NO_LEADER
    with pytest.raises(PlanError) as err:
        run(Module(role='worker'), manager)
    assert str(err.value).startswith('quorum lost: the swarm has no leader; 3 managers')
    assert str(err.value).endswith('; nothing was changed')
    assert set(manager.calls) == {'GET /nodes'}


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_a_live_node_and_its_down_entry_are_refused_before_any_change(clock, state):
    nodes = cluster() + [entry('oldw1', 'worker1', role='worker', state='down', reachability=None)]
    manager = Manager(nodes)
    with pytest.raises(PlanError, match="'worker1' names 2 nodes"):
        run(Module(name=['worker1'], state=state, availability='drain', role=None), manager)
    assert manager.calls == ['GET /nodes']


def test_check_node_request_runs_before_connecting(monkeypatch):
    monkeypatch.setattr(docker_swarm_node, 'connect', lambda *a, **k: pytest.fail('connected'))
    with pytest.raises(PlanError, match='wait_timeout'):
        NodeOperator(Module(wait_timeout=-5, availability='drain', wait=True))
