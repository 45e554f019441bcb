# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the pure planning core (plugins/module_utils/_swarm.py).

Every input is shaped like what the Docker Engine API returns (``GET /nodes``,
``GET /info``, ``GET /swarm``, ``GET /tasks``)."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import subprocess

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _swarm
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    NS, PlanError, desired_spec, find_node, find_nodes, is_manager, labels_after, local_state, membership,
    merged_spec, node_summary, normal_addr, pem_digest, plan_membership, plan_node, plan_node_removal,
    quorum_facts, quorum_guard, running_tasks, same_pem, spec_changes, token_digest)


# ============================================================== factories

def make_node(node_id, hostname, role='worker', availability='active', state='ready', addr='10.0.0.9',
              labels=None, leader=False, reachability='reachable', version=42, engine='24.0.7',
              manager_status=True):
    """One element of ``GET /nodes`` as the Engine API returns it."""
    node = {
        'ID': node_id,
        'Version': {'Index': version},
        'CreatedAt': '2024-01-01T00:00:00.000000000Z',
        'UpdatedAt': '2024-01-02T00:00:00.000000000Z',
        'Spec': {'Role': role, 'Availability': availability},
        'Description': {
            'Hostname': hostname,
            'Platform': {'Architecture': 'x86_64', 'OS': 'linux'},
            'Resources': {'NanoCPUs': 2000000000, 'MemoryBytes': 4123456789},
            'Engine': {'EngineVersion': engine, 'Plugins': []},
        },
        'Status': {'State': state, 'Addr': addr},
    }
    if labels is not None:
        node['Spec']['Labels'] = labels
    if role == 'manager' and manager_status:
        status = {'Reachability': reachability, 'Addr': '%s:2377' % addr}
        if leader:
            status['Leader'] = True  # the engine omits Leader for followers
        node['ManagerStatus'] = status
    return node


def node_id(n):
    """A realistic 25 character node ID, unique per small integer."""
    return '%02dkbs3ioqs4vxijrzvkyvqppa' % n


def cluster(managers=3, workers=2, unreachable=(), leader=1):
    """Nodes of a swarm with managers m1..mN and workers w1..wN.

    ``unreachable`` are manager numbers whose Reachability is unreachable
    (their Status is down)."""
    nodes = []
    for i in range(1, managers + 1):
        down = i in unreachable
        nodes.append(make_node(node_id(i), 'm%d' % i, role='manager', addr='10.0.0.%d' % i,
                               leader=(i == leader and not down),
                               reachability='unreachable' if down else 'reachable',
                               state='down' if down else 'ready'))
    for i in range(1, workers + 1):
        nodes.append(make_node(node_id(50 + i), 'w%d' % i, addr='10.0.1.%d' % i))
    return nodes


def by_host(nodes, hostname):
    return next(n for n in nodes if n['Description']['Hostname'] == hostname)


def ids(nodes, *hostnames):
    return [by_host(nodes, h)['ID'] for h in hostnames]


def task(node, desired='running', state='running', task_id='t1'):
    return {'ID': task_id, 'NodeID': node, 'ServiceID': 'svc1', 'DesiredState': desired,
            'Status': {'State': state, 'Timestamp': '2024-01-01T00:00:00Z'}}


# ============================================================== desired_spec

def test_desired_spec_converts_seconds_to_nanoseconds():
    wanted = desired_spec({'dispatcher_heartbeat_period': 5, 'node_cert_expiry': 7776000})
    assert wanted == {
        ('Dispatcher', 'HeartbeatPeriod'): 5 * NS,
        ('CAConfig', 'NodeCertExpiry'): 7776000 * 1000000000,
    }
    assert wanted[('Dispatcher', 'HeartbeatPeriod')] == 5000000000


def test_desired_spec_maps_every_option_to_its_api_path():
    params = dict(snapshot_interval=10000, keep_old_snapshots=2, log_entries_for_slow_followers=500,
                  heartbeat_tick=1, election_tick=10, dispatcher_heartbeat_period=5,
                  task_history_retention_limit=5, node_cert_expiry=3600, autolock_managers=True,
                  labels={'env': 'prod'})
    assert desired_spec(params) == {
        ('Raft', 'SnapshotInterval'): 10000,
        ('Raft', 'KeepOldSnapshots'): 2,
        ('Raft', 'LogEntriesForSlowFollowers'): 500,
        ('Raft', 'HeartbeatTick'): 1,
        ('Raft', 'ElectionTick'): 10,
        ('Dispatcher', 'HeartbeatPeriod'): 5 * NS,
        ('Orchestration', 'TaskHistoryRetentionLimit'): 5,
        ('CAConfig', 'NodeCertExpiry'): 3600 * NS,
        ('EncryptionConfig', 'AutoLockManagers'): True,
        ('Labels',): {'env': 'prod'},
    }


def test_desired_spec_leaves_unset_options_unmanaged():
    # what AnsibleModule hands over when the user set nothing
    params = dict((option, None) for option in _swarm.SPEC_OPTIONS)
    params.update(external_cas=None, state='present', rotate_ca=False)
    assert desired_spec(params) == {}


def test_desired_spec_keeps_false_zero_and_empty_values():
    wanted = desired_spec({'autolock_managers': False, 'task_history_retention_limit': 0, 'labels': {},
                           'external_cas': []})
    assert wanted == {
        ('EncryptionConfig', 'AutoLockManagers'): False,
        ('Orchestration', 'TaskHistoryRetentionLimit'): 0,
        ('Labels',): {},
        ('CAConfig', 'ExternalCAs'): [],
    }


def test_desired_spec_maps_external_cas():
    wanted = desired_spec({'external_cas': [
        {'url': 'https://ca1.example.com/sign', 'protocol': 'cfssl', 'options': {'profile': 'node'},
         'ca_cert': '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n'},
        {'url': 'https://ca2.example.com/sign', 'protocol': None, 'options': None, 'ca_cert': None},
    ]})
    assert wanted == {('CAConfig', 'ExternalCAs'): [
        {'Protocol': 'cfssl', 'URL': 'https://ca1.example.com/sign', 'Options': {'profile': 'node'},
         'CACert': '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n'},
        {'Protocol': 'cfssl', 'URL': 'https://ca2.example.com/sign', 'Options': {}, 'CACert': ''},
    ]}


# ============================================================== spec_changes / merged_spec

ENGINE_SPEC = {
    # GET /swarm .Spec of a fresh swarm (the engine omits false/zero/empty values)
    'Name': 'default',
    'Labels': {},
    'Orchestration': {'TaskHistoryRetentionLimit': 5},
    'Raft': {'SnapshotInterval': 10000, 'KeepOldSnapshots': 0, 'LogEntriesForSlowFollowers': 500,
             'ElectionTick': 10, 'HeartbeatTick': 1},
    'Dispatcher': {'HeartbeatPeriod': 5000000000},
    'CAConfig': {'NodeCertExpiry': 7776000000000000},
    'TaskDefaults': {},
    'EncryptionConfig': {'AutoLockManagers': False},
}


