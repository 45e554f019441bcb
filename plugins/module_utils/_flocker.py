# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning core of the Flocker modules (private: may change).

Nothing here talks to a control service: functions take what the Flocker v1
REST API returned (plain dictionaries and lists) and what the user asked for,
and return facts, a list of actions, or a PlanError whose message says what to
fix. The modules execute the actions.
"""

from __future__ import annotations

import re
import uuid

MIN_SIZE = 64 * 1024 * 1024
SIZE_UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5}
SIZE_RE = re.compile(r'^\s*([0-9]+)\s*([KMGTP]?)(i?)(B?)\s*$', re.IGNORECASE)
PROFILE_KEY = 'clusterhq:flocker:profile'
NAME_KEY = 'name'
MAX_METADATA_KEYS = 16
MAX_METADATA_LENGTH = 256


class PlanError(Exception):
    """The request cannot be carried out; the message says what to fix."""


# ------------------------------------------------------------------- sizes

def parse_size(value):
    """Bytes from an integer or a text such as ``75G``, ``100MiB``,
    ``1073741824``. K, M, G, T and P count in powers of 1024 with or
    without ``i`` and ``B`` (``10G`` == ``10GiB`` == ``10GB``), as Flocker's
    own tools read them. The result must be at least 64 MiB and a multiple of
    1024, the control service's limits."""
    if isinstance(value, bool):
        raise PlanError('maximum_size must be a size such as 75G, 100MiB or a number of bytes, not a boolean')
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    else:
        match = SIZE_RE.match(str(value))
        if not match:
            raise PlanError('maximum_size %r is not a size: give bytes (1073741824) or a number with K, M, G or T '
                            '(75G, 100MiB; powers of 1024)' % (value,))
        if match.group(3) and not match.group(2):
            raise PlanError('maximum_size %r is not a size: "i" needs a unit before it (100MiB)' % (value,))
        size = int(match.group(1)) * SIZE_UNITS[match.group(2).upper()]
    if size < MIN_SIZE:
        raise PlanError('maximum_size %r is %d bytes; the control service needs at least 64 MiB (%d bytes)'
                        % (value, size, MIN_SIZE))
    if size % 1024:
        raise PlanError('maximum_size %r is %d bytes, not a multiple of 1024 as the control service requires'
                        % (value, size))
    return size


