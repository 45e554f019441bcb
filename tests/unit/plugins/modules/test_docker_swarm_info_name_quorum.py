# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_swarm_info's name option and lost quorum, on a fake engine."""

from __future__ import annotations

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import EngineError
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import PlanError
from ansible_collections.nativeswarm.cluster.plugins.modules.docker_swarm_info import gather

PARAMS = dict(nodes=True, name=None, services=False, services_filters=None, tasks=False, tasks_filters=None,
              return_join_tokens=False)
NO_LEADER = EngineError("GET /nodes on unix:///x: rpc error: code = Unknown desc = The swarm does not have a "
                        "leader. It's possible that too few managers are online.", 500)


def node(node_id, hostname, role='worker', state='ready', reachability=None, leader=False):
    result = dict(ID=node_id, Spec=dict(Role=role, Availability='active'), Description=dict(Hostname=hostname),
                  Status=dict(State=state, Addr='10.0.0.1'))
    if reachability:
        result['ManagerStatus'] = dict(Reachability=reachability, Leader=leader, Addr='10.0.0.1:2377')
    return result


NODES = [node('m1aaaaaaaaaaaaaaaaaaaaaaa', 'manager1', 'manager', reachability='reachable', leader=True),
         node('m2aaaaaaaaaaaaaaaaaaaaaaa', 'manager2', 'manager', reachability='reachable'),
         node('m3aaaaaaaaaaaaaaaaaaaaaaa', 'manager3', 'manager', reachability='reachable'),
         node('w1aaaaaaaaaaaaaaaaaaaaaaa', 'worker1'),
         node('w2oldaaaaaaaaaaaaaaaaaaaa', 'worker2', state='down'),
         node('w2newaaaaaaaaaaaaaaaaaaaa', 'worker2')]
MANAGER_INFO = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'm3aaaaaaaaaaaaaaaaaaaaaaa', 'ControlAvailable': True,
                          'Cluster': {'ID': 'c1'}, 'Managers': 3, 'Nodes': 6,
                          'RemoteManagers': [{'NodeID': 'm%daaaaaaaaaaaaaaaaaaaaaaa' % i, 'Addr': '10.0.0.%d:2377' % i}
                                             for i in (1, 2, 3)]}}
LOST_INFO = {'Swarm': dict(MANAGER_INFO['Swarm'], Cluster={'ID': ''}, Managers=0, Nodes=0,
                           Error='rpc error: code = Unknown desc = The swarm does not have a leader.')}
WORKER_INFO = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'w1aaaaaaaaaaaaaaaaaaaaaaa', 'ControlAvailable': False}}


class FakeEngine:
    url = 'unix:///run/fake.sock'

    def __init__(self, info, nodes=None):
        self._info = info
        self._nodes = nodes
        self.calls = []

    def info(self):
        self.calls.append('info')
        return self._info

    def nodes(self):
        self.calls.append('nodes')
        answer = self._nodes.pop(0) if isinstance(self._nodes, list) and self._nodes and \
            isinstance(self._nodes[0], (list, Exception)) else self._nodes
        if isinstance(answer, Exception):
            raise answer
        return answer

    def services(self, filters=None):
        self.calls.append('services')
        return []

    def tasks(self, filters=None):
        self.calls.append('tasks')
        return []

    def swarm_inspect(self):
        self.calls.append('swarm')
        return {'JoinTokens': {}}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(_client.time, 'sleep', lambda seconds: None)


# ============================================================== name

@pytest.mark.parametrize('name, node_id', [('worker1', 'w1aaaaaaaaaaaaaaaaaaaaaaa'),
                                           ('worker1.example.com', 'w1aaaaaaaaaaaaaaaaaaaaaaa'),
                                           ('w2oldaaaaaaa', 'w2oldaaaaaaaaaaaaaaaaaaaa'),
                                           ('m2aaaaaaaaaaaaaaaaaaaaaaa', 'm2aaaaaaaaaaaaaaaaaaaaaaa')])
def test_name_returns_the_resolved_node(name, node_id):
    result = gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, nodes=False, name=name), grace=0)
    assert result['node']['id'] == node_id
    assert set(result['node']) == set(result_keys())
    assert 'nodes' not in result


