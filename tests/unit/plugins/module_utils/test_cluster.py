# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the whole-cluster planner (plugins/module_utils/_cluster.py).

Inputs are shaped like the Engine API's answers: ``GET /info`` of every
listed engine, ``GET /nodes`` and ``GET /swarm`` of one manager."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._cluster import (
    action_text, batches, needs_swarm, plan_cluster, stray_entries, survey, validate_request)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import PlanError


# ============================================================== factories

CLUSTER = 'clusterAAAAAAAAAAAAAAAAAAAA'
OTHER = 'clusterBBBBBBBBBBBBBBBBBBBB'


def nid(name):
    return 'id-' + name


def info(name, state='active', manager=False, cluster=CLUSTER, error='', remote=('10.0.0.11:2377',)):
    """``GET /info`` of the engine of node ``name``."""
    swarm = {'LocalNodeState': state, 'NodeID': nid(name) if state != 'inactive' else '',
             'ControlAvailable': manager and state == 'active', 'Error': error,
             'RemoteManagers': [{'NodeID': 'x', 'Addr': a} for a in remote] if state == 'active' else None}
    if manager and state == 'active':
        swarm['Cluster'] = {'ID': cluster}
    return {'ID': 'ENGINE-' + name, 'Name': name, 'Swarm': swarm}


def bare(name):
    return info(name, state='inactive')


def node(name, role='worker', availability='active', labels=None, state='ready', reachability='reachable',
         leader=False, version=10):
    """One element of ``GET /nodes``."""
    result = {'ID': nid(name), 'Version': {'Index': version},
              'Spec': {'Role': role, 'Availability': availability},
              'Description': {'Hostname': name}, 'Status': {'State': state, 'Addr': '10.0.0.9'}}
    if labels is not None:
        result['Spec']['Labels'] = labels
    if role == 'manager':
        result['ManagerStatus'] = {'Reachability': reachability, 'Addr': '10.0.0.9:2377'}
        if leader:
            result['ManagerStatus']['Leader'] = True
    return result


SWARM = {'ID': CLUSTER, 'Version': {'Index': 7},
         'Spec': {'Raft': {'SnapshotInterval': 10000, 'ElectionTick': 10, 'HeartbeatTick': 1},
                  'Dispatcher': {'HeartbeatPeriod': 5000000000}},
         'DataPathPort': 4789, 'DefaultAddrPool': ['10.0.0.0/8'], 'SubnetSize': 24}


def request(managers=('m1', 'm2', 'm3'), workers=('w1', 'w2'), nodes=None, **extra):
    """A request as the module builds it; ``nodes`` gives per-node fields."""
    nodes = nodes or {}

    def entry(name):
        return dict(dict(name=name, docker_host='unix:///run/%s.sock' % name), **nodes.get(name, {}))
    req = dict(managers=[entry(n) for n in managers], workers=[entry(n) for n in workers], settings={},
               labels_state='merge', remove_absent=False, allow_even_managers=False, max_parallel=20,
               wait_timeout=120)
    req.update(extra)
    return validate_request(req)


def plan(req, infos, nodes=None, swarm=None):
    found = survey(req, infos)
    return plan_cluster(req, found, nodes, swarm)


def steps(result):
    return [(a['node'], a['action']) + ((a['role'],) if a['action'] == 'join' else ()) for a in result['actions']]


def converged_infos(managers=('m1', 'm2', 'm3'), workers=('w1', 'w2')):
    infos = dict((m, info(m, manager=True)) for m in managers)
    infos.update((w, info(w)) for w in workers)
    return infos


def converged_nodes(managers=('m1', 'm2', 'm3'), workers=('w1', 'w2')):
    return [node(m, 'manager', leader=i == 0) for i, m in enumerate(managers)] + [node(w) for w in workers]


def refused(*words):
    class Check:
        def __enter__(self):
            self.raises = pytest.raises(PlanError)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self.raises.__exit__(*exc)
            for word in words:
                assert word in str(self.info.value), str(self.info.value)
            return result
    return Check()


# ============================================================== validate_request

def test_a_request_without_managers_is_refused():
    with refused('at least one manager'):
        request(managers=())