def test_spec_changes_none_when_equal():
    wanted = desired_spec({'snapshot_interval': 10000, 'dispatcher_heartbeat_period': 5,
                           'node_cert_expiry': 7776000, 'task_history_retention_limit': 5,
                           'autolock_managers': False, 'keep_old_snapshots': 0, 'labels': {}})
    assert spec_changes(ENGINE_SPEC, wanted) == []


def test_spec_changes_lists_differences_with_api_path_and_values():
    wanted = desired_spec({'snapshot_interval': 5000, 'dispatcher_heartbeat_period': 10,
                           'autolock_managers': True})
    assert spec_changes(ENGINE_SPEC, wanted) == [
        {'setting': 'Dispatcher.HeartbeatPeriod', 'before': 5000000000, 'after': 10000000000},
        {'setting': 'EncryptionConfig.AutoLockManagers', 'before': False, 'after': True},
        {'setting': 'Raft.SnapshotInterval', 'before': 10000, 'after': 5000},
    ]


@pytest.mark.parametrize('option, asked', [
    ('autolock_managers', False),
    ('keep_old_snapshots', 0),
    ('task_history_retention_limit', 0),
    ('labels', {}),
    ('external_cas', []),
])
def test_spec_changes_engine_omitted_empty_value_equals_asked_empty(option, asked):
    # a spec where the engine left every empty value out
    assert spec_changes({'Name': 'default', 'Raft': {}, 'CAConfig': {}}, desired_spec({option: asked})) == []
    assert spec_changes({}, desired_spec({option: asked})) == []
    assert spec_changes(None, desired_spec({option: asked})) == []


@pytest.mark.parametrize('option, asked, path, before', [
    ('autolock_managers', True, 'EncryptionConfig.AutoLockManagers', None),
    ('keep_old_snapshots', 3, 'Raft.KeepOldSnapshots', None),
    ('task_history_retention_limit', 0, 'Orchestration.TaskHistoryRetentionLimit', 5),
])
def test_spec_changes_real_differences_against_missing_or_set_values(option, asked, path, before):
    spec = copy.deepcopy(ENGINE_SPEC)
    spec['EncryptionConfig'] = {}
    del spec['Raft']['KeepOldSnapshots']
    assert spec_changes(spec, desired_spec({option: asked})) == [
        {'setting': path, 'before': before, 'after': asked}]


def test_spec_changes_labels():
    spec = dict(ENGINE_SPEC, Labels={'env': 'prod', 'team': 'ops'})
    assert spec_changes(spec, desired_spec({'labels': {'team': 'ops', 'env': 'prod'}})) == []
    assert spec_changes(spec, desired_spec({'labels': {'env': 'prod'}})) == [
        {'setting': 'Labels', 'before': {'env': 'prod', 'team': 'ops'}, 'after': {'env': 'prod'}}]
    assert spec_changes(spec, desired_spec({'labels': {}})) == [
        {'setting': 'Labels', 'before': {'env': 'prod', 'team': 'ops'}, 'after': {}}]
    # labels missing from the engine's answer and asked for
    no_labels = dict(ENGINE_SPEC)
    del no_labels['Labels']
    assert spec_changes(no_labels, desired_spec({'labels': {'env': 'dev'}})) == [
        {'setting': 'Labels', 'before': None, 'after': {'env': 'dev'}}]


CA1 = {'url': 'https://ca1.example.com/sign', 'protocol': 'cfssl', 'options': {'a': '1', 'b': '2'},
       'ca_cert': '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n'}
CA2 = {'url': 'https://ca2.example.com/sign', 'protocol': 'cfssl', 'options': None, 'ca_cert': None}


def test_spec_changes_external_cas_order_insensitive_and_engine_omissions():
    # the engine returns them in another order, without empty Options/CACert
    # and with the PEM's trailing newline stripped
    engine = dict(ENGINE_SPEC, CAConfig={'NodeCertExpiry': 7776000000000000, 'ExternalCAs': [
        {'Protocol': 'cfssl', 'URL': 'https://ca2.example.com/sign'},
        {'Protocol': 'cfssl', 'URL': 'https://ca1.example.com/sign', 'Options': {'b': '2', 'a': '1'},
         'CACert': '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----'},
    ]})
    assert spec_changes(engine, desired_spec({'external_cas': [CA1, CA2]})) == []
    assert spec_changes(engine, desired_spec({'external_cas': [CA2, CA1]})) == []


def test_spec_changes_external_cas_differences():
    engine = dict(ENGINE_SPEC, CAConfig={'ExternalCAs': [
        {'Protocol': 'cfssl', 'URL': 'https://ca1.example.com/sign', 'Options': {'a': '1', 'b': '2'}}]})
    moved = dict(CA1, url='https://ca9/sign', ca_cert=None)
    changed_url = spec_changes(engine, desired_spec({'external_cas': [moved]}))
    assert [c['setting'] for c in changed_url] == ['CAConfig.ExternalCAs']
    assert changed_url[0]['after'][0]['URL'] == 'https://ca9/sign'
    fewer_options = dict(CA1, options={'a': '1'}, ca_cert=None)
    changed_opts = spec_changes(engine, desired_spec({'external_cas': [fewer_options]}))
    assert len(changed_opts) == 1
    removed = spec_changes(engine, desired_spec({'external_cas': []}))
    assert removed == [{'setting': 'CAConfig.ExternalCAs', 'before': engine['CAConfig']['ExternalCAs'],
                        'after': []}]


def test_merged_spec_does_not_mutate_its_input():
    actual = copy.deepcopy(ENGINE_SPEC)
    pristine = copy.deepcopy(actual)
    wanted = desired_spec({'snapshot_interval': 1, 'labels': {'a': 'b'}, 'autolock_managers': True,
                           'external_cas': [CA2]})
    spec = merged_spec(actual, wanted)
    assert actual == pristine
    assert spec is not actual
    assert spec['Raft']['SnapshotInterval'] == 1
    assert spec['Raft']['ElectionTick'] == 10  # untouched settings kept
    assert spec['Labels'] == {'a': 'b'}
    assert spec['EncryptionConfig'] == {'AutoLockManagers': True}
    assert spec['CAConfig'] == {'NodeCertExpiry': 7776000000000000, 'ExternalCAs': [
        {'Protocol': 'cfssl', 'URL': 'https://ca2.example.com/sign', 'Options': {}, 'CACert': ''}]}
    spec['Raft']['ElectionTick'] = 99
    assert actual['Raft']['ElectionTick'] == 10


