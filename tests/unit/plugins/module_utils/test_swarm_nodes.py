# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the node and quorum part of the planning core: manager
counts in words, lost quorum, the one node name resolver, the checks of
docker_swarm_node's options and the role in a swarm node certificate."""

from __future__ import annotations

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, certificate_role, certificate_subject, check_node_request, even_count_words, find_node, find_nodes,
    manager_failures, plan_node, quorum_facts, quorum_guard, quorum_lost_facts)
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.swarm_certs import CA_PEM, MANAGER_PEM, NODE, WORKER_PEM


def node(node_id, hostname, role='worker', state='ready', reachability=None):
    result = {'ID': node_id, 'Version': {'Index': 7}, 'Spec': {'Role': role, 'Availability': 'active'},
              'Description': {'Hostname': hostname}, 'Status': {'State': state, 'Addr': '10.0.0.9'}}
    if role == 'manager':
        result['ManagerStatus'] = {'Reachability': reachability or 'reachable', 'Addr': '10.0.0.9:2377'}
    return result


def managers(count, unreachable=0):
    return [node('m%024d' % i, 'm%d' % i, 'manager', reachability='unreachable' if i > count - unreachable else None)
            for i in range(1, count + 1)]


# ============================================================== manager counts in words

@pytest.mark.parametrize('count, tolerated', [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2), (7, 3)])
def test_manager_failures_is_n_minus_one_halved(count, tolerated):
    assert manager_failures(count) == tolerated


@pytest.mark.parametrize('count, words', [
    (2, 'an even count that tolerates no manager failure, no more than 1 manager would'),
    (4, 'an even count that tolerates 1 manager failure, no more than 3 managers would'),
    (6, 'an even count that tolerates 2 manager failures, no more than 5 managers would'),
])
def test_even_count_words(count, words):
    assert even_count_words(count) == words


@pytest.mark.parametrize('count', [2, 4, 6])
def test_quorum_facts_even_warning_tells_what_the_count_tolerates(count):
    facts = quorum_facts(managers(count))
    assert facts['cluster_warnings'] == ['%d managers: %s; use an odd count' % (count, even_count_words(count))]
    # and it agrees with the fault tolerance reported next to it
    assert facts['fault_tolerance'] == manager_failures(count)


def test_two_managers_are_never_said_to_tolerate_a_failure():
    text = quorum_facts(managers(2))['cluster_warnings'][0]
    assert 'no manager failure' in text and 'than 1;' not in text


@pytest.mark.parametrize('count, after, words', [
    (3, 2, 'tolerates no manager failure, no more than 1 manager would'),
    (5, 4, 'tolerates 1 manager failure, no more than 3 managers would'),
])
def test_guard_even_refusal_tells_what_the_count_tolerates(count, after, words):
    nodes = managers(count)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, [nodes[-1]['ID']])
    assert ('it would leave %d managers, an even count that %s; promote a node first or set allow_even_managers'
            % (after, words)) in str(err.value)


def test_guard_last_manager_refusal_names_force_to_dissolve():
    nodes = managers(1)
    with pytest.raises(PlanError) as err:
        quorum_guard(nodes, [nodes[0]['ID']], allow_even=True)
    assert 'without a manager' in str(err.value)
    assert 'to dissolve the swarm on purpose' in str(err.value)
    assert 'docker_swarm state=absent force=true' in str(err.value)


# ============================================================== lost quorum

def lost_info(remote=3, managers_count=None):
    swarm = {'LocalNodeState': 'active', 'NodeID': 'm3', 'ControlAvailable': True,
             'Error': 'rpc error: code = Unknown desc = The swarm does not have a leader.',
             'RemoteManagers': [{'NodeID': 'm%d' % i, 'Addr': '10.0.0.%d:2377' % i} for i in range(1, remote + 1)],
             'Cluster': {'ID': ''}}
    if managers_count is not None:
        swarm['Managers'] = managers_count
    return {'Swarm': swarm}


def test_quorum_lost_facts_count_the_known_managers():
    facts = quorum_lost_facts(lost_info(remote=3))
    assert (facts['quorum_lost'], facts['managers'], facts['quorum'], facts['reachable_managers'],
            facts['fault_tolerance'], facts['leader']) == (True, 3, 2, 1, 0, '')
    assert facts['cluster_warnings'] == [
        'quorum lost: the swarm has no leader; 3 managers, a majority unreachable (quorum needs 2, only this one is '
        'known to answer). Bring the stopped managers back, or recover with force-new-cluster on the manager with '
        'the most recent state']