def format_size(size):
    """``75G``-style text for a byte count (exact, largest unit that divides)."""
    if size is None:
        return None
    for unit in ('P', 'T', 'G', 'M', 'K'):
        if size and size % SIZE_UNITS[unit] == 0:
            return '%d%siB' % (size // SIZE_UNITS[unit], unit)
    return '%d bytes' % size


# ------------------------------------------------------------ identifiers

def normalize_uuid(value, what):
    """The lower-case canonical form of a UUID, or PlanError."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise PlanError('%s %r is not a UUID' % (what, value)) from None


def looks_like_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return len(str(value)) in (32, 36)


def resolve_node(nodes, wanted, addresses=()):
    """The UUID of the node ``wanted`` names: its UUID, or its address or
    hostname as the control service knows it (``host`` in /v1/state/nodes),
    or one of ``addresses`` (what ``wanted`` resolves to on this host).

    A UUID the control service does not list is returned as is (a node that
    has not reported yet); the caller warns. Several nodes at one address are
    refused with each candidate."""
    wanted = str(wanted).strip()
    if not wanted:
        raise PlanError('an empty node name was given; name a node by its UUID or its address')
    if looks_like_uuid(wanted):
        return normalize_uuid(wanted, 'node')
    for candidates in ([wanted], list(addresses)):
        found = sorted(set(n['uuid'] for n in nodes if n.get('host') in candidates))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise PlanError('%s names several nodes (%s); give the node UUID' % (wanted, ', '.join(found)))
    raise PlanError('no node of the control service is %s%s (nodes: %s); give its UUID or the address the node '
                    'reports' % (wanted, ' (%s)' % ', '.join(addresses) if addresses else '',
                                 ', '.join('%s %s' % (n.get('host'), n.get('uuid')) for n in nodes) or 'none'))


def node_name(nodes, node_uuid):
    for node in nodes:
        if node.get('uuid') == node_uuid:
            return '%s (%s)' % (node_uuid, node.get('host'))
    return node_uuid


# --------------------------------------------------------------- metadata

def desired_metadata(name, metadata, profile):
    """The dataset metadata asked for, or None when nothing about it was asked
    (then an existing dataset's metadata is not compared)."""
    if metadata is None and profile is None:
        return None
    result = {}
    for key, value in (metadata or {}).items():
        if value is None or isinstance(value, (dict, list)):
            raise PlanError('metadata %r must have a text value (got %r)' % (key, value))
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        result[str(key)] = str(value)
    if profile is not None:
        if result.get(PROFILE_KEY, profile) != profile:
            raise PlanError('profile %r and metadata %s=%r disagree; give one of them'
                            % (profile, PROFILE_KEY, result[PROFILE_KEY]))
        result[PROFILE_KEY] = profile
    if name is not None:
        if result.get(NAME_KEY, name) != name:
            raise PlanError('name %r and metadata name=%r disagree; the name is stored as metadata "name"'
                            % (name, result[NAME_KEY]))
        result[NAME_KEY] = name
    check_metadata(result)
    return result


def check_metadata(metadata):
    if len(metadata) > MAX_METADATA_KEYS:
        raise PlanError('metadata has %d keys (name and profile included); the control service allows at most %d'
                        % (len(metadata), MAX_METADATA_KEYS))
    for key, value in metadata.items():
        if not 1 <= len(key) <= MAX_METADATA_LENGTH:
            raise PlanError('metadata key %r must be 1 to %d characters long' % (key[:40], MAX_METADATA_LENGTH))
        if len(value) > MAX_METADATA_LENGTH:
            raise PlanError('metadata %r has a value of %d characters; at most %d are allowed'
                            % (key, len(value), MAX_METADATA_LENGTH))


# -------------------------------------------------------------- the request

def check_request(params):
    """Every option checked before anything is read or changed; returns the
    desired dataset (dataset_id, name, maximum_size, metadata)."""
    name, dataset_id = params.get('name'), params.get('dataset_id')
    if name is None and dataset_id is None:
        raise PlanError('name or dataset_id is required')
    if name is not None and not str(name).strip():
        raise PlanError('name must not be empty')
    if name is not None and len(name) > MAX_METADATA_LENGTH:
        raise PlanError('name must be at most %d characters (it is stored as metadata)' % MAX_METADATA_LENGTH)
    desired = dict(
        name=name,
        dataset_id=normalize_uuid(dataset_id, 'dataset_id') if dataset_id is not None else None,
        maximum_size=parse_size(params['maximum_size']) if params.get('maximum_size') is not None else None,
        metadata=desired_metadata(name, params.get('metadata'), params.get('profile')),
    )
    if params.get('state', 'present') == 'present' and params.get('primary') is None:
        raise PlanError('state=present needs primary: the node (UUID, address or hostname) the dataset lives on')
    if params.get('wait_timeout') is not None and params['wait_timeout'] <= 0:
        raise PlanError('wait_timeout must be more than 0 seconds (got %s)' % params['wait_timeout'])
    expires = params.get('lease_expires')
    if expires is not None and expires <= 0:
        raise PlanError('lease_expires must be more than 0 seconds, or null for a lease that never expires')
    if params.get('lease') and params.get('state') == 'absent' and params['lease'] == 'held':
        raise PlanError('lease=held and state=absent contradict each other: a deleted dataset cannot be leased')
    if params.get('recreate') and dataset_id is not None:
        raise PlanError('recreate needs the dataset to be named by name: a deleted dataset_id cannot be used again')
    return desired


def live(datasets):
    return [d for d in datasets if not d.get('deleted')]


def find_dataset(datasets, name=None, dataset_id=None):
    """The dataset (configuration) named by id or by metadata name. Deleted
    datasets are only found by id. A name several datasets carry is refused."""
    if dataset_id is not None:
        found = [d for d in datasets if d.get('dataset_id', '').lower() == dataset_id]
        dataset = found[0] if found else None
        if dataset is not None and name is not None and (dataset.get('metadata') or {}).get(NAME_KEY) != name:
            raise PlanError('dataset %s is named %r, not %r' % (
                dataset_id, (dataset.get('metadata') or {}).get(NAME_KEY), name))
        return dataset
    found = [d for d in live(datasets) if (d.get('metadata') or {}).get(NAME_KEY) == name]
    if len(found) > 1:
        raise PlanError('%d datasets are named %r (%s); name the one you mean by dataset_id'
                        % (len(found), name, ', '.join(d['dataset_id'] for d in found)))
    return found[0] if found else None


def dataset_differences(dataset, desired):
    """What the API cannot change in place: size and metadata (each compared
    only when asked for)."""
    differences = []
    if desired['maximum_size'] is not None and dataset.get('maximum_size') != desired['maximum_size']:
        differences.append(dict(setting='maximum_size', before=dataset.get('maximum_size'),
                                after=desired['maximum_size']))
    if desired['metadata'] is not None and (dataset.get('metadata') or {}) != desired['metadata']:
        differences.append(dict(setting='metadata', before=dataset.get('metadata') or {},
                                after=desired['metadata']))
    return differences


def new_dataset_body(desired, primary):
    body = dict(primary=primary)
    if desired['dataset_id'] is not None:
        body['dataset_id'] = desired['dataset_id']
    if desired['maximum_size'] is not None:
        body['maximum_size'] = desired['maximum_size']
    metadata = desired['metadata']
    if metadata is None and desired['name'] is not None:
        metadata = {NAME_KEY: desired['name']}
    if metadata:
        body['metadata'] = metadata
    return body


def lease_of(leases, dataset_id):
    for lease in leases:
        if lease.get('dataset_id') == dataset_id:
            return lease
    return None


def plan_dataset(desired, datasets, leases, nodes, state='present', primary=None, recreate=False,
                 lease=None, lease_node=None, lease_expires=None):
    """The actions that bring the configuration to what was asked, in order:
    ``(action, argument)`` with action one of ``release`` (dataset id),
    ``delete`` (dataset id), ``create`` (request body), ``move`` ((dataset id,
    node uuid)), ``lease`` (request body). Everything that cannot be done is
    refused here, before the first action."""
    dataset = find_dataset(datasets, desired['name'], desired['dataset_id'])
    current_lease = lease_of(leases, dataset['dataset_id']) if dataset else None
    label = repr(desired['name']) if desired['name'] is not None else desired['dataset_id']
    actions = []

    def lease_holder():
        return node_name(nodes, current_lease['node_uuid'])

    if state == 'absent':
        if dataset is None or dataset.get('deleted'):
            return actions
        if current_lease is not None:
            if lease != 'released':
                raise PlanError('dataset %s is leased to node %s; add lease=released to release it and delete the '
                                'dataset (nothing was changed)' % (label, lease_holder()))
            actions.append(('release', dataset['dataset_id']))
        actions.append(('delete', dataset['dataset_id']))
        return actions

    if dataset is not None and dataset.get('deleted'):
        raise PlanError('dataset %s was deleted; a dataset id cannot be used again: give another dataset_id or name '
                        'the dataset by name' % dataset['dataset_id'])
    if lease == 'held' and lease_node is None:
        lease_node = primary
    if dataset is None:
        actions.append(('create', new_dataset_body(desired, primary)))
        dataset_id = desired['dataset_id']
    else:
        dataset_id = dataset['dataset_id']
        differences = dataset_differences(dataset, desired)
        if differences and not recreate:
            raise PlanError('dataset %s exists with %s; the Flocker API cannot resize a dataset or edit its '
                            'metadata. Use recreate=true to delete it and create a new, empty one (its data is '
                            'lost), or ask for what it has. Nothing was changed' % (label, '; '.join(
                                '%s %s (asked: %s)' % (d['setting'], describe(d['setting'], d['before']),
                                                       describe(d['setting'], d['after'])) for d in differences)))
        if differences:
            if current_lease is not None:
                if lease != 'released':
                    raise PlanError('dataset %s is leased to node %s; it cannot be recreated before the lease is '
                                    'released (lease=released). Nothing was changed' % (label, lease_holder()))
                actions.append(('release', dataset_id))
                current_lease = None
            actions.append(('delete', dataset_id))
            actions.append(('create', new_dataset_body(desired, primary)))
            dataset_id = None
        elif dataset.get('primary') != primary:
            if current_lease is not None and current_lease['node_uuid'] != primary and lease != 'released':
                raise PlanError('dataset %s is leased to node %s: it cannot move to %s while the lease is held; '
                                'release it (lease=released) or move it later. Nothing was changed'
                                % (label, lease_holder(), node_name(nodes, primary)))
            if current_lease is not None and lease == 'released':
                actions.append(('release', dataset_id))
                current_lease = None
            actions.append(('move', (dataset_id, primary)))
    if lease == 'held':
        if current_lease is not None and current_lease['node_uuid'] != lease_node:
            raise PlanError('dataset %s is leased to node %s, not %s; release that lease first. Nothing was '
                            'changed' % (label, lease_holder(), node_name(nodes, lease_node)))
        if current_lease is None or current_lease.get('expires') is not None or lease_expires is not None:
            actions.append(('lease', dict(dataset_id=dataset_id, node_uuid=lease_node, expires=lease_expires)))
    elif lease == 'released' and current_lease is not None and ('release', dataset_id) not in actions:
        actions.append(('release', dataset_id))
    return actions


def describe(setting, value):
    if setting == 'maximum_size':
        return 'unset' if value is None else '%s (%d bytes)' % (format_size(value), value)
    return repr(value)


# ----------------------------------------------------------------- waiting

def dataset_state(states, dataset_id):
    for state in states:
        if state.get('dataset_id') == dataset_id:
            return state
    return None


def attached(states, dataset_id, primary):
    """Whether the cluster state shows the dataset on ``primary`` (mounted
    there: the state names its primary and a path)."""
    state = dataset_state(states, dataset_id)
    return bool(state and state.get('primary') == primary and state.get('path'))


# ------------------------------------------------------------- API errors

def api_error(status, body, request):
    """A clear message for an error answer of the control service to
    ``request`` (e.g. ``POST /v1/configuration/datasets``)."""
    description = body.get('description') if isinstance(body, dict) else None
    errors = body.get('errors') if isinstance(body, dict) else None
    said = ' (control service: %s)' % description if description else ''
    if status == 400 and errors:
        return ('the control service refused %s: the request does not match its schema: %s%s'
                % (request, '; '.join(str(e) for e in errors), ''))
    if status == 400:
        return 'the control service refused %s as a bad request%s' % (request, said)
    if status == 404:
        return 'the control service has no such dataset or lease for %s%s' % (request, said)
    if status == 405:
        return 'the dataset was deleted, so %s cannot move it%s' % (request, said)
    if status == 409 and 'leases' in request:
        return 'the dataset is leased to another node (%s answered 409)%s' % (request, said)
    if status == 409:
        return 'the dataset id is already in use (%s answered 409)%s' % (request, said)
    if status == 412:
        return ('the configuration changed while this task ran (%s answered 412: it no longer matches the '
                'configuration tag read before); nothing else was changed: run the task again%s' % (request, said))
    if status >= 500:
        return 'the control service failed on %s (HTTP %d)%s' % (request, status, said)
    return 'the control service answered %s with HTTP %d%s' % (request, status, said)


# --------------------------------------------------------------- summaries

def dataset_view(dataset, states=(), nodes=()):
    """What the modules return for a dataset: its configuration and, when the
    cluster state lists it, where it is."""
    if dataset is None:
        return {}
    view = dict(dataset_id=dataset['dataset_id'], name=(dataset.get('metadata') or {}).get(NAME_KEY),
                primary=dataset.get('primary'), maximum_size=dataset.get('maximum_size'),
                metadata=dataset.get('metadata') or {}, deleted=bool(dataset.get('deleted')))
    hosts = dict((n.get('uuid'), n.get('host')) for n in nodes)
    view['primary_host'] = hosts.get(view['primary'])
    state = dataset_state(states, dataset['dataset_id'])
    view['state'] = dict(primary=state.get('primary'), path=state.get('path')) if state else None
    return view