def test_merged_spec_from_nothing_builds_nested_spec():
    assert merged_spec(None, desired_spec({'dispatcher_heartbeat_period': 2, 'heartbeat_tick': 3})) == {
        'Dispatcher': {'HeartbeatPeriod': 2 * NS}, 'Raft': {'HeartbeatTick': 3}}


# ============================================================== node_summary / is_manager

def test_node_summary_of_leader_and_worker():
    m = make_node(node_id(1), 'm1', role='manager', addr='10.0.0.1', leader=True, labels={'zone': 'a'})
    assert node_summary(m) == dict(id=node_id(1), hostname='m1', role='manager', availability='active',
                                   status='ready', address='10.0.0.1', engine_version='24.0.7',
                                   labels={'zone': 'a'}, manager_reachability='reachable',
                                   manager_address='10.0.0.1:2377', leader=True)
    w = make_node(node_id(51), 'w1', addr='10.0.1.1')
    summary = node_summary(w)
    assert (summary['role'], summary['labels'], summary['manager_reachability'], summary['leader']) == \
        ('worker', {}, None, False)


def test_is_manager_by_status_or_by_spec_role():
    assert is_manager(make_node('a' * 25, 'm', role='manager'))
    # promotion asked but not yet reflected in ManagerStatus
    assert is_manager(make_node('b' * 25, 'p', role='manager', manager_status=False))
    assert not is_manager(make_node('c' * 25, 'w'))


# ============================================================== quorum_facts

@pytest.mark.parametrize('managers, quorum, tolerance, warning', [
    (1, 1, 0, 'a single manager: losing it loses the cluster; run 3 or 5 managers'),
    (2, 2, 0, '2 managers: an even count that tolerates no manager failure, no more than 1 manager would; use an odd count'),
    (3, 2, 1, None),
    (4, 3, 1, '4 managers: an even count that tolerates 1 manager failure, no more than 3 managers would; use an odd count'),
    (5, 3, 2, None),
])
def test_quorum_facts_all_reachable(managers, quorum, tolerance, warning):
    facts = quorum_facts(cluster(managers=managers, workers=3))
    assert facts == dict(managers=managers, reachable_managers=managers, quorum=quorum,
                         fault_tolerance=tolerance, cluster_warnings=[warning] if warning else [])


@pytest.mark.parametrize('managers, unreachable, reachable, quorum, tolerance, warnings', [
    (3, (3,), 2, 2, 0, []),
    (3, (2, 3), 1, 2, 0, ['only 1 of 3 managers are reachable; quorum needs 2']),
    (5, (5,), 4, 3, 1, []),
    (5, (4, 5), 3, 3, 0, []),
    (5, (3, 4, 5), 2, 3, 0, ['only 2 of 5 managers are reachable; quorum needs 3']),
    (4, (4,), 3, 3, 0, ['4 managers: an even count that tolerates 1 manager failure, no more than 3 managers would; use an odd count']),
    (2, (2,), 1, 2, 0, ['2 managers: an even count that tolerates no manager failure, no more than 1 manager would; use an odd count',
                        'only 1 of 2 managers are reachable; quorum needs 2']),
])
def test_quorum_facts_with_unreachable_managers(managers, unreachable, reachable, quorum, tolerance, warnings):
    facts = quorum_facts(cluster(managers=managers, unreachable=unreachable))
    assert facts == dict(managers=managers, reachable_managers=reachable, quorum=quorum,
                         fault_tolerance=tolerance, cluster_warnings=warnings)


def test_quorum_facts_unknown_reachability_and_pending_promotion_count_as_unreachable():
    nodes = cluster(managers=3, workers=0)
    by_host(nodes, 'm3')['ManagerStatus']['Reachability'] = 'unknown'
    nodes.append(make_node(node_id(9), 'p1', role='manager', manager_status=False))
    facts = quorum_facts(nodes)
    assert (facts['managers'], facts['reachable_managers'], facts['quorum'], facts['fault_tolerance']) == \
        (4, 2, 3, 0)
    assert 'only 2 of 4 managers are reachable; quorum needs 3' in facts['cluster_warnings']


def test_quorum_facts_without_managers():
    assert quorum_facts([]) == dict(managers=0, reachable_managers=0, quorum=0, fault_tolerance=0,
                                    cluster_warnings=[])
    assert quorum_facts(cluster(managers=0, workers=2))['managers'] == 0


# ============================================================== quorum_guard

def test_guard_demote_one_of_three_refused_as_even():
    nodes = cluster(managers=3)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm2'))
    assert str(err.value) == ('refusing to remove or demote m2: it would leave 2 managers, an even count that '
                              'tolerates no manager failure, no more than 1 manager would; promote a node first '
                              'or set allow_even_managers')


def test_guard_demote_one_of_three_allowed_with_allow_even():
    nodes = cluster(managers=3)
    assert quorum_guard(nodes, ids(nodes, 'm2'), allow_even=True) is None


@pytest.mark.parametrize('allow_even', [False, True])
def test_guard_demote_two_of_three_at_once_refused(allow_even):
    nodes = cluster(managers=3)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm3', 'm2'), allow_even=allow_even)
    assert str(err.value) == ('refusing to remove or demote 2 managers (m2, m3) at once: with 3 of 3 managers '
                              'reachable the cluster can lose only 1 at a time; change them one by one')


@pytest.mark.parametrize('allow_even', [False, True])
def test_guard_remove_leader_with_two_of_three_reachable_refused(allow_even):
    nodes = cluster(managers=3, unreachable=(3,), leader=1)
    assert by_host(nodes, 'm1')['ManagerStatus']['Leader'] is True
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm1'), allow_even=allow_even)
    msg = str(err.value)
    assert msg == ('refusing to remove or demote m1: 2 of 3 managers are reachable now; afterwards 1 of 2 '
                   'would be, and quorum of 2 managers needs 2')
    assert re.findall(r'\d+', msg)[1:] == ['2', '3', '1', '2', '2', '2']


@pytest.mark.parametrize('allow_even', [False, True])
def test_guard_removing_the_last_manager_refused(allow_even):
    nodes = cluster(managers=1, workers=3)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm1'), allow_even=allow_even)
    assert str(err.value) == ('refusing to remove or demote m1: it would leave the swarm without a manager '
                              '(1 manager(s) now). Promote another node first; or, to dissolve the swarm on '
                              'purpose, make the last manager leave with force (nativeswarm.cluster.docker_swarm '
                              'state=absent force=true)')


def test_guard_removing_all_managers_names_them_all():
    nodes = cluster(managers=2, workers=1)
    with pytest.raises(PlanError, match=r'demote m1, m2: it would leave the swarm without a manager '
                                        r'\(2 manager\(s\) now\)'):
        quorum_guard(nodes, ids(nodes, 'm2', 'm1'), allow_even=True)


def test_guard_removing_unreachable_manager_from_five_allowed_with_allow_even():
    nodes = cluster(managers=5, unreachable=(5,))
    assert quorum_guard(nodes, ids(nodes, 'm5'), allow_even=True) is None


