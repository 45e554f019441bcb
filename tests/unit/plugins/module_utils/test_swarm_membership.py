# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Validate, plan, then act: docker_swarm's checks before anything changes.

The pure core (option checks, cluster-dependent checks, the join request and
its targets, membership) is tested on its own; the module itself runs against
a scripted engine that records every request, so a test can prove that a
refused plan made no request that changes anything (no POST, no DELETE); the
probe of a swarm port is tested against a local TLS server that answers like
a swarm manager."""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import socket
import ssl
import threading

import pytest

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import EngineError
from ansible_collections.nativeswarm.cluster.plugins.module_utils import _swarm
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, check_settings, check_spec, cluster_labels, desired_spec, join_failure_advice, join_request,
    join_targets, local_state, membership, pem_digest, plan_membership, spec_changes)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm_probe import (
    ProbeError, frame, grpc_request, manager_identity, probe, proto_bytes_field, read_grpc_reply, split_addr)
from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm


# ============================================================== data

# A real swarm manager's certificate, as a manager served it on its swarm port
MANAGER_CERT_PEM = '''-----BEGIN CERTIFICATE-----
MIICNTCCAdugAwIBAgIUR5xVsYteRC925dfWCoXkS1IkMGMwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAxMIc3dhcm0tY2EwHhcNMjYxMjAyMTExNjAwWhcNMjcwMzAyMTIx
NjAwWjBgMSIwIAYDVQQKExl3YzdjbHl3cHV6Yjc5aWt3bXh0eGkzY21rMRYwFAYD
VQQLEw1zd2FybS1tYW5hZ2VyMSIwIAYDVQQDExl3bm41YjhkcnU2M2F4ODM0anly
YmpleXJ0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/93a0QLRllkkM/82K4aQ
VpORg2fUIw0drR2oDXUBcVsXb7kdLKSzsS86iEUwt0D3u2VaB1kf0ocAJl+tHUDQ
JqOBvzCBvDAOBgNVHQ8BAf8EBAMCBaAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsG
AQUFBwMCMAwGA1UdEwEB/wQCMAAwHQYDVR0OBBYEFC9y99cTGWCkCb9BTuuEMNhL
CvrkMB8GA1UdIwQYMBaAFLSqTALFRtVMDtk/4DSkqHaG4uhCMD0GA1UdEQQ2MDSC
DXN3YXJtLW1hbmFnZXKCGXdubjViOGRydTYzYXg4MzRqeXJiamV5cnSCCHN3YXJt
LWNhMAoGCCqGSM49BAMCA0gAMEUCIES/F6iUfAQg2fpb123Eb4+oQPYE4tDu2Hh8
rENoEAALAiEAqdRwMJrOu4ZVTSA6Q6oBcLNATEkAZH+0Ipp/uJm3e+k=
-----END CERTIFICATE-----
'''
MANAGER_CERT_CLUSTER = 'wc7clywpuzb79ikwmxtxi3cmk'
MANAGER_CERT_NODE = 'wnn5b8dru63ax834jyrbjeyrt'

CA_A = '-----BEGIN CERTIFICATE-----\nMIIBajCCARCgAwIBAgIUcaA\n-----END CERTIFICATE-----\n'
CA_B = '-----BEGIN CERTIFICATE-----\nMIIBajCCARCgAwIBAgIUcbB\n-----END CERTIFICATE-----\n'
TOKEN_A_WORKER = 'SWMTKN-1-%s-1111111111111111111111111' % pem_digest(CA_A)
TOKEN_A_MANAGER = 'SWMTKN-1-%s-2222222222222222222222222' % pem_digest(CA_A)
TOKEN_A_ROTATED = 'SWMTKN-1-%s-3333333333333333333333333' % pem_digest(CA_A)
TOKEN_B_WORKER = 'SWMTKN-1-%s-4444444444444444444444444' % pem_digest(CA_B)
CLUSTER_A = dict(ID='clusteraaaaaaaaaaaaaaaaaaa', Version={'Index': 10},
                 JoinTokens={'Worker': TOKEN_A_WORKER, 'Manager': TOKEN_A_MANAGER},
                 TLSInfo={'TrustRoot': CA_A},
                 Spec={'Name': 'default', 'Raft': {'HeartbeatTick': 1, 'ElectionTick': 10, 'SnapshotInterval': 10000},
                       'EncryptionConfig': {'AutoLockManagers': False}, 'Orchestration': {}})


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem)


def nodes_of(*managers, workers=()):
    """GET /nodes of cluster A: managers as (id, addr, reachability)."""
    nodes = []
    for node_id, addr, reach in managers:
        nodes.append({'ID': node_id, 'Spec': {'Role': 'manager', 'Availability': 'active'},
                      'Description': {'Hostname': node_id}, 'Status': {'State': 'ready'},
                      'ManagerStatus': {'Reachability': reach, 'Addr': addr}})
    for node_id in workers:
        nodes.append({'ID': node_id, 'Spec': {'Role': 'worker', 'Availability': 'active'},
                      'Description': {'Hostname': node_id}, 'Status': {'State': 'ready'}})
    return nodes


def answer(addr, cluster='clusteraaaaaaaaaaaaaaaaaaa', ca=CA_A, manager=True):
    return dict(addr=addr, error=None, manager=manager, cluster_id=cluster, node_id='n-' + addr, root_ca=ca)


def silent(addr, error='Connection refused'):
    return dict(addr=addr, error=error, manager=None, cluster_id=None, node_id=None, root_ca=None)


def info(state='inactive', node_id='', manager=False, cluster=None, remote=None, error=''):
    swarm = {'NodeID': node_id, 'LocalNodeState': state, 'ControlAvailable': manager, 'Error': error,
             'RemoteManagers': [{'NodeID': 'x', 'Addr': a} for a in remote] if remote else None}
    if cluster:
        swarm['Cluster'] = {'ID': cluster['ID'], 'TLSInfo': cluster['TLSInfo']}
    return {'Swarm': swarm}


WORKER_OF_B = local_state(info('active', 'nodeworkerb', remote=['10.0.9.1:2377']))
MANAGER_OF_B = local_state(info('active', 'nodemanagerb', manager=True, remote=['10.0.9.1:2377'],
                                cluster=dict(ID='clusterbbbbbbbbbbbbbbbbbbb', TLSInfo={'TrustRoot': CA_B})))
INACTIVE = local_state(info())


# ============================================================== check_settings (static)

@pytest.mark.parametrize('option, value, words', [
    ('task_history_retention_limit', -1, 'task_history_retention_limit must be 0 or more, not -1'),
    ('snapshot_interval', -5, 'snapshot_interval must be 0 or more, not -5'),
    ('keep_old_snapshots', -1, 'keep_old_snapshots must be 0 or more'),
    ('log_entries_for_slow_followers', -1, 'log_entries_for_slow_followers must be 0 or more'),
    ('dispatcher_heartbeat_period', -2, 'dispatcher_heartbeat_period must be 0 or more'),
    ('node_cert_expiry', -3600, 'node_cert_expiry must be 0 or more'),
    ('data_path_port', -4789, 'data_path_port must be 0 or more'),
    ('subnet_size', 0, 'subnet_size must be at least 1, not 0'),
    ('heartbeat_tick', 0, 'heartbeat_tick must be at least 1, not 0'),
    ('election_tick', -1, 'election_tick must be at least 1, not -1'),
    ('wait_timeout', -5, 'wait_timeout must be 0 or more, not -5'),
])
def test_check_settings_refuses_values_that_make_no_sense(option, value, words):
    with pytest.raises(PlanError) as err:
        check_settings({option: value})
    assert str(err.value).startswith(words)
    assert str(err.value).endswith(', not %d' % value)


@pytest.mark.parametrize('option', ['task_history_retention_limit', 'snapshot_interval', 'wait_timeout',
                                    'keep_old_snapshots', 'dispatcher_heartbeat_period', 'data_path_port'])
def test_check_settings_accepts_zero_where_zero_makes_sense(option):
    check_settings({option: 0})


@pytest.mark.parametrize('heartbeat, election', [(1, 1), (5, 3), (10, 10)])
def test_check_settings_election_tick_must_exceed_heartbeat_tick(heartbeat, election):
    with pytest.raises(PlanError) as err:
        check_settings({'heartbeat_tick': heartbeat, 'election_tick': election})
    assert str(err.value) == ('election_tick (%d) must be greater than heartbeat_tick (%d)' % (election, heartbeat))


def test_check_settings_accepts_sane_ticks_and_unset_options():
    check_settings({'heartbeat_tick': 1, 'election_tick': 2})
    check_settings({'heartbeat_tick': None, 'election_tick': None, 'labels': None, 'external_cas': None})
    check_settings({})


@pytest.mark.parametrize('url', ['https://ca.example.com:8888/api/v1/cfssl/sign', 'http://10.0.0.1/sign',
                                 'https://[2001:db8::1]:8888/sign'])
def test_check_settings_accepts_http_urls_for_external_cas(url):
    check_settings({'external_cas': [{'url': url, 'protocol': 'cfssl'}]})


@pytest.mark.parametrize('url', ['ca.example.com:8888', 'not a url', 'ftp://ca.example.com/sign', 'https://',
                                 'https:///sign', '', '/api/v1/cfssl/sign'])
def test_check_settings_refuses_external_ca_urls_that_are_not_http_urls(url):
    with pytest.raises(PlanError) as err:
        check_settings({'external_cas': [{'url': url, 'protocol': 'cfssl'}]})
    assert str(err.value).startswith('external_cas: %r is not an http(s) URL' % url)


def test_check_settings_names_every_problem_at_once():
    with pytest.raises(PlanError) as err:
        check_settings({'task_history_retention_limit': -1, 'wait_timeout': -5, 'labels': {'a': None},
                        'external_cas': [{'url': 'nope'}]})
    message = str(err.value)
    for words in ('task_history_retention_limit must be 0 or more', 'wait_timeout must be 0 or more',
                  "label 'a' has no value", "external_cas: 'nope' is not an http(s) URL"):
        assert words in message


# ============================================================== cluster labels

@pytest.mark.parametrize('labels, expected', [
    ({'rack': 1}, {'rack': '1'}),
    ({'ratio': 1.5}, {'ratio': '1.5'}),
    ({'ssd': True, 'gpu': False}, {'ssd': 'true', 'gpu': 'false'}),
    ({'zone': 'a', 'empty': ''}, {'zone': 'a', 'empty': ''}),
    ({1: 'one'}, {'1': 'one'}),
    ({}, {}),
])
def test_cluster_labels_become_text_as_the_cli_sends_them(labels, expected):
    assert cluster_labels(labels) == expected


@pytest.mark.parametrize('labels, words', [
    ({'rack': None}, "labels: label 'rack' has no value (None); give it one ('' for an empty value)"),
    ({'': 'x'}, 'labels: a label has an empty key'),
    ({'  ': 'x'}, 'labels: a label has an empty key'),
    ({'zones': ['a', 'b']}, "labels: label 'zones' has a list as value; label values are text"),
    ({'sub': {'a': 1}}, "labels: label 'sub' has a mapping as value; label values are text"),
])
def test_cluster_labels_refuses_labels_without_key_or_value(labels, words):
    with pytest.raises(PlanError) as err:
        cluster_labels(labels)
    assert str(err.value) == words
    with pytest.raises(PlanError):
        check_settings({'labels': labels})


def test_numeric_cluster_label_is_no_change_against_the_engines_text():
    wanted = desired_spec({'labels': {'rack': 1, 'ssd': True}})
    assert wanted[('Labels',)] == {'rack': '1', 'ssd': 'true'}
    assert spec_changes({'Labels': {'rack': '1', 'ssd': 'true'}}, wanted) == []
    assert spec_changes({'Labels': {'rack': '2', 'ssd': 'true'}}, wanted) == [
        dict(setting='Labels', before={'rack': '2', 'ssd': 'true'}, after={'rack': '1', 'ssd': 'true'})]


# ============================================================== check_spec (needs the cluster's settings)

@pytest.mark.parametrize('params, spec, words', [
    # only one tick given: compared with the swarm's current other tick
    ({'election_tick': 3}, {'Raft': {'HeartbeatTick': 5, 'ElectionTick': 50}},
     'election_tick must be greater than heartbeat_tick: this would make them 3 and 5 (the swarm has 50 and 5); '
     'set both'),
    ({'heartbeat_tick': 10}, {'Raft': {'HeartbeatTick': 1, 'ElectionTick': 10}},
     'this would make them 10 and 10 (the swarm has 10 and 1)'),
    # a new swarm: swarm init's defaults (heartbeat 1, election 10)
    ({'heartbeat_tick': 12}, None, 'this would make them 10 and 12 (the default has 10 and 1)'),
    ({'election_tick': 1}, None, 'this would make them 1 and 1'),
    # an engine that leaves the ticks out of its spec uses the defaults too
    ({'heartbeat_tick': 10}, {'Raft': {}}, 'this would make them 10 and 10'),
])
def test_check_spec_refuses_ticks_that_break_raft(params, spec, words):
    with pytest.raises(PlanError) as err:
        check_spec(params, spec)
    assert words in str(err.value)


@pytest.mark.parametrize('params, spec', [
    ({'election_tick': 20}, {'Raft': {'HeartbeatTick': 5, 'ElectionTick': 50}}),
    ({'heartbeat_tick': 2}, {'Raft': {'HeartbeatTick': 1, 'ElectionTick': 10}}),
    ({'heartbeat_tick': 2}, None),
    ({'heartbeat_tick': 20, 'election_tick': 40}, {'Raft': {'HeartbeatTick': 1, 'ElectionTick': 10}}),
    ({}, None),
])
def test_check_spec_accepts_sane_ticks(params, spec):
    check_spec(params, spec)


@pytest.mark.parametrize('params, spec, refused', [
    ({'rotate_unlock_key': True}, {'EncryptionConfig': {'AutoLockManagers': False}}, True),
    ({'rotate_unlock_key': True}, {}, True),                     # the engine omits false values
    ({'rotate_unlock_key': True, 'autolock_managers': False}, {'EncryptionConfig': {'AutoLockManagers': True}},
     True),                                                      # being turned off by the same task
    ({'rotate_unlock_key': True}, {'EncryptionConfig': {'AutoLockManagers': True}}, False),
    ({'rotate_unlock_key': True, 'autolock_managers': True}, {}, False),   # being turned on by the same task
    ({'rotate_unlock_key': False}, {}, False),
])
def test_check_spec_rotate_unlock_key_needs_autolock(params, spec, refused):
    if refused:
        with pytest.raises(PlanError) as err:
            check_spec(params, spec)
        assert str(err.value) == ('rotate_unlock_key: this swarm is not autolocked, so it has no unlock key to '
                                  'rotate; set autolock_managers=true (in the same task is fine) or leave '
                                  'rotate_unlock_key out')
    else:
        check_spec(params, spec)


# ============================================================== plan_membership: leaving is the last resort

@pytest.mark.parametrize('local', [WORKER_OF_B, MANAGER_OF_B], ids=['worker', 'manager'])
@pytest.mark.parametrize('role', ['worker', 'manager'])
def test_leaving_another_swarm_needs_a_manager_connection(local, role):
    with pytest.raises(PlanError) as err:
        plan_membership('join', copy.deepcopy(local), role=role, same_cluster='other', force=True, via_manager=False)
    message = str(err.value)
    assert 'needs manager' in message and 'role of join_token cannot be checked' in message
    assert 'nothing was changed' in message and '10.0.9.1:2377' in message


@pytest.mark.parametrize('local', [WORKER_OF_B, MANAGER_OF_B], ids=['worker', 'manager'])
def test_leaving_another_swarm_with_a_manager_connection_is_planned(local):
    assert plan_membership('join', local, role='worker', same_cluster='other', force=True,
                           via_manager=True) == ['leave_force', 'join']


@pytest.mark.parametrize('state', ['pending', 'error'])
def test_giving_up_a_broken_join_needs_no_manager(state):
    local = dict(INACTIVE, state=state)
    assert plan_membership('join', local, role='worker', force=True, via_manager=False) == ['leave_force', 'join']


def test_inactive_node_joins_without_a_manager_connection():
    assert plan_membership('join', INACTIVE, role='manager', via_manager=False) == ['join']


def test_promotion_without_a_manager_connection_is_refused_in_the_plan():
    with pytest.raises(PlanError, match='promoting it needs manager'):
        plan_membership('join', WORKER_OF_B, role='manager', same_cluster='same', via_manager=False)


@pytest.mark.parametrize('state', ['present', 'join'])
def test_pending_refusal_says_what_the_state_means_and_what_to_do(state):
    local = local_state(info('pending', remote=['10.0.0.99:2377']))
    with pytest.raises(PlanError) as err:
        plan_membership(state, local, role='worker')
    message = str(err.value)
    assert 'no error reported' not in message
    assert "swarm state 'pending': an earlier join has not completed" in message
    assert 'keeps trying to reach 10.0.0.99:2377 in the background' in message
    assert 'force=true' in message and 'state=absent' in message


def test_error_refusal_without_engine_detail_says_so():
    with pytest.raises(PlanError) as err:
        plan_membership('join', dict(INACTIVE, state='error'), role='worker')
    assert "swarm state 'error' (its engine gives no detail)" in str(err.value)
    assert 'no error reported' not in str(err.value)


# ============================================================== membership by cluster ID

def test_membership_cluster_ids_beat_addresses():
    # the same addresses, but the managers there serve another swarm now
    assert membership(WORKER_OF_B, ['10.0.9.1'], own_cluster='b', target_clusters={'a'}) == 'other'
    # other addresses (a name instead of the IP) of the same swarm
    assert membership(WORKER_OF_B, ['mgr.example.com'], own_cluster='b', target_clusters={'b'}) == 'same'


def test_membership_falls_back_on_addresses_when_a_cluster_is_unknown():
    assert membership(WORKER_OF_B, ['10.0.9.1'], own_cluster=None, target_clusters={'a'}) == 'same'
    assert membership(WORKER_OF_B, ['10.0.0.1'], own_cluster='b', target_clusters=set()) == 'other'


def test_membership_node_list_and_token_digest_still_win():
    assert membership(WORKER_OF_B, ['10.0.0.1'], manager_node_ids={'nodeworkerb'}, own_cluster='b',
                      target_clusters={'a'}) == 'same'


# ============================================================== join_request

@pytest.mark.parametrize('kwargs, words', [
    ({}, 'nothing to join with: set manager (a connection to a manager of the swarm to join: the token and the '
         'addresses are read from it), or join_token and remote_addrs'),
    (dict(remote_addrs=['10.0.0.1']), 'no join_token and no manager to fetch one from: set manager (or join_token)'),
    (dict(token=TOKEN_A_WORKER), 'no remote_addrs and no manager to learn them from: set remote_addrs or manager'),
    (dict(token=TOKEN_A_WORKER, remote_addrs=[]), 'no remote_addrs and no manager'),
    (dict(token='SWMTKN-1-short', remote_addrs=['10.0.0.1']), 'join_token is not a swarm join token'),
    (dict(token=TOKEN_B_WORKER, cluster=CLUSTER_A),
     'join_token belongs to another swarm than the one the manager leads'),
    (dict(token=TOKEN_A_ROTATED, cluster=CLUSTER_A), 'join_token is not a current token of this swarm (rotated?)'),
    (dict(token=TOKEN_A_MANAGER, cluster=CLUSTER_A), 'join_token is a manager token, but role=worker'),
    (dict(cluster=CLUSTER_A, manager_nodes=nodes_of(('m1', '10.0.0.1:2377', 'unreachable'))),
     'the manager lists no reachable manager to join through: set remote_addrs'),
])
def test_join_request_refusals(kwargs, words):
    with pytest.raises(PlanError) as err:
        join_request('worker', **kwargs)
    assert words in str(err.value)


def test_join_request_worker_token_for_a_manager_is_refused():
    with pytest.raises(PlanError, match='join_token is a worker token, but role=manager'):
        join_request('manager', token=TOKEN_A_WORKER, cluster=CLUSTER_A, remote_addrs=['10.0.0.1'])


@pytest.mark.parametrize('role, token', [('worker', TOKEN_A_WORKER), ('manager', TOKEN_A_MANAGER)])
def test_join_request_fetches_token_and_reachable_manager_addresses(role, token):
    nodes = nodes_of(('m1', '10.0.0.1:2377', 'reachable'), ('m2', '10.0.0.2:2377', 'unreachable'),
                     ('m3', '10.0.0.3:2377', 'reachable'), workers=['w1'])
    request = join_request(role, cluster=CLUSTER_A, manager_nodes=nodes)
    assert request == dict(token=token, addrs=['10.0.0.1:2377', '10.0.0.3:2377'],
                           cluster_id=CLUSTER_A['ID'], role_checked=True)


def test_join_request_with_given_token_and_addresses_needs_no_manager():
    request = join_request('worker', token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1', '[fd00::1]', 'm.example:4000'])
    assert request == dict(token=TOKEN_A_WORKER, addrs=['10.0.0.1:2377', '[fd00::1]:2377', 'm.example:4000'],
                           cluster_id=None, role_checked=False)


def test_join_request_given_addresses_win_over_the_managers_list():
    request = join_request('worker', remote_addrs=['10.0.0.7'], cluster=CLUSTER_A, manager_nodes=None)
    assert request['addrs'] == ['10.0.0.7:2377'] and request['token'] == TOKEN_A_WORKER


# ============================================================== join_targets

def request(addrs, token=TOKEN_A_WORKER, cluster_id=None):
    return dict(token=token, addrs=addrs, cluster_id=cluster_id, role_checked=cluster_id is not None)


def test_join_targets_not_probed_keeps_the_request():
    expected = dict(addrs=['a:2377', 'b:2377'], cluster_id=None, warnings=[])
    assert join_targets(request(['a:2377', 'b:2377']), None) == expected


def test_join_targets_nobody_answers():
    with pytest.raises(PlanError) as err:
        join_targets(request(['10.0.0.9:2377', '10.0.0.8:2377']),
                     [silent('10.0.0.9:2377', 'no answer within 5s'), silent('10.0.0.8:2377')])
    assert str(err.value) == (
        'no swarm manager answers at 10.0.0.9:2377, 10.0.0.8:2377 from the host this module runs on '
        '(10.0.0.9:2377: no answer within 5s; 10.0.0.8:2377: Connection refused): check remote_addrs (managers '
        'with their swarm port, 2377 by default), that those managers run and that the port is open to this host; '
        'nothing was changed')


def test_join_targets_answering_managers_go_first():
    # the engine joins through the first address only
    probes = [silent('10.0.0.9:2377'), answer('10.0.0.2:2377', manager=None, ca=None, cluster=None),
              answer('10.0.0.8:2377', manager=False, ca=None, cluster=None), answer('10.0.0.1:2377')]
    targets = join_targets(request([p['addr'] for p in probes]), probes)
    assert targets['addrs'] == ['10.0.0.1:2377', '10.0.0.2:2377', '10.0.0.9:2377', '10.0.0.8:2377']
    assert targets['cluster_id'] == 'clusteraaaaaaaaaaaaaaaaaaa'
    assert targets['warnings'] == [
        '10.0.0.9:2377 does not answer from the host this module runs on (Connection refused); joining through '
        '10.0.0.1:2377',
        '10.0.0.8:2377 answers but is not a swarm manager; joining through 10.0.0.1:2377']


def test_join_targets_no_manager_among_the_answers():
    probes = [answer('10.0.0.8:2377', manager=False, cluster=None, ca=None), silent('10.0.0.9:2377')]
    with pytest.raises(PlanError) as err:
        join_targets(request(['10.0.0.8:2377', '10.0.0.9:2377']), probes)
    assert str(err.value).startswith('10.0.0.8:2377 answers but is not a swarm manager')


def test_join_targets_other_swarm_than_the_manager_leads():
    probes = [answer('10.0.0.1:2377'), answer('10.0.9.1:2377', cluster='clusterbbbbbbbbbbbbbbbbbbb', ca=CA_B)]
    with pytest.raises(PlanError) as err:
        join_targets(request(['10.0.0.1:2377', '10.0.9.1:2377'], cluster_id='clusteraaaaaaaaaaaaaaaaaaa'), probes)
    assert str(err.value) == ('remote_addrs are not all managers of the swarm the manager leads '
                              '(clusteraaaaaaaaaaaaaaaaaaa): 10.0.9.1:2377 (swarm clusterbbbbbbbbbbbbbbbbbbb); check '
                              'remote_addrs; nothing was changed')


def test_join_targets_addresses_of_two_swarms():
    probes = [answer('10.0.0.1:2377'), answer('10.0.9.1:2377', cluster='clusterbbbbbbbbbbbbbbbbbbb', ca=CA_B)]
    with pytest.raises(PlanError, match='remote_addrs lead to different swarms'):
        join_targets(request(['10.0.0.1:2377', '10.0.9.1:2377']), probes)


def test_join_targets_token_of_another_swarm_than_the_addresses():
    with pytest.raises(PlanError) as err:
        join_targets(request(['10.0.0.1:2377'], token=TOKEN_B_WORKER), [answer('10.0.0.1:2377')])
    assert str(err.value).startswith('join_token belongs to another swarm than the managers at 10.0.0.1:2377')


def test_join_targets_unknown_root_ca_or_cluster_is_not_a_refusal():
    targets = join_targets(request(['10.0.0.1:2377'], token=TOKEN_B_WORKER),
                           [answer('10.0.0.1:2377', ca=None, cluster=None)])
    assert targets['addrs'] == ['10.0.0.1:2377'] and targets['cluster_id'] is None


def test_join_targets_of_the_right_swarm():
    targets = join_targets(request(['10.0.0.1:2377'], cluster_id='clusteraaaaaaaaaaaaaaaaaaa'),
                           [answer('10.0.0.1:2377')])
    assert targets == dict(addrs=['10.0.0.1:2377'], cluster_id='clusteraaaaaaaaaaaaaaaaaaa', warnings=[])


# ============================================================== join_failure_advice

@pytest.mark.parametrize('reason, words', [
    ('POST /swarm/join on unix:///x: Timeout was reached before node joined. The attempt to join the swarm will '
     'continue in the background.', 'check that this node itself reaches 10.0.0.1:2377'),
    ('timed out after 60s waiting for this node to become an active member', 'reaches 10.0.0.1:2377'),
    ('rpc error: code = Unavailable desc = connection error', 'reaches 10.0.0.1:2377'),
    ('rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster',
     'join_token is not a current token of that swarm (rotated?)'),
    ('remote CA does not match fingerprint. Expected: 13fc86', 'join_token belongs to another swarm than the '
                                                               'managers at 10.0.0.1:2377'),
    ('something else', 'check join_token, remote_addrs and the engine log of this node'),
])
def test_join_failure_advice(reason, words):
    assert words in join_failure_advice(reason, '10.0.0.1:2377')


def test_join_failure_advice_says_the_module_host_reaches_the_target():
    assert 'the host this module runs on does' in join_failure_advice('Timeout was reached', 'a:2377', True)
    assert 'the host this module runs on does' not in join_failure_advice('Timeout was reached', 'a:2377', False)


# ============================================================== probe: certificate, HTTP/2, gRPC

def test_manager_identity_of_a_real_swarm_manager_certificate():
    assert manager_identity(der(MANAGER_CERT_PEM)) == dict(manager=True, cluster_id=MANAGER_CERT_CLUSTER,
                                                           node_id=MANAGER_CERT_NODE)


def test_manager_identity_of_another_certificate(tmp_path):
    cert, _key = _self_signed(tmp_path, 'Example Inc', 'web')
    with open(cert) as handle:
        assert manager_identity(der(handle.read())) == dict(manager=False, cluster_id='Example Inc', node_id='node1')


@pytest.mark.parametrize('data', [b'', b'\x30', b'\x30\x05\x02\x01', b'\x04\x03abc', b'\x30\x84\xff\xff\xff\xff'])
def test_manager_identity_of_garbage_is_unknown(data):
    assert manager_identity(data) == dict(manager=None, cluster_id=None, node_id=None)


def test_manager_identity_of_a_truncated_certificate_is_unknown():
    assert manager_identity(der(MANAGER_CERT_PEM)[:200])['manager'] is None


def test_grpc_request_is_a_well_formed_http2_exchange():
    data = grpc_request('10.0.0.1:2377')
    assert data.startswith(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    frames, pos = [], 24
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 3], 'big')
        frames.append((data[pos + 3], data[pos + 4], int.from_bytes(data[pos + 5:pos + 9], 'big'),
                       data[pos + 9:pos + 9 + length]))
        pos += 9 + length
    assert pos == len(data)
    assert [(f[0], f[1], f[2]) for f in frames] == [(4, 0, 0), (1, 4, 1), (0, 1, 1)]
    assert b'/docker.swarmkit.v1.CA/GetRootCACertificate' in frames[1][3]
    assert b'application/grpc' in frames[1][3] and b'10.0.0.1:2377' in frames[1][3]
    assert frames[2][3] == b'\x00\x00\x00\x00\x00'


def test_grpc_request_encodes_long_header_values():
    # HPACK lengths of 127 and more take more than one byte
    long_name = 'manager-%s.example.com:2377' % ('x' * 150)
    data = grpc_request(long_name)
    value = long_name.encode()
    index = data.index(value)
    assert len(value) - 127 < 128
    assert data[index - 2:index] == bytes([0x7f, len(value) - 127])


def grpc_message(message):
    return b'\x00' + len(message).to_bytes(4, 'big') + message


def proto_bytes(number, value):
    return bytes([(number << 3) | 2]) + _varint(len(value)) + value


def _varint(value):
    out = b''
    while True:
        byte = value & 0x7f
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


class Wire:
    """recv/send over a script of server bytes."""

    def __init__(self, data):
        self.data, self.pos, self.sent = data, 0, []

    def recv(self, size):
        if self.pos + size > len(self.data):
            raise ProbeError('connection closed')
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def send(self, data):
        self.sent.append(data)


def root_ca_reply(pem=CA_A.encode(), split=1):
    message = grpc_message(proto_bytes(1, pem))
    step = -(-len(message) // split)
    data = frame(4, 0, 0, b'\x00\x03\x00\x00\x00\x64') + frame(8, 0, 0, b'\x00\x00\x00\x10') + frame(6, 0, 0, b'p' * 8)
    data += frame(1, 4, 1, b'\x88')
    for i in range(0, len(message), step):
        data += frame(0, 0, 1, message[i:i + step])
    return data + frame(1, 5, 1, b'\x40\x0bgrpc-status\x010')


@pytest.mark.parametrize('split', [1, 3])
def test_read_grpc_reply_returns_the_message_and_acknowledges_settings(split):
    wire = Wire(root_ca_reply(split=split))
    message = read_grpc_reply(wire.recv, wire.send)
    assert proto_bytes_field(message, 1) == CA_A.encode()
    assert frame(4, 1, 0) in wire.sent                    # SETTINGS ack
    assert frame(6, 1, 0, b'p' * 8) in wire.sent          # PING ack


def test_read_grpc_reply_trailers_only_answer_is_a_failed_call():
    wire = Wire(frame(4, 0, 0) + frame(1, 5, 1, b'\x40\x0bgrpc-status\x0212'))
    with pytest.raises(ProbeError, match='no answer'):
        read_grpc_reply(wire.recv, wire.send)


@pytest.mark.parametrize('kind', [3, 7])
def test_read_grpc_reply_reset_or_goaway_is_a_failed_call(kind):
    wire = Wire(frame(4, 0, 0) + frame(kind, 0, 1 if kind == 3 else 0, b'\x00' * 8))
    with pytest.raises(ProbeError, match='refused'):
        read_grpc_reply(wire.recv, wire.send)


def test_proto_bytes_field_skips_other_fields():
    message = b'\x08\x96\x01' + proto_bytes(2, b'other') + b'\x1d\x00\x00\x00\x00' + proto_bytes(1, b'pem')
    assert proto_bytes_field(message, 1) == b'pem'
    assert proto_bytes_field(message, 7) is None
    with pytest.raises(ProbeError):
        proto_bytes_field(b'\x0a\x10abc', 1)


@pytest.mark.parametrize('addr, expected', [('10.0.0.1:2377', ('10.0.0.1', 2377)),
                                            ('[fd00::1]:2377', ('fd00::1', 2377)),
                                            ('m.example.com:4000', ('m.example.com', 4000))])
def test_split_addr(addr, expected):
    assert split_addr(addr) == expected


# ---- probe() against local servers

def _self_signed(tmp_path, organization, unit):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                         x509.NameAttribute(NameOID.COMMON_NAME, 'node1')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'swarm-ca')]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / 'cert.pem').write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / 'key.pem').write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')


class Server:
    """One-connection local server: plain TCP or TLS answering one gRPC call."""

    def __init__(self, tls=None, reply=b''):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.addr = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.tls, self.reply, self.received = tls, reply, b''
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _peer = self.sock.accept()
        conn.settimeout(5)
        try:
            if self.tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*self.tls)
                context.set_alpn_protocols(['h2'])
                conn = context.wrap_socket(conn, server_side=True)
                while len(self.received) < len(grpc_request('x')) - 1:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    self.received += chunk
                conn.sendall(self.reply)
            else:
                conn.sendall(b'HTTP/1.0 400 Bad Request\r\n\r\n')
            conn.recv(100)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            self.sock.close()


def test_probe_a_swarm_manager_lookalike(tmp_path):
    server = Server(tls=_self_signed(tmp_path, 'clusteraaaaaaaaaaaaaaaaaaa', 'swarm-manager'), reply=root_ca_reply())
    result = probe(server.addr, timeout=5)
    server.thread.join(5)
    assert result == dict(addr=server.addr, error=None, manager=True, cluster_id='clusteraaaaaaaaaaaaaaaaaaa',
                          node_id='node1', root_ca=CA_A)
    assert b'/docker.swarmkit.v1.CA/GetRootCACertificate' in server.received


def test_probe_a_tls_server_that_is_no_swarm_manager(tmp_path):
    server = Server(tls=_self_signed(tmp_path, 'Example Inc', 'web'))
    result = probe(server.addr, timeout=5)
    server.thread.join(5)
    assert result['error'] is None and result['manager'] is False and result['root_ca'] is None


def test_probe_a_plain_tcp_service():
    server = Server()
    result = probe(server.addr, timeout=5)
    server.thread.join(5)
    assert result['error'] is None and result['manager'] is False


def test_probe_a_closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    addr = '127.0.0.1:%d' % sock.getsockname()[1]
    sock.close()
    result = probe(addr, timeout=2)
    assert result['error'] and result['manager'] is None


def test_probe_a_malformed_address():
    assert probe('no-port-here', timeout=1)['error'] == 'not a host:port address'


# ============================================================== the module, against a scripted engine

class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def _exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs.update(failed=True, msg=msg)
    raise FailJson(kwargs)


CHANGING = ('POST', 'DELETE')


class FakeEngine:
    """An engine answering from a script. ``infos``: GET /info, either one
    answer or {event: answer} where event is the last request that changed
    something ('join', 'leave', 'update', 'node_update'; None before any);
    ``join`` is an exception POST /swarm/join raises."""

    def __init__(self, infos, cluster=None, nodes=None, join=None, label='engine'):
        self.infos = {None: infos} if 'Swarm' in infos else infos
        self.cluster, self.node_list = cluster, nodes
        self.join_effect, self.label, self.calls = join, label, []
        self.event = None

    def changing_calls(self):
        return [c for c in self.calls if c.split()[0] in CHANGING]

    def info(self):
        self.calls.append('GET /info')
        return copy.deepcopy(self.infos.get(self.event, self.infos[None]))

    def swarm_inspect(self):
        self.calls.append('GET /swarm')
        return copy.deepcopy(self.cluster)

    def nodes(self):
        self.calls.append('GET /nodes')
        return copy.deepcopy(self.node_list)

    def swarm_join(self, body):
        self.calls.append('POST /swarm/join')
        self.event = 'join'
        self.join_body = body
        if isinstance(self.join_effect, Exception):
            raise self.join_effect

    def swarm_leave(self, force=False):
        self.calls.append('POST /swarm/leave force=%s' % force)
        self.event = 'leave'

    def swarm_update(self, version, spec, **rotations):
        self.calls.append('POST /swarm/update')
        self.update_spec = spec

    def node_inspect(self, node_id):
        self.calls.append('GET /nodes/%s' % node_id)
        return {'ID': node_id, 'Version': {'Index': 1}, 'Spec': {'Role': 'manager'}}

    def node_update(self, node_id, version, spec):
        self.calls.append('POST /nodes/%s/update' % node_id)
        self.event = 'node_update'

    def node_remove(self, node_id, force=False):
        self.calls.append('DELETE /nodes/%s' % node_id)


class FakeClock:
    """time for the module: sleeping moves the clock, nobody waits."""

    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def module_run(monkeypatch):
    monkeypatch.setattr(AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(AnsibleModule, 'fail_json', _fail_json)
    monkeypatch.setattr(docker_swarm, 'time', FakeClock())
    probed = []

    def _run(args, engine, manager=None, probes=None, check=False):
        def fake_connect(module, params=None, label='engine'):
            return manager if label == 'manager' else engine

        def fake_probe_all(addrs, timeout=5.0):
            probed.extend(addrs)
            return [dict((probes or {}).get(a) or silent(a), addr=a) for a in addrs]
        monkeypatch.setattr(docker_swarm, 'connect', fake_connect)
        monkeypatch.setattr(docker_swarm, 'probe_all', fake_probe_all)
        args = dict(args, _ansible_check_mode=check)
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)  # ansible-core 2.19+
        with pytest.raises((FailJson, ExitJson)) as outcome:
            docker_swarm.main()
        return outcome.type, outcome.value.args[0]
    _run.probed = probed
    return _run


ACTIVE_WORKER_B = info('active', 'nodeworkerb', remote=['10.0.9.1:2377'])
CLUSTER_B_PROBE = answer('10.0.9.1:2377', cluster='clusterbbbbbbbbbbbbbbbbbbb', ca=CA_B)


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_defect1_forced_join_without_token_or_manager_fails_before_leaving(module_run, check):
    engine = FakeEngine(ACTIVE_WORKER_B)
    kind, result = module_run(dict(state='join', role='worker', force=True, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377'), '10.0.9.1:2377': CLUSTER_B_PROBE},
                              check=check)
    assert kind is FailJson
    assert 'needs manager' in result['msg'] and 'nothing was changed' in result['msg']
    assert not result.get('changed') and not result.get('actions')
    assert engine.changing_calls() == []


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_defect1_forced_join_with_nothing_to_join_with_fails_before_leaving(module_run, check):
    # neither manager, token nor addresses: the node's swarm and the target cannot even be compared
    engine = FakeEngine(ACTIVE_WORKER_B)
    kind, result = module_run(dict(state='join', role='worker', force=True), engine, check=check)
    assert kind is FailJson and not result.get('changed')
    assert 'leave' not in ' '.join(result.get('actions', []))
    assert engine.changing_calls() == []


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('case', ['token_of_other_swarm', 'wrong_role', 'rotated', 'nobody_answers',
                                  'addresses_of_other_swarm'])
def test_defect1_forced_switch_through_a_manager_checks_everything_before_leaving(module_run, check, case):
    engine = FakeEngine(ACTIVE_WORKER_B)
    manager = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A,
                         nodes=nodes_of(('m1', '10.0.0.1:2377', 'reachable')), label='manager')
    args = dict(state='join', role='worker', force=True, manager={'docker_host': 'tcp://m1:2376'})
    probes = {'10.0.0.1:2377': answer('10.0.0.1:2377')}
    words = {'token_of_other_swarm': 'belongs to another swarm', 'wrong_role': 'is a manager token',
             'rotated': 'rotated?', 'nobody_answers': 'no swarm manager answers',
             'addresses_of_other_swarm': 'not all managers of the swarm the manager leads'}[case]
    if case == 'token_of_other_swarm':
        args['join_token'] = TOKEN_B_WORKER
    elif case == 'wrong_role':
        args['join_token'] = TOKEN_A_MANAGER
    elif case == 'rotated':
        args['join_token'] = TOKEN_A_ROTATED
    elif case == 'nobody_answers':
        probes = {}
    else:
        args['remote_addrs'] = ['10.0.9.1']
        probes['10.0.9.1:2377'] = CLUSTER_B_PROBE
    kind, result = module_run(args, engine, manager=manager, probes=probes, check=check)
    assert kind is FailJson, result
    assert words in result['msg']
    assert not result.get('changed') and not result.get('actions')
    assert engine.changing_calls() == [] and manager.changing_calls() == []


def test_defect1_forced_switch_through_a_manager_leaves_then_joins_when_all_is_checked(module_run):
    engine = FakeEngine({None: ACTIVE_WORKER_B, 'leave': info(), 'join': info('active', 'newnode', remote=['10.0.0.1:2377'])})
    manager = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A,
                         nodes=nodes_of(('m1', '10.0.0.1:2377', 'reachable'), workers=['newnode']), label='manager')
    kind, result = module_run(dict(state='join', role='worker', force=True, manager={'docker_host': 'tcp://m1'}),
                              engine, manager=manager, probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is ExitJson, result
    assert result['actions'] == ['leave_force', 'join']
    assert engine.changing_calls() == ['POST /swarm/leave force=True', 'POST /swarm/join']
    assert engine.join_body['JoinToken'] == TOKEN_A_WORKER and engine.join_body['RemoteAddrs'] == ['10.0.0.1:2377']


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_defect9_join_where_no_manager_answers_is_refused_before_joining(module_run, check):
    engine = FakeEngine(info())
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.99']), engine,
                              check=check)
    assert kind is FailJson and 'no swarm manager answers at 10.0.0.99:2377' in result['msg']
    assert not result.get('changed') and engine.changing_calls() == []


def test_defect9_answering_manager_is_joined_through_first(module_run):
    engine = FakeEngine({None: info(), 'join': info('active', 'newnode')})
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.99', '10.0.0.1'],
                                   debug=True),
                              engine, probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is ExitJson, result
    assert engine.join_body['RemoteAddrs'] == ['10.0.0.1:2377', '10.0.0.99:2377']
    assert result['api_calls'][-2:] == ['probe 10.0.0.99:2377', 'probe 10.0.0.1:2377']


def test_defect9_probe_can_be_turned_off(module_run):
    engine = FakeEngine({None: info(), 'join': info('active', 'newnode')})
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.99'],
                                   probe_remote_addrs=False), engine)
    assert kind is ExitJson and module_run.probed == []
    assert engine.join_body['RemoteAddrs'] == ['10.0.0.99:2377']


TIMEOUT = EngineError('POST /swarm/join on unix:///x: Timeout was reached before node joined. The attempt to join '
                      'the swarm will continue in the background. Use the "docker info" command to see the current '
                      'swarm status of your node.', 503)


def test_defect9_engine_timeout_leaves_the_pending_state(module_run):
    pending = info('pending', remote=['10.0.0.1:2377'])
    engine = FakeEngine({None: info(), 'join': pending, 'leave': info()}, join=TIMEOUT)
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson
    assert engine.changing_calls() == ['POST /swarm/join', 'POST /swarm/leave force=True']
    msg = result['msg']
    assert msg.startswith('could not join the swarm through 10.0.0.1:2377: POST /swarm/join')
    assert 'left this node in swarm state pending' in msg and 'gave' not in msg
    assert 'This node is in swarm state inactive now, as before.' in msg
    assert 'check that this node itself reaches 10.0.0.1:2377' in msg
    assert result['changed'] is False and result['actions'] == ['join', 'leave_force']
    assert 'local_node_state' not in result     # roles take a result with it for a success


class JoinsLate(FakeEngine):
    """An engine whose join API gives up after its own timeout while the join
    completes in the background a few /info reads later (a busy swarm)."""

    def __init__(self, reads_pending, **kwargs):
        super().__init__({None: info(), 'join': info('pending', remote=['10.0.0.1:2377'])}, join=TIMEOUT, **kwargs)
        self.reads_pending = reads_pending

    def info(self):
        if self.event == 'join':
            self.reads_pending -= 1
            if self.reads_pending < 0:
                self.calls.append('GET /info')
                return info('active', 'latenode', remote=['10.0.0.1:2377'])
        return super().info()


def test_an_engine_timeout_on_a_join_that_completes_in_the_background_is_waited_for(module_run):
    engine = JoinsLate(reads_pending=5)
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is ExitJson, result
    assert result['actions'] == ['join'] and result['local_node_state'] == 'active'
    assert engine.changing_calls() == ['POST /swarm/join']


def test_a_join_still_pending_after_wait_timeout_is_given_up(module_run):
    engine = JoinsLate(reads_pending=10 ** 6)
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1'],
                                   wait_timeout=7), engine, probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson
    assert 'Timeout was reached before node joined' in result['msg'] and 'still not joined 7 seconds later' in result['msg']
    assert engine.changing_calls() == ['POST /swarm/join', 'POST /swarm/leave force=True']


def test_defect9_engine_timeout_with_a_node_entry_removes_it_through_the_manager(module_run):
    pending = info('pending', node_id='halfnode', remote=['10.0.0.1:2377'])
    engine = FakeEngine({None: info(), 'join': pending, 'leave': info()}, join=TIMEOUT)
    manager = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A,
                         nodes=nodes_of(('m1', '10.0.0.1:2377', 'reachable'), workers=['halfnode']), label='manager')
    kind, result = module_run(dict(state='join', manager={'docker_host': 'tcp://m1'}), engine, manager=manager,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson
    assert manager.changing_calls() == ['DELETE /nodes/halfnode']
    assert 'docker node rm' not in result['msg'] and result['changed'] is False


def test_defect9_engine_timeout_with_a_node_entry_and_no_manager_names_it(module_run):
    pending = info('pending', node_id='halfnode', remote=['10.0.0.1:2377'])
    engine = FakeEngine({None: info(), 'join': pending, 'leave': info()}, join=TIMEOUT)
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson
    assert 'Its node entry halfnode stays' in result['msg'] and 'docker node rm --force halfnode' in result['msg']
    assert result['changed'] is True


def test_defect9_engine_refusal_reports_the_unchanged_state(module_run):
    refused = EngineError('POST /swarm/join on unix:///x: rpc error: code = InvalidArgument desc = A valid join '
                          'token is necessary to join this cluster', 400)
    engine = FakeEngine(info(), join=refused)
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson and result['changed'] is False
    assert engine.changing_calls() == ['POST /swarm/join']
    assert 'This node is in swarm state inactive now, as before.' in result['msg']
    assert 'rotated?' in result['msg']


@pytest.mark.parametrize('token_role, role', [('worker', 'manager'), ('manager', 'worker')])
def test_defect9_wrong_kind_of_token_without_manager_names_the_stale_entry(module_run, token_role, role):
    joined = info('active', 'wrongnode', manager=token_role == 'manager', remote=['10.0.0.1:2377'])
    demoted = info('active', 'wrongnode', manager=False, remote=['10.0.0.1:2377'])
    engine = FakeEngine({None: info(), 'join': joined, 'node_update': demoted, 'leave': info()})
    token = TOKEN_A_MANAGER if token_role == 'manager' else TOKEN_A_WORKER
    kind, result = module_run(dict(state='join', role=role, join_token=token, remote_addrs=['10.0.0.1']), engine,
                              probes={'10.0.0.1:2377': answer('10.0.0.1:2377')})
    assert kind is FailJson
    msg = result['msg']
    assert msg.startswith('join_token is a %s token, but role=%s: this node joined as a %s and left the swarm '
                          'again; it is in swarm state inactive now.' % (token_role, role, token_role))
    assert 'Its node entry wrongnode stays' in msg and '"docker node rm --force wrongnode"' in msg
    assert 'Set manager' in msg
    assert engine.changing_calls()[-1] == 'POST /swarm/leave force=True'
    assert result['changed'] is True


@pytest.mark.parametrize('args, words', [
    (dict(election_tick=1), 'this would make them 1 and 1'),
    (dict(rotate_unlock_key=True), 'rotate_unlock_key: this swarm is not autolocked'),
])
@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_defect6_cluster_dependent_refusals_change_nothing(module_run, args, words, check):
    engine = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A)
    kind, result = module_run(args, engine, check=check)
    assert kind is FailJson and words in result['msg']
    assert not result.get('changed') and engine.changing_calls() == []


@pytest.mark.parametrize('args', [dict(task_history_retention_limit=-1), dict(wait_timeout=-5),
                                  dict(labels={'rack': None}), dict(labels={'': 'x'}),
                                  dict(external_cas=[{'url': 'ca.example.com'}]),
                                  dict(heartbeat_tick=5, election_tick=5)])
def test_defect6_static_refusals_come_before_any_engine_request(module_run, args):
    engine = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A)
    kind, result = module_run(args, engine)
    assert kind is FailJson and engine.calls == []
    assert 'Traceback' not in result['msg'] and 'Error' not in result['msg']


def test_defect11_numeric_cluster_label_is_sent_as_text(module_run):
    engine = FakeEngine(info('active', 'm1', manager=True, cluster=CLUSTER_A), cluster=CLUSTER_A)
    kind, result = module_run(dict(labels={'rack': 1, 'ssd': True}), engine)
    assert kind is ExitJson and result['changed']
    assert engine.update_spec['Labels'] == {'rack': '1', 'ssd': 'true'}


def test_no_op_join_makes_no_probe_and_no_extra_request(module_run):
    # an active worker joined again with the addresses it knows: GET /info only
    engine = FakeEngine(ACTIVE_WORKER_B)
    kind, result = module_run(dict(state='join', join_token=TOKEN_B_WORKER, remote_addrs=['10.0.9.1'], debug=True),
                              engine)
    assert kind is ExitJson and not result['changed']
    assert result['api_calls'] == ['GET /info'] and module_run.probed == []


def test_active_node_with_other_addresses_of_its_own_swarm_is_no_change(module_run):
    # the addresses differ from the ones the node knows, the managers there serve its swarm
    engine = FakeEngine(ACTIVE_WORKER_B)
    probes = {'10.0.9.1:2377': CLUSTER_B_PROBE,
              'mgr-b.example.com:2377': dict(CLUSTER_B_PROBE, addr='mgr-b.example.com:2377')}
    kind, result = module_run(dict(state='join', join_token=TOKEN_B_WORKER, remote_addrs=['mgr-b.example.com']),
                              engine, probes=probes)
    assert kind is ExitJson and not result['changed']


def test_active_node_at_addresses_of_another_swarm_is_refused_without_force(module_run):
    engine = FakeEngine(ACTIVE_WORKER_B)
    probes = {'10.0.9.1:2377': CLUSTER_B_PROBE, '10.0.0.1:2377': answer('10.0.0.1:2377')}
    kind, result = module_run(dict(state='join', join_token=TOKEN_A_WORKER, remote_addrs=['10.0.0.1']), engine,
                              probes=probes)
    assert kind is FailJson and 'already a member of another swarm' in result['msg']
    assert engine.changing_calls() == []


def test_digest_of_the_probe_root_ca_is_what_tokens_carry():
    # the same digest function the join check uses: SHA-256 of the PEM bytes in base 36
    number = int(hashlib.sha256(CA_A.encode()).hexdigest(), 16)
    assert int(pem_digest(CA_A), 36) == number


# ---------------------------------------------------------------- the node's own entry (node_labels)

@pytest.mark.parametrize('state, role, via_manager, route', [
    ('present', 'worker', False, 'self'),      # init or update: this node is a manager
    ('join', 'manager', False, 'self'),
    ('join', 'worker', True, 'manager'),
    ('join', 'worker', False, None),
    ('absent', 'worker', True, None),
])
def test_own_node_route(state, role, via_manager, route):
    assert _swarm.own_node_route(state, role, via_manager) == route


def test_worker_labels_without_a_manager_are_refused_before_anything_changes():
    with pytest.raises(PlanError, match='node_labels: a worker cannot change its own entry.*nothing was changed'):
        _swarm.check_own_node('join', 'worker', False, {'zone': 'a'})
    _swarm.check_own_node('join', 'worker', True, {'zone': 'a'})
    _swarm.check_own_node('join', 'worker', False, None)
    _swarm.check_own_node('join', 'manager', False, {'zone': 'a'})


@pytest.mark.parametrize('params, words', [
    ({'node_labels': {'': 'x'}}, 'node_labels: a label has an empty key'),
    ({'node_labels': {'a': None}}, "node_labels: label 'a' has no value"),
    ({'node_labels': {'a': 1}, 'state': 'absent'}, 'node_labels: a node that leaves its swarm'),
])
def test_node_labels_are_checked_with_the_settings(params, words):
    with pytest.raises(PlanError, match=words):
        _swarm.check_settings(params)