@pytest.mark.parametrize('remote, counted, expected', [(5, None, 5), (3, 5, 5), (0, None, 1), (2, 0, 2)])
def test_quorum_lost_facts_take_the_larger_of_what_info_tells(remote, counted, expected):
    facts = quorum_lost_facts(lost_info(remote=remote, managers_count=counted))
    assert facts['managers'] == expected and facts['quorum'] == expected // 2 + 1


# ============================================================== the one resolver

LIVE_W2 = 'l1ve00000000000000000000a'
OLD_W2 = 'o1d000000000000000000000b'


def naming():
    return [
        node('aaaa11112222333344445555a', 'manager1', 'manager'),
        node('bbbb11112222333344445555b', 'worker1'),
        node('cccc11112222333344445555c', 'db1.example.com'),
        node('dddd11112222333344445555d', 'web1.example.com'),
        node('dddd11112222333344449999e', 'web1.other.org'),
        node(OLD_W2, 'worker2', state='down'),
        node(LIVE_W2, 'worker2'),
        node('ffff11112222333344445555f', 'gone', state='down'),
    ]


@pytest.mark.parametrize('name, node_id', [
    ('bbbb11112222333344445555b', 'bbbb11112222333344445555b'),   # the ID
    ('BBBB11112222333344445555B', 'bbbb11112222333344445555b'),   # in capitals
    ('worker1', 'bbbb11112222333344445555b'),                     # the hostname
    ('Worker1', 'bbbb11112222333344445555b'),                     # hostnames have no case
    (' worker1 ', 'bbbb11112222333344445555b'),
    ('worker1.example.com', 'bbbb11112222333344445555b'),         # FQDN of a short hostname
    ('db1', 'cccc11112222333344445555c'),                         # short name of an FQDN hostname
    ('db1.example.com', 'cccc11112222333344445555c'),             # the FQDN hostname itself
    ('web1.example.com', 'dddd11112222333344445555d'),            # no mix-up with web1.other.org
    ('cccc11112222', 'cccc11112222333344445555c'),                # the 12 characters the CLI shows
    ('cccc11', 'cccc11112222333344445555c'),                      # 6 are enough when unique
    ('gone', 'ffff11112222333344445555f'),                        # a down node, by hostname
    (OLD_W2, OLD_W2),                                             # each duplicate by its ID
    (LIVE_W2[:12], LIVE_W2),                                      # ... or its ID prefix
])
def test_find_node_by_each_kind_of_name(name, node_id):
    assert find_node(naming(), name)['ID'] == node_id


@pytest.mark.parametrize('name', ['', '   ', None, 'cccc1', 'nosuch', 'nosuch.example.com', 'db1.other.org',
                                  'web1.example', 'zzzzzz'])
def test_find_node_unknown_names_find_nothing(name):
    assert find_nodes(naming(), name) == []
    assert find_node(naming(), name) is None


def test_find_node_short_name_shared_by_two_fqdn_hostnames_is_ambiguous():
    with pytest.raises(PlanError) as err:
        find_node(naming(), 'web1')
    assert str(err.value) == (
        "'web1' names 2 nodes: dddd11112222333344445555d (hostname web1.example.com, ready, worker); "
        "dddd11112222333344449999e (hostname web1.other.org, ready, worker). Name one by its ID.")


def test_find_node_prefix_of_several_ids_is_ambiguous():
    with pytest.raises(PlanError, match="'dddd1111' names 2 nodes"):
        find_node(naming(), 'dddd1111')


def test_find_node_live_node_and_its_down_entry_are_refused_never_preferred():
    with pytest.raises(PlanError) as err:
        find_node(naming(), 'worker2')
    message = str(err.value)
    assert message.startswith("'worker2' names 2 nodes: %s (hostname worker2, down, worker); %s (hostname worker2, "
                              "ready, worker). Name one by its ID." % (OLD_W2, LIVE_W2))
    assert 'left the swarm and joined again' in message and 'remove it by its ID' in message
    assert len(find_nodes(naming(), 'worker2.example.com')) == 2