def test_guard_removing_unreachable_manager_from_five_refused_as_even_without_allow_even():
    # documented behaviour: any odd -> even change needs allow_even_managers,
    # even when the manager leaving is already unreachable
    nodes = cluster(managers=5, unreachable=(5,))
    with pytest.raises(PlanError, match='it would leave 4 managers, an even count that tolerates 1 manager '
                                        'failure, no more than 3 managers would'):
        quorum_guard(nodes, ids(nodes, 'm5'))


def test_guard_removing_unreachable_manager_from_four_allowed():
    nodes = cluster(managers=4, unreachable=(4,))
    assert quorum_guard(nodes, ids(nodes, 'm4')) is None


def test_guard_workers_in_leaving_ids_are_ignored():
    single = cluster(managers=1, workers=3)
    assert quorum_guard(single, ids(single, 'w1', 'w2', 'w3')) is None
    three = cluster(managers=3, workers=2)
    # one manager among the leaving nodes: no "at once" refusal, only the even count matters
    assert quorum_guard(three, ids(three, 'w1', 'w2', 'm3'), allow_even=True) is None
    with pytest.raises(PlanError, match='refusing to remove or demote m3: it would leave 2 managers'):
        quorum_guard(three, ids(three, 'w1', 'm3'))


def test_guard_unknown_ids_are_ignored():
    assert quorum_guard(cluster(managers=1), ['nosuchnode0000000000000000']) is None
    assert quorum_guard(cluster(managers=1), []) is None


def test_guard_five_remove_two_reachable_allowed():
    nodes = cluster(managers=5)
    assert quorum_guard(nodes, ids(nodes, 'm4', 'm5')) is None


def test_guard_five_remove_three_refused_at_once():
    nodes = cluster(managers=5)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm3', 'm4', 'm5'), allow_even=True)
    assert str(err.value) == ('refusing to remove or demote 3 managers (m3, m4, m5) at once: with 5 of 5 '
                              'managers reachable the cluster can lose only 2 at a time; change them one by one')


def test_guard_five_with_one_unreachable_remove_two_reachable_refused_by_quorum():
    nodes = cluster(managers=5, unreachable=(5,))
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, ids(nodes, 'm3', 'm4'))
    # 3 left with 2 reachable satisfies quorum; fault tolerance is 1 now
    assert str(err.value) == ('refusing to remove or demote 2 managers (m3, m4) at once: with 4 of 5 managers '
                              'reachable the cluster can lose only 1 at a time; change them one by one')


def test_guard_uses_id_when_hostname_missing():
    nodes = cluster(managers=3)
    del by_host(nodes, 'm2')['Description']['Hostname']
    with pytest.raises(PlanError, match='refusing to remove or demote %s: it would leave 2' % node_id(2)):
        quorum_guard(nodes, [node_id(2)])


# ============================================================== find_node / find_nodes

def naming_cluster():
    nodes = cluster(managers=3, workers=2)
    nodes.append(make_node('q8wz6c1k0f3m9x2p4r7t5v8y1', 'db1.example.com', addr='10.0.2.1'))
    return nodes


@pytest.mark.parametrize('name, hostname', [
    ('w1', 'w1'),                                  # hostname
    (node_id(2), 'm2'),                            # full ID
    ('w2.example.com', 'w2'),                      # FQDN whose first label is the hostname
    ('db1.example.com', 'db1.example.com'),        # hostname that is itself a FQDN
    ('db1', 'db1.example.com'),                    # short name of a FQDN hostname
    ('q8wz6c', 'db1.example.com'),                 # ID prefix of 6 characters
    ('q8wz6c1k0f', 'db1.example.com'),             # longer ID prefix
])
def test_find_node_by_each_kind_of_name(name, hostname):
    assert find_node(naming_cluster(), name)['Description']['Hostname'] == hostname


def test_find_node_short_id_prefix_is_not_a_name():
    assert find_node(naming_cluster(), 'q8wz6') is None


def test_find_node_unknown_is_none():
    assert find_node(naming_cluster(), 'nosuchhost') is None
    assert find_nodes(naming_cluster(), 'nosuchhost.example.com') == []


def test_find_node_refuses_a_live_node_and_its_down_duplicate():
    # the live node is not preferred (more in test_swarm_nodes.py)
    nodes = cluster(managers=1, workers=1)
    old = make_node('zzzzzz0000000000000000old', 'w1', state='down', addr='10.0.1.1')
    nodes.insert(0, old)
    assert len(find_nodes(nodes, 'w1')) == 2
    with pytest.raises(PlanError, match="'w1.example.com' names 2 nodes"):
        find_node(nodes, 'w1.example.com')
    # each is still reachable by its ID
    assert find_node(nodes, old['ID']) is old
    assert find_node(nodes, node_id(51))['Status']['State'] == 'ready'


def test_find_node_only_down_duplicates_are_ambiguous():
    nodes = [make_node('a' * 25, 'w1', state='down'), make_node('b' * 25, 'w1', state='down')]
    with pytest.raises(PlanError, match="'w1' names 2 nodes"):
        find_node(nodes, 'w1')


def test_find_node_two_live_duplicates_raise_naming_the_ids():
    nodes = cluster(managers=1, workers=0)
    nodes.append(make_node('aaaaaa1111111111111111111', 'web', addr='10.0.3.1'))
    nodes.append(make_node('bbbbbb2222222222222222222', 'web', addr='10.0.3.2', state='unknown'))
    assert len(find_nodes(nodes, 'web')) == 2
    with pytest.raises(PlanError) as err:
        find_node(nodes, 'web')
    assert str(err.value) == ("'web' names 2 nodes: aaaaaa1111111111111111111 (hostname web, ready, worker); "
                              "bbbbbb2222222222222222222 (hostname web, unknown, worker). Name one by its ID.")


# ============================================================== labels_after / plan_node

@pytest.mark.parametrize('current, labels, state, remove, expected', [
    ({'a': '1'}, {'b': '2'}, 'merge', None, {'a': '1', 'b': '2'}),
    ({'a': '1'}, {'a': '9'}, 'merge', None, {'a': '9'}),
    ({'a': '1', 'b': '2'}, {'c': '3'}, 'replace', None, {'c': '3'}),
    ({'a': '1', 'b': '2'}, None, 'merge', ['a', 'missing'], {'b': '2'}),
    ({'a': '1', 'b': '2'}, {'c': '3'}, 'replace', ['c'], {}),
    (None, {'x': 'y'}, 'merge', None, {'x': 'y'}),
    ({'a': '1'}, None, 'replace', None, {}),
])
def test_labels_after(current, labels, state, remove, expected):
    before = copy.deepcopy(current)
    assert labels_after(current, labels, state, remove) == expected
    assert current == before


