"""docker_swarm_info's gathering, on a fake engine."""

from __future__ import annotations

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import EngineError
from ansible_collections.nativeswarm.cluster.plugins.modules.docker_swarm_info import gather

PARAMS = dict(nodes=True, services=False, services_filters=None, tasks=False, tasks_filters=None,
              return_join_tokens=False)


def node(node_id, hostname, role='worker', reachability=None, leader=False):
    result = dict(ID=node_id, Spec=dict(Role=role, Availability='active'),
                  Description=dict(Hostname=hostname), Status=dict(State='ready', Addr='10.0.0.1'))
    if reachability:
        result['ManagerStatus'] = dict(Reachability=reachability, Leader=leader, Addr='10.0.0.1:2377')
    return result


class FakeEngine:
    def __init__(self, info, nodes=(), tasks_error=None):
        self._info, self._nodes, self.tasks_error = info, list(nodes), tasks_error
        self.calls = []

    def info(self):
        self.calls.append('info')
        return self._info

    def nodes(self):
        self.calls.append('nodes')
        return self._nodes

    def tasks(self, filters=None):
        self.calls.append('tasks')
        if self.tasks_error:
            raise self.tasks_error
        return [{'ID': 't1'}]

    def services(self, filters=None):
        return []

    def swarm_inspect(self):
        return {'JoinTokens': {'Worker': 'SWMTKN-1-w', 'Manager': 'SWMTKN-1-m'}}


MANAGER_INFO = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'm1', 'ControlAvailable': True,
                          'Cluster': {'ID': 'c1'}}}
WORKER_INFO = {'Swarm': {'LocalNodeState': 'active', 'NodeID': 'w1', 'ControlAvailable': False}}
NODES = [node('w1', 'worker1'), node('m2', 'manager2', 'manager', 'unreachable'),
         node('m1', 'manager1', 'manager', 'reachable', leader=True), node('m3', 'manager3', 'manager', 'reachable')]


def test_a_manager_reports_nodes_quorum_and_leader():
    result = gather(FakeEngine(MANAGER_INFO, NODES), PARAMS)
    assert result['docker_swarm_manager'] and result['cluster_id'] == 'c1'
    assert (result['managers'], result['reachable_managers'], result['quorum'], result['fault_tolerance']) == (3, 2, 2, 0)
    assert result['leader'] == 'manager1'
    assert [n['hostname'] for n in result['nodes']] == ['manager1', 'manager2', 'manager3', 'worker1']
    assert 'join_tokens' not in result


def test_a_worker_reports_only_itself_and_warns_about_manager_only_facts():
    engine = FakeEngine(WORKER_INFO, NODES)
    result = gather(engine, dict(PARAMS, tasks=True, return_join_tokens=True))
    assert result['docker_swarm_active'] and not result['docker_swarm_manager']
    assert 'nodes' not in result and 'join_tokens' not in result
    assert result['cluster_warnings'] == ['tasks, return_join_tokens asked for, but only a manager knows them; '
                                          'this engine is a worker']
    assert engine.calls == ['info']


def test_tasks_of_a_service_that_does_not_exist_are_an_empty_list():
    engine = FakeEngine(MANAGER_INFO, NODES, tasks_error=EngineError('service web not found', 404))
    assert gather(engine, dict(PARAMS, tasks=True, tasks_filters={'service': 'web'}))['tasks'] == []


def test_other_task_errors_are_not_hidden():
    engine = FakeEngine(MANAGER_INFO, NODES, tasks_error=EngineError('boom', 500))
    with pytest.raises(EngineError):
        gather(engine, dict(PARAMS, tasks=True))


def test_join_tokens_only_when_asked():
    result = gather(FakeEngine(MANAGER_INFO, NODES), dict(PARAMS, return_join_tokens=True))
    assert result['join_tokens'] == {'worker': 'SWMTKN-1-w', 'manager': 'SWMTKN-1-m'}
