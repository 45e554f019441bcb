# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the Flocker planning core (plugins/module_utils/_flocker.py).

Inputs are shaped like the control service's v1 answers
(``/v1/configuration/datasets``, ``/v1/state/nodes``, ``/v1/configuration/leases``)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker import (
    PROFILE_KEY, PlanError, api_error, attached, check_request, dataset_view, find_dataset, format_size, parse_size,
    plan_dataset, resolve_node)

N1 = '11111111-1111-4111-8111-111111111111'
N2 = '22222222-2222-4222-8222-222222222222'
N3 = '33333333-3333-4333-8333-333333333333'
D1 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
D2 = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
NODES = [dict(host='10.0.0.1', uuid=N1), dict(host='10.0.0.2', uuid=N2)]
GIB = 1024 ** 3


def dataset(dataset_id=D1, name='pg', primary=N1, size=GIB, deleted=False, **metadata):
    result = dict(dataset_id=dataset_id, primary=primary, deleted=deleted,
                  metadata=dict(metadata, **({'name': name} if name else {})))
    if size is not None:
        result['maximum_size'] = size
    return result


def request(**params):
    base = dict(name='pg', dataset_id=None, state='present', primary=N1, maximum_size=None, metadata=None,
                profile=None, recreate=False, lease=None, lease_node=None, lease_expires=None, wait_timeout=120)
    base.update(params)
    return base


def plan(datasets, leases=(), **params):
    p = request(**params)
    desired = check_request(p)
    return plan_dataset(desired, datasets, list(leases), NODES, state=p['state'], primary=p['primary'],
                        recreate=p['recreate'], lease=p['lease'], lease_node=p['lease_node'],
                        lease_expires=p['lease_expires'])


# ================================================================== sizes