def test_plan_node_merge_labels():
    node = make_node(node_id(51), 'w1', labels={'zone': 'a'})
    spec, changes = plan_node(node, labels={'disk': 'ssd'})
    assert spec == {'Role': 'worker', 'Availability': 'active', 'Labels': {'zone': 'a', 'disk': 'ssd'}}
    assert changes == [{'setting': 'labels', 'before': {'zone': 'a'}, 'after': {'zone': 'a', 'disk': 'ssd'}}]


def test_plan_node_replace_labels():
    node = make_node(node_id(51), 'w1', labels={'zone': 'a', 'disk': 'hdd'})
    spec, changes = plan_node(node, labels={'disk': 'ssd'}, labels_state='replace')
    assert spec['Labels'] == {'disk': 'ssd'}
    assert changes == [{'setting': 'labels', 'before': {'zone': 'a', 'disk': 'hdd'}, 'after': {'disk': 'ssd'}}]


def test_plan_node_replace_without_labels_clears_them():
    node = make_node(node_id(51), 'w1', labels={'zone': 'a'})
    spec, changes = plan_node(node, labels_state='replace')
    assert spec['Labels'] == {}
    assert changes == [{'setting': 'labels', 'before': {'zone': 'a'}, 'after': {}}]


def test_plan_node_remove_labels():
    node = make_node(node_id(51), 'w1', labels={'zone': 'a', 'disk': 'hdd'})
    spec, changes = plan_node(node, labels_to_remove=['disk', 'nope'])
    assert spec['Labels'] == {'zone': 'a'}
    assert changes == [{'setting': 'labels', 'before': {'zone': 'a', 'disk': 'hdd'}, 'after': {'zone': 'a'}}]


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(role='worker', availability='active'),
    dict(labels={'zone': 'a'}),
    dict(labels={'zone': 'a'}, labels_state='replace'),
    dict(labels_to_remove=['absent-key']),
    dict(labels={}, labels_state='merge'),
])
def test_plan_node_no_churn_when_equal(kwargs):
    node = make_node(node_id(51), 'w1', labels={'zone': 'a'})
    spec, changes = plan_node(node, **kwargs)
    assert changes == []
    assert spec == node['Spec']


def test_plan_node_no_churn_when_engine_omits_labels():
    node = make_node(node_id(51), 'w1')  # no Labels key, as the engine may answer
    assert plan_node(node, labels={}, labels_state='replace')[1] == []
    assert plan_node(node, labels_to_remove=['x'])[1] == []


def test_plan_node_role_and_availability_changes_with_before_after():
    node = make_node(node_id(51), 'w1', labels={'zone': 'a'})
    pristine = copy.deepcopy(node)
    spec, changes = plan_node(node, role='manager', availability='drain', labels={'zone': 'b'})
    assert changes == [
        {'setting': 'role', 'before': 'worker', 'after': 'manager'},
        {'setting': 'availability', 'before': 'active', 'after': 'drain'},
        {'setting': 'labels', 'before': {'zone': 'a'}, 'after': {'zone': 'b'}},
    ]
    assert spec == {'Role': 'manager', 'Availability': 'drain', 'Labels': {'zone': 'b'}}
    assert node == pristine  # the node (and its spec) is not mutated


def test_plan_node_demote():
    node = make_node(node_id(2), 'm2', role='manager')
    spec, changes = plan_node(node, role='worker')
    assert changes == [{'setting': 'role', 'before': 'manager', 'after': 'worker'}]
    assert spec['Role'] == 'worker'
    assert node['Spec']['Role'] == 'manager'


# ============================================================== running_tasks

def test_running_tasks_counts_only_live_tasks_of_that_node():
    me, other = node_id(51), node_id(52)
    tasks = [
        task(me, 'running', 'running', 'live'),
        task(me, 'running', 'preparing', 'preparing'),
        task(me, 'running', 'assigned', 'assigned'),
        task(me, 'ready', 'ready', 'ready'),
        task(me, 'accepted', 'accepted', 'accepted'),
        task(me, 'running', 'starting', 'starting'),
        task(me, 'shutdown', 'shutdown', 'stopped'),
        task(me, 'shutdown', 'complete', 'complete'),
        task(me, 'running', 'failed', 'failed'),
        task(me, 'running', 'rejected', 'rejected'),
        task(me, 'running', 'orphaned', 'orphaned'),
        task(me, 'remove', 'complete', 'removed'),
        task(other, 'running', 'running', 'elsewhere'),
        {'ID': 'unplaced', 'DesiredState': 'running', 'Status': {'State': 'pending'}},
    ]
    assert [t['ID'] for t in running_tasks(tasks, me)] == ['live', 'preparing', 'assigned', 'ready', 'accepted',
                                                           'starting']
    assert [t['ID'] for t in running_tasks(tasks, other)] == ['elsewhere']
    assert running_tasks(tasks, 'nobody') == []
    assert running_tasks([], me) == []


def test_running_tasks_counts_task_being_shut_down_after_drain():
    me = node_id(51)
    # right after a drain the orchestrator sets DesiredState=shutdown; the
    # agent then stops the container, and only then the state leaves running
    tasks = [task(me, 'shutdown', 'running', 'stopping')]
    assert [t['ID'] for t in running_tasks(tasks, me)] == ['stopping']


# ============================================================== plan_node_removal

@pytest.mark.parametrize('kind, force, expected', [
    ('up worker', False, ['drain', 'wait_drained', 'wait_down', 'remove']),
    ('up worker', True, ['drain', 'wait_drained', 'remove']),
    ('drained worker', False, ['wait_drained', 'wait_down', 'remove']),
    ('drained worker', True, ['wait_drained', 'remove']),
    ('down worker', False, ['remove']),
    ('down worker', True, ['remove']),
    ('down drained worker', False, ['remove']),
])
def test_plan_node_removal_worker(kind, force, expected):
    nodes = cluster(managers=3, workers=2)
    node = by_host(nodes, 'w1')
    if 'drained' in kind:
        node['Spec']['Availability'] = 'drain'
    if 'down' in kind:
        node['Status']['State'] = 'down'
    assert plan_node_removal(node, nodes, force=force) == expected


def test_plan_node_removal_up_manager_demoted_when_guard_allows():
    nodes = cluster(managers=4)  # 4 -> 3 keeps an odd count
    node = by_host(nodes, 'm4')
    assert plan_node_removal(node, nodes) == ['drain', 'wait_drained', 'demote', 'wait_down', 'remove']
    assert plan_node_removal(node, nodes, force=True) == ['drain', 'wait_drained', 'demote', 'remove']


def test_plan_node_removal_down_manager_has_no_waits():
    nodes = cluster(managers=5, unreachable=(5,))
    assert plan_node_removal(by_host(nodes, 'm5'), nodes, allow_even=True) == ['demote', 'remove']