def test_find_node_hostname_wins_over_an_id_prefix():
    nodes = naming() + [node('worker3000000000000000000', 'other'), node('x' * 25, 'worker3')]
    assert find_node(nodes, 'worker3')['ID'] == 'x' * 25


def test_find_node_does_not_change_the_node_list():
    nodes = naming()
    before = repr(nodes)
    find_nodes(nodes, 'worker2')
    assert repr(nodes) == before


# ============================================================== docker_swarm_node's options

def request(**overrides):
    params = dict(name=['worker1'], wait_timeout=300, labels=None, labels_to_remove=None, node_connection=None)
    params.update(overrides)
    return params


def test_check_node_request_accepts_a_plain_request():
    assert check_node_request(request()) is None


@pytest.mark.parametrize('overrides, words', [
    (dict(name=[]), 'name: give at least one node'),
    (dict(name=None), 'name: give at least one node'),
    (dict(name=['worker1', ' ']), 'name: an entry is empty'),
    (dict(wait_timeout=-5), 'wait_timeout must be a number of seconds greater than 0, not -5'),
    (dict(wait_timeout=0), 'wait_timeout must be a number of seconds greater than 0, not 0'),
    (dict(labels={'': 'x'}), 'labels: a label has an empty key'),
    (dict(labels={'zone': None}), "label 'zone' has no value"),
    (dict(labels={'zone': ['a']}), "label 'zone' has a list as value"),
    (dict(labels_to_remove=['disk', '']), 'labels_to_remove: a label key is empty'),
    (dict(name=['w1', 'w2'], node_connection={'docker_host': 'unix:///x'}),
     'node_connection reaches the engine of one node: name exactly one node with it, not 2'),
])
def test_check_node_request_refusals(overrides, words):
    with pytest.raises(PlanError) as err:
        check_node_request(request(**overrides))
    assert words in str(err.value)


def test_check_node_request_names_every_problem_at_once():
    with pytest.raises(PlanError) as err:
        check_node_request(request(name=[], wait_timeout=-1, labels={' ': 1}, labels_to_remove=['']))
    assert str(err.value).count(';') == 3


def test_check_node_request_labels_become_text_like_the_cli():
    labels = check_node_request(request(labels={'rack': 1, 'ssd': True, 'spare': False, 'weight': 1.5, 'zone': 'a',
                                                'empty': ''}))
    assert labels == {'rack': '1', 'ssd': 'true', 'spare': 'false', 'weight': '1.5', 'zone': 'a', 'empty': ''}


def test_plan_node_with_text_labels_has_no_churn():
    current = node('n1', 'w1')
    current['Spec']['Labels'] = {'rack': '1'}
    labels = check_node_request(request(labels={'rack': 1}))
    assert plan_node(current, labels=labels)[1] == []


# ============================================================== swarm node certificates (swarm_certs.py)


def test_certificate_subject_of_a_node_certificate():
    assert certificate_subject(WORKER_PEM) == {'O': 'testcluster0000000000000', 'OU': 'swarm-worker', 'CN': NODE}


def test_certificate_subject_of_a_v3_certificate():
    assert certificate_subject(CA_PEM) == {'CN': 'swarm-ca'}


@pytest.mark.parametrize('pem, role', [(MANAGER_PEM, 'manager'), (WORKER_PEM, 'worker'),
                                       # the node certificate comes first in the file, a CA may follow
                                       (WORKER_PEM + CA_PEM, 'worker')])
def test_certificate_role(pem, role):
    assert certificate_role(pem, NODE) == role


@pytest.mark.parametrize('pem, node_id', [
    (WORKER_PEM, 'someothernode000000000000'),   # another node's certificate
    (WORKER_PEM, ''),
    (CA_PEM, 'swarm-ca'),                         # no role in it
    ('', NODE),
    ('not a certificate', NODE),
    ('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', NODE),
    (WORKER_PEM.replace('MIIBbjCCARQC', 'MIIBbjCCAR'), NODE),
    ('-----BEGIN CERTIFICATE-----\n' + WORKER_PEM.split('\n')[1] + '\n-----END CERTIFICATE-----\n', NODE),
])
def test_certificate_role_is_none_unless_it_is_that_nodes_certificate(pem, node_id):
    assert certificate_role(pem, node_id) is None