@pytest.mark.parametrize('text, size', [
    ('75G', 75 * GIB), ('75GiB', 75 * GIB), ('75GB', 75 * GIB), ('75g', 75 * GIB), ('100MiB', 100 * 1024 ** 2),
    ('64M', 64 * 1024 ** 2), ('1T', 1024 ** 4), ('67108864', 67108864), (67108864, 67108864),
    (1073741824.0, GIB), (' 2 G ', 2 * GIB), ('65536K', 64 * 1024 ** 2),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize('text, fragment', [
    ('63M', 'at least 64 MiB'), (67108864 - 1024, 'at least 64 MiB'), ('67109000', 'multiple of 1024'),
    ('ten gigs', 'is not a size'), ('10X', 'is not a size'), ('-1G', 'is not a size'), ('1.5G', 'is not a size'),
    ('100i', '"i" needs a unit'), (True, 'not a boolean'), ('', 'is not a size'),
])
def test_parse_size_refused(text, fragment):
    with pytest.raises(PlanError, match=fragment):
        parse_size(text)


def test_format_size():
    assert format_size(75 * GIB) == '75GiB'
    assert format_size(100 * 1024 ** 2) == '100MiB'
    assert format_size(67109888) == '65537KiB'
    assert format_size(None) is None


# ============================================================ the request

def test_check_request_builds_metadata_with_name_and_profile():
    desired = check_request(request(maximum_size='75G', profile='bronze', metadata={'team': 'db', 'replicas': 2}))
    assert desired['maximum_size'] == 75 * GIB
    assert desired['metadata'] == {'name': 'pg', PROFILE_KEY: 'bronze', 'team': 'db', 'replicas': '2'}


def test_check_request_leaves_metadata_alone_when_not_asked():
    assert check_request(request())['metadata'] is None


@pytest.mark.parametrize('params, fragment', [
    (dict(name=None), 'name or dataset_id is required'),
    (dict(name='  '), 'must not be empty'),
    (dict(primary=None), 'needs primary'),
    (dict(dataset_id='not-a-uuid'), 'is not a UUID'),
    (dict(metadata={'a': None}), 'text value'),
    (dict(metadata={'a': {'b': 1}}), 'text value'),
    (dict(metadata=dict(('k%d' % i, 'v') for i in range(16))), 'at most 16'),
    (dict(metadata={'k' * 257: 'v'}), '1 to 256'),
    (dict(metadata={'k': 'v' * 257}), 'at most 256'),
    (dict(metadata={'name': 'other'}), 'disagree'),
    (dict(metadata={PROFILE_KEY: 'gold'}, profile='bronze'), 'disagree'),
    (dict(wait_timeout=0), 'wait_timeout'),
    (dict(lease='held', lease_expires=0), 'lease_expires'),
    (dict(state='absent', lease='held'), 'contradict'),
    (dict(recreate=True, dataset_id=D1), 'recreate needs'),
])
def test_check_request_refuses(params, fragment):
    with pytest.raises(PlanError, match=fragment):
        check_request(request(**params))


def test_dataset_id_is_lower_cased():
    assert check_request(request(dataset_id=D1.upper()))['dataset_id'] == D1


# ================================================================= nodes

def test_resolve_node_by_uuid_host_and_address():
    assert resolve_node(NODES, N2) == N2
    assert resolve_node(NODES, N2.upper()) == N2
    assert resolve_node(NODES, '10.0.0.1') == N1
    assert resolve_node(NODES, 'node2.example.com', ['10.0.0.2']) == N2
    assert resolve_node(NODES, N3) == N3  # not reported yet: the module warns


def test_resolve_node_refuses_unknown_and_ambiguous():
    with pytest.raises(PlanError, match='no node of the control service is node9'):
        resolve_node(NODES, 'node9', ['10.0.0.9'])
    with pytest.raises(PlanError, match='several nodes'):
        resolve_node(NODES + [dict(host='10.0.0.1', uuid=N3)], '10.0.0.1')
    with pytest.raises(PlanError, match='empty'):
        resolve_node(NODES, ' ')


# ============================================================== datasets

def test_find_dataset_by_name_skips_deleted_and_refuses_duplicates():
    assert find_dataset([dataset(deleted=True), dataset(D2)], name='pg')['dataset_id'] == D2
    assert find_dataset([dataset(deleted=True)], name='pg') is None
    assert find_dataset([dataset(deleted=True)], dataset_id=D1)['deleted'] is True
    with pytest.raises(PlanError, match='2 datasets are named'):
        find_dataset([dataset(), dataset(D2)], name='pg')
    with pytest.raises(PlanError, match="is named 'pg', not 'other'"):
        find_dataset([dataset()], name='other', dataset_id=D1)


def test_create_when_missing():
    actions = plan([], maximum_size='1G', profile='bronze')
    assert actions == [('create', dict(primary=N1, maximum_size=GIB,
                                       metadata={'name': 'pg', PROFILE_KEY: 'bronze'}))]


def test_create_with_dataset_id_and_only_the_name():
    assert plan([], dataset_id=D2) == [('create', dict(primary=N1, dataset_id=D2, metadata={'name': 'pg'}))]


def test_same_settings_no_change():
    assert plan([dataset(**{PROFILE_KEY: 'bronze'})], maximum_size='1G', profile='bronze') == []
    assert plan([dataset(**{PROFILE_KEY: 'bronze'})]) == []  # size and metadata not asked: not compared


def test_other_primary_is_a_move():
    assert plan([dataset()], primary=N2) == [('move', (D1, N2))]


@pytest.mark.parametrize('params, fragment', [
    (dict(maximum_size='2G'), 'maximum_size 1GiB'),
    (dict(profile='gold'), 'metadata'),
])
def test_size_or_metadata_difference_refused(params, fragment):
    with pytest.raises(PlanError, match=fragment) as info:
        plan([dataset()], **params)
    assert 'cannot resize' in str(info.value) and 'Nothing was changed' in str(info.value)


def test_recreate_deletes_then_creates():
    assert plan([dataset()], maximum_size='2G', recreate=True, primary=N2) == [
        ('delete', D1), ('create', dict(primary=N2, maximum_size=2 * GIB, metadata={'name': 'pg'}))]


def test_deleted_dataset_id_cannot_be_used_again():
    with pytest.raises(PlanError, match='cannot be used again'):
        plan([dataset(deleted=True)], dataset_id=D1, name=None)


def test_absent_deletes_and_is_idempotent():
    assert plan([dataset()], state='absent', primary=None) == [('delete', D1)]
    assert plan([dataset(deleted=True)], state='absent', primary=None) == []
    assert plan([], state='absent', primary=None) == []


# ================================================================= leases

def lease(node=N1, expires=None, dataset_id=D1):
    return dict(dataset_id=dataset_id, node_uuid=node, expires=expires)


def test_lease_acquired_then_no_change():
    assert plan([dataset()], lease='held') == [('lease', dict(dataset_id=D1, node_uuid=N1, expires=None))]
    assert plan([dataset()], [lease()], lease='held') == []


def test_lease_with_expiry_is_renewed():
    assert plan([dataset()], [lease(expires=10.0)], lease='held', lease_expires=60) == [
        ('lease', dict(dataset_id=D1, node_uuid=N1, expires=60))]


def test_lease_for_a_new_dataset_follows_its_creation():
    actions = plan([], lease='held', lease_node=N2)
    assert actions[0][0] == 'create'
    assert actions[1] == ('lease', dict(dataset_id=None, node_uuid=N2, expires=None))


def test_lease_of_another_node_refused():
    with pytest.raises(PlanError, match='leased to node %s' % N2):
        plan([dataset()], [lease(N2)], lease='held')


def test_leased_dataset_neither_moved_nor_deleted_without_release():
    with pytest.raises(PlanError, match='cannot move'):
        plan([dataset()], [lease(N1)], primary=N2)
    with pytest.raises(PlanError, match='add lease=released'):
        plan([dataset()], [lease(N1)], state='absent', primary=None)
    with pytest.raises(PlanError, match='cannot be recreated'):
        plan([dataset()], [lease(N1)], maximum_size='2G', recreate=True)
    assert plan([dataset()], [lease(N1)], primary=N2, lease='released') == [('release', D1), ('move', (D1, N2))]
    assert plan([dataset()], [lease(N1)], state='absent', primary=None, lease='released') == [
        ('release', D1), ('delete', D1)]


def test_move_to_the_lease_holder_is_allowed():
    assert plan([dataset(primary=N1)], [lease(N2)], primary=N2) == [('move', (D1, N2))]


def test_release_alone():
    assert plan([dataset()], [lease()], lease='released') == [('release', D1)]
    assert plan([dataset()], [], lease='released') == []


# =========================================================== state, errors

def test_attached_needs_primary_and_path():
    assert attached([dict(dataset_id=D1, primary=N1, path='/flocker/x')], D1, N1)
    assert not attached([dict(dataset_id=D1, primary=N1)], D1, N1)
    assert not attached([dict(dataset_id=D1, primary=N2, path='/flocker/x')], D1, N1)
    assert not attached([], D1, N1)


@pytest.mark.parametrize('status, body, request_line, fragment', [
    (409, {'description': 'The provided dataset_id is already in use.'}, 'POST /v1/configuration/datasets',
     'dataset id is already in use'),
    (409, {'description': 'Lease already held.'}, 'POST /v1/configuration/leases', 'leased to another node'),
    (404, {'description': 'Dataset not found.'}, 'DELETE /v1/configuration/datasets/x', 'no such dataset'),
    (405, {'description': 'The dataset has been deleted.'}, 'POST /v1/configuration/datasets/x',
     'dataset was deleted'),
    (412, {'description': 'tag'}, 'POST /v1/configuration/datasets', 'configuration changed while this task ran'),
    (400, {'description': "The provided JSON doesn't match the required schema.",
           'errors': ["'primary' is a required property"]}, 'POST /v1/configuration/datasets',
     "does not match its schema: 'primary' is a required property"),
    (400, {'description': 'Could not decode'}, 'POST /v1/configuration/datasets', 'bad request'),
    (500, None, 'GET /v1/version', 'failed on GET /v1/version \\(HTTP 500\\)'),
    (418, 'teapot', 'GET /v1/version', 'HTTP 418'),
])
def test_api_error_messages(status, body, request_line, fragment):
    message = api_error(status, body, request_line)
    assert re.search(fragment, message), message
    assert 'Traceback' not in message


def test_dataset_view_joins_state_and_host():
    view = dataset_view(dataset(), [dict(dataset_id=D1, primary=N1, path='/p')], NODES)
    assert view['name'] == 'pg' and view['primary_host'] == '10.0.0.1'
    assert view['state'] == dict(primary=N1, path='/p')
    assert dataset_view(dataset(), [], NODES)['state'] is None
    assert dataset_view(None) == {}