@pytest.mark.parametrize('force', [False, True])
def test_plan_node_removal_manager_refused_by_guard(force):
    nodes = cluster(managers=3)
    with pytest.raises(PlanError, match='refusing to remove or demote m3: it would leave 2 managers'):
        plan_node_removal(by_host(nodes, 'm3'), nodes, force=force)
    expected = ['drain', 'wait_drained', 'demote'] + ([] if force else ['wait_down']) + ['remove']
    assert plan_node_removal(by_host(nodes, 'm3'), nodes, force=force, allow_even=True) == expected


def test_plan_node_removal_last_manager_refused_even_with_force():
    nodes = cluster(managers=1, workers=2)
    with pytest.raises(PlanError, match='without a manager'):
        plan_node_removal(by_host(nodes, 'm1'), nodes, force=True, allow_even=True)


# ============================================================== local_state

INFO_INACTIVE = {'ID': 'ENGINE-ID', 'Name': 'host1', 'Swarm': {
    'NodeID': '', 'NodeAddr': '', 'LocalNodeState': 'inactive', 'ControlAvailable': False, 'Error': '',
    'RemoteManagers': None}}
INFO_WORKER = {'Swarm': {
    'NodeID': node_id(51), 'NodeAddr': '10.0.1.1', 'LocalNodeState': 'active', 'ControlAvailable': False,
    'Error': '', 'RemoteManagers': [{'NodeID': node_id(1), 'Addr': '10.0.0.1:2377'},
                                    {'NodeID': node_id(2), 'Addr': '10.0.0.2:2377'}]}}
INFO_MANAGER = {'Swarm': {
    'NodeID': node_id(1), 'NodeAddr': '10.0.0.1', 'LocalNodeState': 'active', 'ControlAvailable': True,
    'Error': '', 'RemoteManagers': [{'NodeID': node_id(1), 'Addr': '10.0.0.1:2377'}],
    'Nodes': 3, 'Managers': 1,
    'Cluster': {'ID': 'lgkmd9sq8vkmmbklzp7n9j1ai', 'Version': {'Index': 10}, 'Spec': ENGINE_SPEC,
                'TLSInfo': {'TrustRoot': '-----BEGIN CERTIFICATE-----\n...'}}}}
INFO_LOCKED = {'Swarm': {
    'NodeID': node_id(1), 'NodeAddr': '10.0.0.1', 'LocalNodeState': 'locked', 'ControlAvailable': False,
    'Error': '', 'RemoteManagers': None}}
INFO_ERROR = {'Swarm': {
    'NodeID': '', 'NodeAddr': '', 'LocalNodeState': 'error', 'ControlAvailable': False,
    'Error': 'rpc error: code = Unavailable', 'RemoteManagers': None}}


@pytest.mark.parametrize('info, expected', [
    (INFO_INACTIVE, dict(state='inactive', node_id=None, manager=False, error=None, cluster_id=None,
                         remote_managers=[])),
    (INFO_WORKER, dict(state='active', node_id=node_id(51), manager=False, error=None, cluster_id=None,
                       remote_managers=['10.0.0.1:2377', '10.0.0.2:2377'])),
    (INFO_MANAGER, dict(state='active', node_id=node_id(1), manager=True, error=None,
                        cluster_id='lgkmd9sq8vkmmbklzp7n9j1ai', remote_managers=['10.0.0.1:2377'])),
    (INFO_LOCKED, dict(state='locked', node_id=node_id(1), manager=False, error=None, cluster_id=None,
                       remote_managers=[])),
    (INFO_ERROR, dict(state='error', node_id=None, manager=False, error='rpc error: code = Unavailable',
                      cluster_id=None, remote_managers=[])),
    ({}, dict(state='inactive', node_id=None, manager=False, error=None, cluster_id=None, remote_managers=[])),
], ids=['inactive', 'worker', 'manager', 'locked', 'error', 'empty'])
def test_local_state(info, expected):
    assert local_state(info) == expected


# ============================================================== normal_addr

@pytest.mark.parametrize('addr, expected', [
    ('10.0.0.1', '10.0.0.1:2377'),
    ('10.0.0.1:2377', '10.0.0.1:2377'),
    ('10.0.0.1:4000', '10.0.0.1:4000'),
    ('manager1.example.com', 'manager1.example.com:2377'),
    ('manager1.example.com:2377', 'manager1.example.com:2377'),
    ('  10.0.0.1 ', '10.0.0.1:2377'),
    ('[2001:db8::1]', '[2001:db8::1]:2377'),
    ('[2001:db8::1]:2377', '[2001:db8::1]:2377'),
    ('[fd00::10]:4000', '[fd00::10]:4000'),
])
def test_normal_addr(addr, expected):
    assert normal_addr(addr) == expected


def test_normal_addr_other_default_port():
    assert normal_addr('10.0.0.1', port=4000) == '10.0.0.1:4000'


@pytest.mark.parametrize('addr, expected', [
    ('fd00::10', '[fd00::10]:2377'),
    ('2001:db8::1', '[2001:db8::1]:2377'),
])
def test_normal_addr_bare_ipv6(addr, expected):
    assert normal_addr(addr) == expected


# ============================================================== pem_digest / token_digest

def _ca_pem(tmp_path):
    """A throwaway self-signed CA certificate (PEM text)."""
    try:
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        x509 = None
    if x509 is not None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'swarm-ca')])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()
    if not shutil.which('openssl'):
        pytest.skip('neither the cryptography package nor openssl is available')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                    '-nodes', '-subj', '/CN=swarm-ca', '-days', '1', '-keyout', str(tmp_path / 'ca.key'),
                    '-out', str(tmp_path / 'ca.pem')], check=True, capture_output=True)
    return (tmp_path / 'ca.pem').read_text()


@pytest.fixture
def ca_pem(tmp_path):
    return _ca_pem(tmp_path)