@pytest.mark.parametrize('managers, workers, words', [
    (('m1', 'm2', 'm3'), ('w1', 'm2'), ('m2 is listed twice', 'managers', 'workers')),
    (('m1', 'm2', 'm1'), (), ('m1 is listed twice', 'in managers and in managers')),
    (('m1',), ('w1', 'w1'), ('w1 is listed twice',)),
])
def test_each_name_is_listed_once(managers, workers, words):
    with refused(*words):
        request(managers=managers, workers=workers)


def test_an_empty_name_is_refused():
    with refused('workers[1]', 'name'):
        request(managers=('m1',), workers=('w1', ' '))


def test_two_nodes_on_one_docker_host_are_refused():
    with refused('m1 and w1', 'same docker_host', 'unix:///run/m1.sock'):
        request(managers=('m1',), workers=('w1',), nodes={'w1': {'docker_host': 'unix:///run/m1.sock'}})


def test_even_managers_are_refused_unless_allowed():
    with refused('4 managers listed', 'allow_even_managers'):
        request(managers=('m1', 'm2', 'm3', 'm4'))
    assert len(request(managers=('m1', 'm2'), allow_even_managers=True)['managers']) == 2


def test_label_values_are_strings():
    req = request(managers=('m1',), workers=('w1',), nodes={'w1': {'labels': {'rack': 7, 'zone': 'a'}}})
    assert req['workers'][0]['labels'] == {'rack': '7', 'zone': 'a'}
    for bad in (True, None, ['a'], {'x': 1}):
        with refused('w1', "label 'ssd'", 'quote it'):
            request(managers=('m1',), workers=('w1',), nodes={'w1': {'labels': {'ssd': bad}}})


@pytest.mark.parametrize('extra, words', [
    (dict(max_parallel=0), ('max_parallel', '1 or more')),
    (dict(wait_timeout=-5), ('wait_timeout',)),
    (dict(settings={'snapshot_interval': -1}), ('snapshot_interval must be 0 or more',)),
    (dict(settings={'heartbeat_tick': 3, 'election_tick': 3}), ('election_tick (3) must be greater',)),
    (dict(settings={'labels': {'env': ['a']}}), ("label 'env'",)),
    (dict(settings={'rotate_ca': True}), ('rotate_ca', 'not a cluster setting')),
])
def test_bad_numbers_and_settings_are_refused(extra, words):
    with refused(*words):
        request(**extra)


def test_nodes_are_completed_with_their_role():
    req = request(managers=('m1',), workers=('w1',))
    assert req['managers'][0]['role'] == 'manager' and req['workers'][0]['role'] == 'worker'
    assert req['workers'][0]['labels'] is None and req['workers'][0]['availability'] is None


# ============================================================== survey

def test_a_locked_pending_or_broken_node_stops_everything_and_is_named():
    infos = converged_infos()
    infos['m2'] = info('m2', state='locked', manager=True)
    infos['w2'] = info('w2', state='error', error='certificate expired')
    with refused('nothing was changed', 'm2 is locked', 'unlock_key', 'w2 is in swarm state error',
                 'certificate expired'):
        survey(request(), infos)
    infos = converged_infos()
    infos['w1'] = info('w1', state='pending')
    with refused('w1 is still joining'):
        survey(request(), infos)


def test_two_swarms_among_the_listed_nodes_are_refused():
    infos = converged_infos()
    infos['w2'] = info('w2', manager=True, cluster=OTHER)
    with refused('2 different swarms', CLUSTER, OTHER, 'm1, m2, m3', 'w2'):
        survey(request(), infos)


def test_one_engine_listed_under_two_names_is_refused():
    infos = converged_infos()
    infos['w2'] = dict(infos['w1'])
    with refused('w1 and w2 reach the same Docker engine'):
        survey(request(), infos)


def test_workers_of_a_swarm_no_listed_node_manages_are_refused():
    infos = dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1'))
    infos['w2'] = info('w2', remote=('192.0.2.5:2377',))
    with refused('w2 is a worker of a swarm that none of the listed nodes manages', '192.0.2.5:2377'):
        survey(request(), infos)