def result_keys():
    return gather(FakeEngine(MANAGER_INFO, NODES), PARAMS, grace=0)['nodes'][0].keys()


def test_a_down_node_is_found_and_reported_down():
    result = gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, name='w2olda'), grace=0)
    assert result['node']['status'] == 'down'


def test_no_match_is_an_empty_node():
    assert gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, name='nosuch'), grace=0)['node'] == {}


def test_a_shared_hostname_fails_listing_the_candidates():
    with pytest.raises(PlanError) as err:
        gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, name='worker2'), grace=0)
    assert "w2oldaaaaaaaaaaaaaaaaaaaa (hostname worker2, down, worker)" in str(err.value)
    assert "w2newaaaaaaaaaaaaaaaaaaaa (hostname worker2, ready, worker)" in str(err.value)


def test_name_needs_a_manager():
    engine = FakeEngine(WORKER_INFO, NODES)
    with pytest.raises(PlanError, match='name: only a manager can find a node, and the engine at '
                                        'unix:///run/fake.sock is a worker'):
        gather(engine, dict(PARAMS, name='worker1'), grace=0)
    assert engine.calls == ['info']


def test_an_empty_name_is_refused():
    with pytest.raises(PlanError, match='name is empty'):
        gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, name='  '), grace=0)


# ============================================================== lost quorum

@pytest.mark.parametrize('params', [dict(PARAMS, nodes=False), PARAMS, dict(PARAMS, name='worker1'),
                                    dict(PARAMS, services=True, tasks=True, return_join_tokens=True)])
def test_lost_quorum_is_reported_without_failing(params):
    engine = FakeEngine(LOST_INFO, NO_LEADER)
    result = gather(engine, params, grace=0)
    assert result['quorum_lost'] is True and result['docker_swarm_manager'] is True
    assert (result['managers'], result['quorum'], result['reachable_managers'], result['fault_tolerance'],
            result['leader']) == (3, 2, 1, 0, '')
    assert (result['local_node_state'], result['node_id'], result['cluster_id']) == (
        'active', 'm3aaaaaaaaaaaaaaaaaaaaaaa', '')
    assert result['cluster_warnings'][0].startswith('quorum lost: the swarm has no leader; 3 managers')
    assert 'nodes' not in result and 'node' not in result and 'join_tokens' not in result
    # nothing but /info and /nodes was asked
    assert set(engine.calls) == {'info', 'nodes'}


def test_lost_quorum_says_what_could_not_be_read():
    result = gather(FakeEngine(LOST_INFO, NO_LEADER), dict(PARAMS, name='worker1', tasks=True), grace=0)
    assert result['cluster_warnings'][1] == ('tasks, nodes, name asked for, but a swarm without a leader cannot '
                                             'list them')


def test_a_short_election_is_not_lost_quorum():
    engine = FakeEngine(MANAGER_INFO, [NO_LEADER, NO_LEADER, NODES])
    result = gather(engine, PARAMS, grace=60)
    assert result['quorum_lost'] is False and result['managers'] == 3 and len(result['nodes']) == 6


def test_a_healthy_manager_reports_quorum_not_lost():
    result = gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, nodes=False), grace=0)
    assert result['quorum_lost'] is False and result['fault_tolerance'] == 1 and result['leader'] == 'manager1'


def test_other_node_list_errors_still_fail():
    with pytest.raises(EngineError, match='deadline'):
        gather(FakeEngine(MANAGER_INFO, EngineError('GET /nodes on x: context deadline exceeded', 500)), PARAMS,
               grace=0)


def test_a_worker_is_never_asked_for_nodes():
    engine = FakeEngine(WORKER_INFO, NODES)
    result = gather(engine, PARAMS, grace=0)
    assert engine.calls == ['info'] and result['quorum_lost'] is False and 'managers' not in result


# ============================================================== documentation blocks are YAML

@pytest.mark.parametrize('name', ['docker_swarm_info', 'docker_swarm_node'])
@pytest.mark.parametrize('block', ['DOCUMENTATION', 'EXAMPLES', 'RETURN'])
def test_documentation_blocks_parse(name, block):
    import importlib

    import yaml
    source = importlib.import_module('ansible_collections.nativeswarm.cluster.plugins.modules.%s' % name)
    assert yaml.safe_load(getattr(source, block))