def _base36(number, width=50):
    """Independent base-36 rendering (zero padded), checked against int(x, 36)."""
    alphabet = '0123456789abcdefghijklmnopqrstuvwxyz'
    text = ''.join(reversed([alphabet[(number // 36 ** i) % 36] for i in range(width)]))
    assert int(text, 36) == number
    return text


def test_pem_digest_is_base36_sha256_of_the_pem_bytes(ca_pem):
    digest = pem_digest(ca_pem)
    assert re.fullmatch(r'[0-9a-z]{50}', digest)
    expected = int.from_bytes(hashlib.sha256(ca_pem.encode()).digest(), 'big')
    assert int(digest, 36) == expected
    assert digest == _base36(expected)


def test_pem_digest_hashes_the_bytes_as_stored(ca_pem):
    # swarmkit hashes the bundle exactly as stored: other line ends are another digest
    assert pem_digest(ca_pem.replace('\n', '\r\n')) != pem_digest(ca_pem)


def test_pem_digest_differs_between_cas(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    assert pem_digest(_ca_pem(tmp_path / 'a')) != pem_digest(_ca_pem(tmp_path / 'b'))


def swarmkit_token(trust_root, secret='4f0d1qv8xyc0ag9s3a7tb5ucm'):
    """A join token made the way swarmkit makes it (ca/config.go
    GenerateJoinToken): the digest is the SHA-256 of the root CA bundle bytes
    exactly as stored, which the Engine API returns as TLSInfo.TrustRoot."""
    digest = int.from_bytes(hashlib.sha256(trust_root.encode()).digest(), 'big')
    return 'SWMTKN-1-%s-%s' % (_base36(digest), secret)


def test_pem_digest_matches_the_digest_in_the_swarms_join_tokens(ca_pem):
    assert pem_digest(ca_pem) == token_digest(swarmkit_token(ca_pem))


def test_membership_same_swarm_by_trust_root_and_real_token(ca_pem):
    local = local_state(INFO_MANAGER)
    assert membership(local, ['10.0.0.9'], trust_root=ca_pem, token=swarmkit_token(ca_pem)) == 'same'


def test_token_digest_extracts_the_digest():
    digest = 'a' * 50
    assert token_digest('SWMTKN-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % digest) == digest


def test_token_digest_of_a_fips_cluster_token():
    digest = 'b' * 50
    assert token_digest('SWMTKN-2-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % digest) == digest


@pytest.mark.parametrize('token', [
    None,
    '',
    'not-a-token',
    'SWMTKN-1-%s' % ('a' * 50),
    'SWMTKN-1-%s-secret-extra' % ('a' * 50),
    'SWMKEY-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % ('a' * 50),
    'SWMTKN-3-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % ('a' * 50),
])
def test_token_digest_rejects_malformed_tokens(token):
    with pytest.raises(PlanError) as err:
        token_digest(token)
    assert str(err.value) == 'join_token is not a swarm join token (expected SWMTKN-1-<digest>-<secret>)'


def test_same_pem_ignores_whitespace():
    assert same_pem('-----BEGIN X-----\nAB\nCD\n-----END X-----\n', '-----BEGIN X-----\r\nABCD\n-----END X-----')
    assert not same_pem('-----BEGIN X-----\nAB\n-----END X-----', '-----BEGIN X-----\nAC\n-----END X-----')
    assert same_pem(None, '')


# ============================================================== membership

WORKER = local_state(INFO_WORKER)
MANAGER = local_state(INFO_MANAGER)


def test_membership_manager_node_ids_win():
    # the node list says "same" even though addresses and token say otherwise
    assert membership(WORKER, ['192.0.2.99'], manager_node_ids={node_id(1), node_id(51)},
                      trust_root='ignored', token='garbage') == 'same'
    assert membership(WORKER, ['10.0.0.1'], manager_node_ids={node_id(1), node_id(2)}) == 'other'
    assert membership(WORKER, ['10.0.0.1'], manager_node_ids=set()) == 'other'


def test_membership_ca_digest_against_token(ca_pem, tmp_path):
    digest = pem_digest(ca_pem)
    same_token = 'SWMTKN-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % digest
    other_token = 'SWMTKN-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % ('0' * 50)
    # addresses would say "same": the CA digest is the better evidence
    assert membership(MANAGER, ['10.0.0.1'], trust_root=ca_pem, token=other_token) == 'other'
    assert membership(MANAGER, ['192.0.2.99'], trust_root=ca_pem, token=same_token) == 'same'
    with pytest.raises(PlanError, match='not a swarm join token'):
        membership(MANAGER, ['10.0.0.1'], trust_root=ca_pem, token='SWMTKN-1-bad')


@pytest.mark.parametrize('remote_addrs, expected', [
    (['10.0.0.1'], 'same'),                       # default port 2377 added
    (['10.0.0.2:2377'], 'same'),
    (['192.0.2.7', '10.0.0.2'], 'same'),          # any one in common
    (['10.0.0.1:4000'], 'other'),                 # other port
    (['192.0.2.7'], 'other'),
    ([], 'other'),
    (None, 'other'),
])
def test_membership_falls_back_on_remote_manager_addresses(remote_addrs, expected):
    assert membership(WORKER, remote_addrs) == expected


def test_membership_token_without_trust_root_uses_addresses():
    token = 'SWMTKN-1-%s-4f0d1qv8xyc0ag9s3a7tb5ucm' % ('0' * 50)
    assert membership(WORKER, ['10.0.0.1'], trust_root=None, token=token) == 'same'
    assert membership(WORKER, ['192.0.2.1'], trust_root=None, token=token) == 'other'


# ============================================================== plan_membership

INACTIVE = local_state(INFO_INACTIVE)
LOCKED = local_state(INFO_LOCKED)
PENDING = dict(local_state(INFO_INACTIVE), state='pending')
ERROR = local_state(INFO_ERROR)
LOCALS = dict(inactive=INACTIVE, worker=WORKER, manager=MANAGER, locked=LOCKED, pending=PENDING, error=ERROR)


def with_self(managers):
    """Nodes of a cluster whose m1 is this node (MANAGER's node ID)."""
    return cluster(managers=managers, workers=2)


# (state, local, kwargs, expected actions)
PLANS = [
    # ---- present
    ('present', 'inactive', {}, ['init']),
    ('present', 'inactive', dict(force=True), ['init']),
    ('present', 'manager', {}, ['update']),
    ('present', 'manager', dict(force=True), ['update']),
    ('present', 'locked', dict(unlock_key='SWMKEY-1-abc'), ['unlock']),
    ('present', 'pending', dict(force=True), ['leave_force', 'init']),
    ('present', 'error', dict(force=True), ['leave_force', 'init']),
    # ---- join
    ('join', 'inactive', dict(role='worker'), ['join']),
    ('join', 'inactive', dict(role='manager'), ['join']),
    ('join', 'inactive', dict(role='worker', force=True), ['join']),
    ('join', 'worker', dict(role='worker', same_cluster='same'), []),
    ('join', 'worker', dict(role='worker', same_cluster='same', force=True), []),
    ('join', 'worker', dict(role='manager', same_cluster='same'), ['promote']),
    ('join', 'manager', dict(role='manager', same_cluster='same', nodes=with_self(3)), []),
    ('join', 'manager', dict(role='manager', same_cluster='same', force=True, nodes=with_self(3)), []),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(4)), ['demote']),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(5), allow_even=True),
     ['demote']),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(3), allow_even=True),
     ['demote']),
    ('join', 'worker', dict(role='worker', same_cluster='other', force=True), ['leave_force', 'join']),
    ('join', 'worker', dict(role='manager', same_cluster='other', force=True), ['leave_force', 'join']),
    ('join', 'manager', dict(role='manager', same_cluster='other', force=True, nodes=with_self(3)),
     ['leave_force', 'join']),
    ('join', 'locked', dict(role='manager', unlock_key='SWMKEY-1-abc'), ['unlock']),
    ('join', 'pending', dict(role='worker', force=True), ['leave_force', 'join']),
    ('join', 'error', dict(role='worker', force=True), ['leave_force', 'join']),
    # ---- absent
    ('absent', 'inactive', {}, []),
    ('absent', 'inactive', dict(force=True), []),
    ('absent', 'worker', {}, ['leave']),
    ('absent', 'worker', dict(force=True), ['leave']),
    ('absent', 'manager', dict(nodes=with_self(4)), ['demote', 'leave']),
    ('absent', 'manager', dict(nodes=with_self(3), allow_even=True), ['demote', 'leave']),
    ('absent', 'manager', dict(nodes=with_self(3), force=True), ['leave_force']),
    ('absent', 'manager', dict(nodes=with_self(1), force=True), ['leave_force']),
    ('absent', 'locked', dict(force=True), ['leave_force']),
    ('absent', 'locked', dict(unlock_key='SWMKEY-1-abc'), ['unlock']),
    ('absent', 'pending', {}, ['leave_force']),
    ('absent', 'error', {}, ['leave_force']),
]


@pytest.mark.parametrize('state, local, kwargs, expected', PLANS,
                         ids=['%s-%s-%d' % (p[0], p[1], i) for i, p in enumerate(PLANS)])
def test_plan_membership(state, local, kwargs, expected):
    local_copy = copy.deepcopy(LOCALS[local])
    assert plan_membership(state, local_copy, **kwargs) == expected
    assert local_copy == LOCALS[local]


# (state, local, kwargs, exact message or regex)
REFUSALS = [
    ('present', 'worker', {},
     'this node is a worker: cluster settings are changed on a manager (or use state=join role=manager to make '
     'this node one)'),
    ('present', 'worker', dict(force=True), 'this node is a worker'),
    ('present', 'locked', {},
     'the swarm on this node is locked (autolock after an engine restart): give unlock_key to unlock it'),
    ('present', 'locked', dict(force=True), 'give unlock_key to unlock it'),
    ('join', 'locked', dict(role='worker'), 'give unlock_key to unlock it'),
    ('join', 'locked', dict(role='worker', force=True), 'give unlock_key to unlock it'),
    ('absent', 'locked', {}, 'give unlock_key to unlock it'),
    ('present', 'pending', {},
     "this node is in swarm state 'pending': an earlier join has not completed and its engine keeps trying to "
     "reach the managers in the background. Run again with force=true to give that attempt up and initialize a "
     "swarm, or with state=absent to only give it up"),
    ('present', 'error', {},
     "this node is in swarm state 'error' (rpc error: code = Unavailable). Run again with force=true to leave that "
     "broken membership and initialize a swarm, or with state=absent to only leave it"),
    ('join', 'pending', dict(role='worker'), "swarm state 'pending'"),
    ('join', 'error', dict(role='manager'), 'rpc error: code = Unavailable'),
    ('join', 'worker', dict(role='worker', same_cluster='other'),
     'this node is already a member of another swarm (managers 10.0.0.1:2377, 10.0.0.2:2377); use force to '
     'leave it and join this one'),
    ('join', 'manager', dict(role='manager', same_cluster='other', nodes=with_self(3)),
     'this node is already a member of another swarm (managers 10.0.0.1:2377); use force'),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(3)),
     'refusing to remove or demote m1: it would leave 2 managers, an even count that tolerates no manager failure, '
     'no more than 1 manager would; promote a node first or set allow_even_managers'),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(3), force=True),
     'it would leave 2 managers'),
    ('join', 'manager', dict(role='worker', same_cluster='same', nodes=with_self(1), allow_even=True),
     'refusing to remove or demote m1: it would leave the swarm without a manager (1 manager(s) now). Promote '
     'another node first; or, to dissolve the swarm on purpose, make the last manager leave with force'),
    ('absent', 'manager', dict(nodes=with_self(3)), 'refusing to remove or demote m1: it would leave 2 managers'),
    ('absent', 'manager', dict(nodes=with_self(5)), 'refusing to remove or demote m1: it would leave 4 managers'),
    ('absent', 'manager', dict(nodes=with_self(1), allow_even=True),
     'it would leave the swarm without a manager (1 manager(s) now)'),
]