def test_the_first_listed_manager_of_the_swarm_acts():
    infos = converged_infos()
    infos['m1'] = bare('m1')
    found = survey(request(), infos)
    assert found['acting'] == 'm2' and found['cluster_id'] == CLUSTER


def test_a_listed_worker_that_manages_the_swarm_acts_when_no_listed_manager_does():
    infos = dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1'))
    infos['w2'] = info('w2', manager=True)
    assert survey(request(), infos)['acting'] == 'w2'


def test_bare_engines_have_no_swarm():
    found = survey(request(), dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1', 'w2')))
    assert found['acting'] is None and found['cluster_id'] is None


# ============================================================== fresh cluster

def test_fresh_cluster_init_then_managers_one_by_one_then_workers():
    req = request(nodes={'m1': {'availability': 'drain'}, 'w1': {'labels': {'zone': 'a'}}},
                  settings={'snapshot_interval': 5000})
    result = plan(req, dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1', 'w2')))
    assert steps(result) == [('m1', 'init'), ('m2', 'join', 'manager'), ('m3', 'join', 'manager'),
                             ('w1', 'join', 'worker'), ('w2', 'join', 'worker'), ('w1', 'update')]
    assert all(a['via'] == 'm1' for a in result['actions'][1:])
    # the settings go with the init; labels need one update; availability went with the join
    assert result['actions'][0]['changes'] == [{'setting': 'Raft.SnapshotInterval', 'before': None, 'after': 5000}]
    assert result['wanted'] == {('Raft', 'SnapshotInterval'): 5000}
    assert result['actions'][-1]['set'] == {'Labels': {'zone': 'a'}}
    assert result['acting'] == 'm1'
    assert [len(b) for b in batches(result['actions'])] == [1, 1, 1, 2, 1]
    assert [action_text(a) for a in result['actions'][:4]] == ['m1: init', 'm2: join as manager',
                                                               'm3: join as manager', 'w1: join as worker']


def test_fresh_cluster_diff_shows_every_node_joining():
    req = request(nodes={'m1': {'availability': 'drain'}, 'w1': {'labels': {'zone': 'a'}}},
                  settings={'snapshot_interval': 5000})
    diff = plan(req, dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1', 'w2')))['diff']
    absent = dict(membership='absent', role='', availability='', labels={})
    assert diff['before']['nodes'] == dict((n, absent) for n in ('m1', 'm2', 'm3', 'w1', 'w2'))
    after = diff['after']['nodes']
    assert after['m1'] == dict(membership='member', role='manager', availability='drain', labels={})
    assert after['m3'] == dict(membership='member', role='manager', availability='active', labels={})
    assert after['w1'] == dict(membership='member', role='worker', availability='active', labels={'zone': 'a'})
    assert diff['before']['settings'] == {'Raft.SnapshotInterval': None}
    assert diff['after']['settings'] == {'Raft.SnapshotInterval': 5000}


def test_a_single_manager_cluster_is_fine():
    result = plan(request(managers=('m1',), workers=()), {'m1': bare('m1')})
    assert steps(result) == [('m1', 'init')]


# ============================================================== partial cluster

def test_partial_cluster_the_missing_nodes_join_through_the_existing_manager():
    infos = dict((n, bare(n)) for n in ('m1', 'm3', 'w2'))
    infos.update(m2=info('m2', manager=True), w1=info('w1'))
    nodes = [node('m2', 'manager', leader=True), node('w1')]
    result = plan(request(), infos, nodes, SWARM)
    assert steps(result) == [('m1', 'join', 'manager'), ('m3', 'join', 'manager'), ('w2', 'join', 'worker')]
    assert set(a['via'] for a in result['actions']) == {'m2'}
    assert result['acting'] == 'm2'
    assert set(result['diff']['before']['nodes']) == {'m1', 'm3', 'w2'}


def test_partial_cluster_with_nodes_of_another_swarm_is_refused():
    infos = converged_infos()
    infos['w2'] = info('w2', remote=('192.0.2.77:2377',))
    with refused('w2 is in another swarm than m1', '192.0.2.77:2377', 'force=true', 'nothing was changed'):
        plan(request(), infos, converged_nodes(workers=('w1',)), SWARM)


def test_joins_need_the_swarm_and_a_converged_run_does_not():
    infos = converged_infos()
    req = request()
    assert not needs_swarm(req, survey(req, infos))
    assert needs_swarm(request(settings={'snapshot_interval': 10000}), survey(req, infos))
    infos['w2'] = bare('w2')
    assert needs_swarm(req, survey(req, infos))
    assert not needs_swarm(req, survey(req, dict((n, bare(n)) for n in infos)))


# ============================================================== converged

def test_converged_cluster_plans_nothing():
    nodes = converged_nodes()
    nodes[3]['Spec']['Labels'] = {'zone': 'a', 'extra': 'kept'}
    req = request(nodes={'w1': {'labels': {'zone': 'a'}}, 'm1': {'availability': 'active'}},
                  settings={'snapshot_interval': 10000, 'dispatcher_heartbeat_period': 5})
    result = plan(req, converged_infos(), nodes, SWARM)
    assert result['actions'] == [] and result['changes'] == [] and result['cluster_changes'] == []
    assert result['diff'] == {'before': {'nodes': {}}, 'after': {'nodes': {}}}


def test_converged_with_unlisted_nodes_leaves_them_alone():
    nodes = converged_nodes(workers=('w1', 'w2', 'old'))
    nodes.append(node('gone', state='down'))
    assert plan(request(), converged_infos(), nodes, None)['actions'] == []


def test_the_planner_does_not_touch_its_inputs():
    nodes, infos = converged_nodes(), converged_infos()
    req = request(managers=('m1', 'm2', 'w1'), workers=('m3', 'w2'), nodes={'w2': {'labels': {'a': 'b'}}},
                  remove_absent=True)
    saved = copy.deepcopy((nodes, infos, req))
    plan(req, infos, nodes, SWARM)
    assert (nodes, infos, req) == saved


# ============================================================== settings

def test_settings_differences_take_one_update_through_the_acting_manager():
    req = request(settings={'snapshot_interval': 5000, 'election_tick': 10, 'labels': {'env': 'prod'}})
    result = plan(req, converged_infos(), converged_nodes(), SWARM)
    assert steps(result) == [('m1', 'settings')]
    assert result['actions'][0]['via'] == 'm1'
    assert sorted(c['setting'] for c in result['cluster_changes']) == ['Labels', 'Raft.SnapshotInterval']
    assert result['diff']['after']['settings'] == {'Labels': {'env': 'prod'}, 'Raft.SnapshotInterval': 5000}
    assert result['diff']['before']['nodes'] == {}
    assert action_text(result['actions'][0]) == 'm1: update the cluster settings'


def test_settings_that_would_not_work_with_the_swarm_are_refused():
    # the swarm's heartbeat tick is 1: an election tick of 1 is not greater
    with refused('election_tick must be greater than heartbeat_tick'):
        plan(request(settings={'election_tick': 1}), converged_infos(), converged_nodes(), SWARM)
    # and the same against the defaults of a swarm about to be made
    with refused('election_tick must be greater than heartbeat_tick', 'default'):
        plan(request(settings={'heartbeat_tick': 12}), dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1', 'w2')))


def test_cluster_labels_are_text():
    result = plan(request(settings={'labels': {'tier': 1, 'prod': True}}), converged_infos(), converged_nodes(),
                  SWARM)
    assert result['cluster_changes'] == [{'setting': 'Labels', 'before': None, 'after': {'tier': '1', 'prod': 'true'}}]


def test_init_only_settings_on_an_existing_swarm_are_warnings():
    req = request(settings={'data_path_port': 7789, 'subnet_size': 24})
    result = plan(req, converged_infos(), converged_nodes(), SWARM)
    assert result['actions'] == []
    assert result['warnings'] == ['data_path_port is 4789 on this swarm; it is set at initialization only and stays']


ROOT_CA = '-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n'
NEW_CA = '-----BEGIN CERTIFICATE-----\nMIIBnew\n-----END CERTIFICATE-----\n'


@pytest.mark.parametrize('cert, steps_, new_root_ca', [
    (None, [], False),
    # the swarm's own root CA, however its PEM lines are wrapped: nothing to do
    (ROOT_CA.replace('\n', '\r\n'), [], False),
    (NEW_CA, [('m1', 'settings')], True),
])
def test_a_signing_ca_rotates_the_root_ca_only_when_it_is_another(cert, steps_, new_root_ca):
    swarm = dict(SWARM, TLSInfo={'TrustRoot': ROOT_CA})
    settings = {'signing_ca_cert': cert, 'signing_ca_key': 'KEY'} if cert else {}
    result = plan(request(settings=settings), converged_infos(), converged_nodes(), swarm)
    assert steps(result) == steps_
    assert result['new_root_ca'] is new_root_ca
    if new_root_ca:
        assert result['cluster_changes'] == [
            {'setting': 'CAConfig.SigningCACert', 'before': '(current root CA)', 'after': '(new root CA)'}]
        # the key is never part of the plan (it is returned and diffed)
        assert 'KEY' not in repr(result)


def test_a_new_swarm_is_initialized_with_the_signing_ca():
    infos = dict((n, bare(n)) for n in ('m1', 'm2', 'm3', 'w1', 'w2'))
    result = plan(request(settings={'signing_ca_cert': NEW_CA, 'signing_ca_key': 'KEY'}), infos)
    assert steps(result)[0] == ('m1', 'init')
    assert result['new_root_ca'] is True
    assert plan(request(), infos)['new_root_ca'] is False


# ============================================================== roles and the quorum guard

def test_promote_comes_before_demote_and_each_is_guarded():
    # m3 becomes a worker, w1 a manager: promote first, so 3 -> 4 -> 3
    req = request(managers=('m1', 'm2', 'w1'), workers=('m3', 'w2'))
    result = plan(req, converged_infos(), converged_nodes(), SWARM)
    assert steps(result) == [('w1', 'promote'), ('m3', 'demote')]
    assert result['actions'][0]['set'] == {'Role': 'manager'}
    assert result['actions'][1]['set'] == {'Role': 'worker'}
    assert all(a['listed'] and a['via'] == 'm1' for a in result['actions'])
    assert result['diff']['after']['nodes']['m3']['role'] == 'worker'


def test_a_demotion_that_would_lose_quorum_is_refused_before_anything():
    # m3 is down and not listed: demoting m2 would leave 1 reachable manager of 2
    nodes = converged_nodes()
    nodes[2]['ManagerStatus']['Reachability'] = 'unreachable'
    nodes[2]['Status']['State'] = 'down'
    infos = converged_infos(managers=('m1', 'm2'))
    req = request(managers=('m1',), workers=('m2', 'w1', 'w2'), allow_even_managers=True)
    with refused('refusing to remove or demote m2', '2 of 3 managers are reachable', 'quorum'):
        plan(req, infos, nodes, SWARM)


def test_demoting_the_last_listed_manager_is_refused():
    req = request(managers=('m1',), workers=('w1', 'w2'))
    infos = {'m1': bare('m1'), 'w1': info('w1', manager=True), 'w2': info('w2')}
    nodes = [node('w1', 'manager', leader=True), node('w2')]
    # m1 joins first, then w1 can go: the plan works and w1's demotion goes through m1
    result = plan(req, infos, nodes, SWARM)
    assert steps(result) == [('m1', 'join', 'manager'), ('w1', 'demote')]
    assert result['actions'][0]['via'] == 'w1' and result['actions'][1]['via'] == 'm1'
    assert result['acting'] == 'm1'


def test_five_to_three_managers_passes_through_four():
    managers = ('m1', 'm2', 'm3', 'm4', 'm5')
    infos = converged_infos(managers=managers, workers=())
    nodes = converged_nodes(managers=managers, workers=())
    req = request(managers=('m1', 'm2', 'm3'), workers=('m4', 'm5'))
    assert steps(plan(req, infos, nodes, SWARM)) == [('m4', 'demote'), ('m5', 'demote')]


def test_an_even_end_is_refused_without_allow_even():
    req = request(managers=('m1', 'm2'), workers=('m3', 'w1', 'w2'), allow_even_managers=True)
    assert steps(plan(req, converged_infos(), converged_nodes(), SWARM)) == [('m3', 'demote')]
    # an unlisted manager that is left alone makes the end count even: 3 + x -> 4 + x -> 3 + x
    nodes = converged_nodes(managers=('m1', 'm2', 'm3', 'x'))
    with refused('refusing to remove or demote m3', 'even', 'allow_even_managers'):
        plan(request(managers=('m1', 'm2', 'w1'), workers=('m3', 'w2')), converged_infos(), nodes, SWARM)


def test_labels_and_availability_go_with_the_role_change():
    req = request(managers=('m1', 'm2', 'w1'), workers=('m3', 'w2'),
                  nodes={'w1': {'labels': {'zone': 'b'}, 'availability': 'drain'}, 'm3': {'labels': {'zone': 'c'}}})
    result = plan(req, converged_infos(), converged_nodes(), SWARM)
    assert steps(result) == [('w1', 'promote'), ('m3', 'demote')]
    assert result['actions'][0]['set'] == {'Role': 'manager', 'Availability': 'drain', 'Labels': {'zone': 'b'}}
    assert result['actions'][1]['set'] == {'Role': 'worker', 'Labels': {'zone': 'c'}}


# ============================================================== labels and availability

def test_labels_and_availability_take_one_update_per_node():
    nodes = converged_nodes()
    nodes[3]['Spec']['Labels'] = {'zone': 'a'}
    req = request(nodes={'w1': {'labels': {'disk': 'ssd'}, 'availability': 'pause'},
                         'm2': {'availability': 'drain'}})
    result = plan(req, converged_infos(), nodes, SWARM)
    assert steps(result) == [('m2', 'update'), ('w1', 'update')]
    assert result['actions'][0]['set'] == {'Availability': 'drain'}
    assert result['actions'][1]['set'] == {'Availability': 'pause', 'Labels': {'zone': 'a', 'disk': 'ssd'}}
    assert sorted((c['node'], c['setting']) for c in result['changes']) == [
        ('m2', 'availability'), ('w1', 'availability'), ('w1', 'labels')]


def test_replace_makes_the_listed_labels_the_only_ones():
    nodes = converged_nodes()
    nodes[3]['Spec']['Labels'] = {'zone': 'a', 'old': 'x'}
    nodes[4]['Spec']['Labels'] = {'stale': 'y'}
    req = request(nodes={'w1': {'labels': {'zone': 'a'}}}, labels_state='replace')
    result = plan(req, converged_infos(), nodes, SWARM)
    assert [(a['node'], a['set']) for a in result['actions']] == [('w1', {'Labels': {'zone': 'a'}}),
                                                                  ('w2', {'Labels': {}})]


# ============================================================== remove_absent

def test_remove_absent_removes_the_unlisted_nodes_safely_down_ones_first_managers_last():
    nodes = converged_nodes(managers=('m1', 'm2', 'm3', 'x1', 'x2'), workers=('w1', 'w2', 'old'))
    nodes.append(node('gone', state='down'))
    nodes.append(dict(node('w1', state='down'), ID='stale-w1'))  # w1 left and joined again
    result = plan(request(remove_absent=True), converged_infos(), nodes, SWARM)
    assert steps(result) == [
        ('gone', 'remove'), ('w1 (stale-w1)', 'remove'),
        ('old', 'drain'), ('old', 'wait_drained'), ('old', 'remove'),
        ('x1', 'drain'), ('x1', 'wait_drained'), ('x1', 'demote'), ('x1', 'remove'),
        ('x2', 'drain'), ('x2', 'wait_drained'), ('x2', 'demote'), ('x2', 'remove')]
    assert all(not a['listed'] and a['via'] == 'm1' for a in result['actions'])
    assert result['actions'][1]['node_id'] == 'stale-w1'
    assert result['diff']['after']['nodes']['x1']['membership'] == 'absent'
    assert result['diff']['before']['nodes']['x1'] == dict(membership='member', role='manager',
                                                           availability='active', labels={})


def test_remove_absent_keeps_quorum_with_managers_down():
    # 5 managers, 2 of them down and not listed: removing them keeps 3 of 3
    nodes = converged_nodes(managers=('m1', 'm2', 'm3', 'x1', 'x2'))
    for n in nodes[3:5]:
        n['Status']['State'] = 'down'
        n['ManagerStatus']['Reachability'] = 'unreachable'
    result = plan(request(remove_absent=True), converged_infos(), nodes, SWARM)
    assert steps(result) == [('x1', 'demote'), ('x1', 'remove'), ('x2', 'demote'), ('x2', 'remove')]


def test_remove_absent_refuses_what_would_lose_quorum():
    # 5 managers, two listed ones cut off (their engines answer, the swarm cannot reach them):
    # removing the reachable x1 would leave 2 reachable of 4
    nodes = converged_nodes(managers=('m1', 'm2', 'm3', 'x1', 'x2'))
    for n in nodes[1:3]:
        n['ManagerStatus']['Reachability'] = 'unreachable'
    with refused('refusing to remove or demote x1', 'reachable'):
        plan(request(remove_absent=True), converged_infos(), nodes, SWARM)


def test_remove_absent_false_leaves_unlisted_nodes_and_counts_their_managers():
    nodes = converged_nodes(managers=('m1', 'm2', 'm3', 'x1'))
    result = plan(request(managers=('m1', 'm2', 'm3')), converged_infos(), nodes, SWARM)
    assert result['actions'] == []


def test_an_unlisted_node_named_like_a_listed_one_is_told_apart():
    nodes = converged_nodes() + [dict(node('w2', state='down'), ID='abcdefabcdef123456')]
    result = plan(request(remove_absent=True), converged_infos(), nodes, SWARM)
    assert steps(result) == [('w2 (abcdefabcdef)', 'remove')]


# ============================================================== check mode

def test_the_plan_is_the_check_mode_diff_for_a_mixed_change():
    nodes = converged_nodes(workers=('w1', 'old'))
    infos = converged_infos(workers=('w1',))
    infos['w2'] = bare('w2')
    req = request(managers=('m1', 'm2', 'w1'), workers=('m3', 'w2'), nodes={'w2': {'labels': {'zone': 'b'}}},
                  remove_absent=True, settings={'snapshot_interval': 20000})
    result = plan(req, infos, nodes, SWARM)
    assert steps(result) == [('m1', 'settings'), ('w1', 'promote'), ('w2', 'join', 'worker'), ('m3', 'demote'),
                             ('old', 'drain'), ('old', 'wait_drained'), ('old', 'remove'), ('w2', 'update')]
    before, after = result['diff']['before'], result['diff']['after']
    assert sorted(before['nodes']) == sorted(after['nodes']) == ['m3', 'old', 'w1', 'w2']
    assert (before['nodes']['w1']['role'], after['nodes']['w1']['role']) == ('worker', 'manager')
    assert (before['nodes']['m3']['role'], after['nodes']['m3']['role']) == ('manager', 'worker')
    assert (before['nodes']['w2']['membership'], after['nodes']['w2']) == (
        'absent', dict(membership='member', role='worker', availability='active', labels={'zone': 'b'}))
    assert (before['nodes']['old']['membership'], after['nodes']['old']['membership']) == ('member', 'absent')
    assert before['settings'] == {'Raft.SnapshotInterval': 10000}
    assert after['settings'] == {'Raft.SnapshotInterval': 20000}


# ============================================================== stray node entries

def test_entries_no_listed_engine_claims_after_the_joins_are_strays():
    before = converged_nodes(workers=('w1',))
    after = before + [node('w2'), dict(node('w2'), ID='id-retried-join')]
    assert stray_entries(before, after, [nid(n) for n in ('m1', 'm2', 'm3', 'w1', 'w2')]) == ['id-retried-join']
    # a swarm made by this run: everything is new, only the listed nodes' entries are known
    assert stray_entries(None, after, [nid(n) for n in ('m1', 'm2', 'm3', 'w1', 'w2')]) == ['id-retried-join']
    # nodes that were there before (listed or not) are never strays
    assert stray_entries(after, after, []) == []