@pytest.mark.parametrize('state, local, kwargs, message', REFUSALS,
                         ids=['%s-%s-%d' % (r[0], r[1], i) for i, r in enumerate(REFUSALS)])
def test_plan_membership_refusals(state, local, kwargs, message):
    with pytest.raises(PlanError) as err:
        plan_membership(state, copy.deepcopy(LOCALS[local]), **kwargs)
    assert message in str(err.value)


def test_plan_membership_other_swarm_with_unknown_managers():
    local = dict(WORKER, remote_managers=[])
    with pytest.raises(PlanError, match=r'another swarm \(managers unknown\)'):
        plan_membership('join', local, role='worker', same_cluster='other')


def test_plan_membership_demote_guard_sees_unreachable_managers():
    # 3 managers, m3 unreachable: demoting this node (the leader) would lose quorum
    nodes = cluster(managers=3, unreachable=(3,))
    with pytest.raises(PlanError) as err:
        plan_membership('join', MANAGER, role='worker', same_cluster='same', nodes=nodes, allow_even=True)
    assert str(err.value) == ('refusing to remove or demote m1: 2 of 3 managers are reachable now; afterwards '
                              '1 of 2 would be, and quorum of 2 managers needs 2')


@pytest.mark.parametrize('local', ['pending', 'error'])
def test_plan_membership_join_with_force_from_broken_state_joins_again(local):
    assert plan_membership('join', LOCALS[local], role='worker', force=True) == ['leave_force', 'join']


@pytest.mark.parametrize('state, manager, actions, role, expected', [
    ('inactive', False, ['init'], 'worker', ('active', 'manager')),
    ('inactive', False, ['join'], 'worker', ('active', 'worker')),
    ('inactive', False, ['join'], 'manager', ('active', 'manager')),
    ('active', False, ['promote'], 'manager', ('active', 'manager')),
    ('active', True, ['demote', 'leave'], 'worker', ('inactive', '')),
    ('active', True, ['leave_force', 'join'], 'worker', ('active', 'worker')),
    ('locked', True, ['unlock'], 'worker', ('active', 'manager')),
    ('active', True, [], 'worker', ('active', 'manager')),
])
def test_membership_after_predicts_the_diff(state, manager, actions, role, expected):
    local = dict(state=state, manager=manager, node_id='n1')
    assert _swarm.membership_after(local, actions, role) == dict(local_node_state=expected[0], role=expected[1])


def test_membership_view_of_a_node_in_no_swarm():
    assert _swarm.membership_view(dict(state='inactive', manager=False)) == dict(local_node_state='inactive', role='')
