# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning core of the swarm modules (private: may change).

Nothing here talks to an engine: functions take what the Engine API returned
(as plain dictionaries) and what the user asked for, and return either facts
or a list of actions. The modules execute the actions; unit tests hit this
file hardest.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
from urllib.parse import urlparse

NS = 1000000000

# option name -> (path in the cluster spec, factor from option unit to API unit)
SPEC_OPTIONS = {
    'snapshot_interval': (('Raft', 'SnapshotInterval'), None),
    'keep_old_snapshots': (('Raft', 'KeepOldSnapshots'), None),
    'log_entries_for_slow_followers': (('Raft', 'LogEntriesForSlowFollowers'), None),
    'heartbeat_tick': (('Raft', 'HeartbeatTick'), None),
    'election_tick': (('Raft', 'ElectionTick'), None),
    'dispatcher_heartbeat_period': (('Dispatcher', 'HeartbeatPeriod'), NS),
    'task_history_retention_limit': (('Orchestration', 'TaskHistoryRetentionLimit'), None),
    'node_cert_expiry': (('CAConfig', 'NodeCertExpiry'), NS),
    'autolock_managers': (('EncryptionConfig', 'AutoLockManagers'), None),
    'labels': (('Labels',), None),
}

# argument spec of the cluster settings, shared by docker_swarm and docker_swarm_cluster
CLUSTER_SETTINGS_SPEC = dict(
    snapshot_interval=dict(type='int'),
    keep_old_snapshots=dict(type='int'),
    log_entries_for_slow_followers=dict(type='int'),
    heartbeat_tick=dict(type='int'),
    election_tick=dict(type='int'),
    dispatcher_heartbeat_period=dict(type='int'),
    task_history_retention_limit=dict(type='int'),
    node_cert_expiry=dict(type='int'),
    external_cas=dict(type='list', elements='dict', options=dict(
        url=dict(type='str', required=True),
        protocol=dict(type='str', default='cfssl', choices=['cfssl']),
        options=dict(type='dict'),
        ca_cert=dict(type='str'),
    )),
    autolock_managers=dict(type='bool'),
    labels=dict(type='dict'),
)

MANAGER_ROLE = 'manager'
WORKER_ROLE = 'worker'
RUNNING_TASK_STATES = ('new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready',
                       'starting', 'running')


class PlanError(Exception):
    """The request cannot be carried out; the message says what to fix."""


# ---------------------------------------------------------------- cluster spec

def _get(tree, path, default=None):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return default
        tree = tree[key]
    return tree


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def external_cas_spec(external_cas):
    return [dict(Protocol=ca.get('protocol') or 'cfssl', URL=ca['url'],
                 Options=ca.get('options') or {}, CACert=ca.get('ca_cert') or '')
            for ca in external_cas]


def desired_spec(params):
    """The cluster spec settings the user asked for: {path tuple: API value}.

    Options left unset (None) are not managed."""
    wanted = {}
    for option, (path, factor) in SPEC_OPTIONS.items():
        value = params.get(option)
        if value is None:
            continue
        if option == 'labels':
            value = cluster_labels(value)
        wanted[path] = value * factor if factor else value
    if params.get('external_cas') is not None:
        wanted[('CAConfig', 'ExternalCAs')] = external_cas_spec(params['external_cas'])
    return wanted


def _normal(path, value):
    """Compare-friendly form of a spec value: the engine omits empty lists,
    maps and false/zero values."""
    if path == ('CAConfig', 'ExternalCAs'):
        return sorted((ca.get('Protocol', 'cfssl'), ca.get('URL'), sorted((ca.get('Options') or {}).items()),
                       (ca.get('CACert') or '').strip()) for ca in (value or []))
    if path == ('Labels',):
        return dict(value or {})
    return value if value else type(value)() if value is not None else None


def spec_changes(actual_spec, wanted):
    """List of {'setting', 'before', 'after'} where the cluster spec differs."""
    changes = []
    for path, value in sorted(wanted.items()):
        before = _get(actual_spec, path)
        if _normal(path, before) != _normal(path, value) and not (before is None and not value):
            changes.append(dict(setting='.'.join(path), before=before, after=value))
    return changes


def merged_spec(actual_spec, wanted):
    spec = copy.deepcopy(actual_spec or {})
    for path, value in wanted.items():
        _set(spec, path, value)
    return spec


# smallest value that makes sense for docker_swarm's numeric options
SETTING_MINIMUM = {
    'snapshot_interval': 0, 'keep_old_snapshots': 0, 'log_entries_for_slow_followers': 0,
    'heartbeat_tick': 1, 'election_tick': 1, 'dispatcher_heartbeat_period': 0,
    'task_history_retention_limit': 0, 'node_cert_expiry': 0, 'data_path_port': 0, 'subnet_size': 1,
    'wait_timeout': 0,
}
# what a swarm uses when its spec leaves the Raft ticks out (swarm init's defaults)
RAFT_TICK_DEFAULTS = {'HeartbeatTick': 1, 'ElectionTick': 10}


def cluster_labels(labels):
    """Cluster labels as the Engine API takes them: strings. Numbers and
    booleans become the text the docker CLI would send for ``key=value``
    (``1`` -> ``'1'``, ``true`` -> ``'true'``); PlanError for a label
    without a key or without a value, or with a list or a mapping as value."""
    result, problems = {}, []
    for key, value in (labels or {}).items():
        key = '' if key is None else str(key)
        if not key.strip():
            problems.append('a label has an empty key')
        elif value is None:
            problems.append("label %r has no value (None); give it one ('' for an empty value)" % key)
        elif isinstance(value, bool):
            result[key] = 'true' if value else 'false'
        elif isinstance(value, (str, int, float)):
            result[key] = str(value)
        else:
            problems.append('label %r has a %s as value; label values are text'
                            % (key, 'list' if isinstance(value, (list, tuple)) else 'mapping'))
    if problems:
        raise PlanError('labels: ' + '; '.join(problems))
    return result


def check_settings(params):
    """Checks of docker_swarm's options that need nothing but the options;
    run before anything is read or changed. PlanError names every problem."""
    problems = []
    for option, minimum in sorted(SETTING_MINIMUM.items()):
        value = params.get(option)
        if value is not None and value < minimum:
            wanted = 'at least %d' % minimum if minimum else '0 or more'
            problems.append('%s must be %s, not %d' % (option, wanted, value))
    heartbeat, election = params.get('heartbeat_tick'), params.get('election_tick')
    if heartbeat is not None and election is not None and heartbeat >= 1 and election <= heartbeat:
        problems.append('election_tick (%d) must be greater than heartbeat_tick (%d)' % (election, heartbeat))
    for ca in params.get('external_cas') or []:
        url = ca.get('url') or ''
        parsed = urlparse(url)
        if parsed.scheme not in ('http', 'https') or not parsed.netloc or not parsed.hostname:
            problems.append('external_cas: %r is not an http(s) URL (like https://ca.example.com:8888/api/v1/cfssl/sign)'
                            % url)
    for option in ('labels', 'node_labels'):
        if params.get(option) is not None:
            try:
                cluster_labels(params[option])
            except PlanError as err:
                problems.append(str(err).replace('labels:', option + ':', 1))
    if params.get('node_labels') is not None and params.get('state') == 'absent':
        problems.append('node_labels: a node that leaves its swarm has no labels there; give them with '
                        'state=present or state=join')
    if problems:
        raise PlanError('; '.join(problems))


def check_spec(params, actual_spec):
    """Checks that need the cluster's current settings (``actual_spec``: the
    cluster spec from GET /swarm, or None for a swarm about to be made);
    PlanError when the resulting settings would make no sense."""
    raft = _get(actual_spec, ('Raft',)) or {}
    heartbeat, election = params.get('heartbeat_tick'), params.get('election_tick')
    if heartbeat is not None or election is not None:
        now_heartbeat = raft.get('HeartbeatTick') or RAFT_TICK_DEFAULTS['HeartbeatTick']
        now_election = raft.get('ElectionTick') or RAFT_TICK_DEFAULTS['ElectionTick']
        new_heartbeat = now_heartbeat if heartbeat is None else heartbeat
        new_election = now_election if election is None else election
        if new_election <= new_heartbeat:
            raise PlanError('election_tick must be greater than heartbeat_tick: this would make them %d and %d '
                            '(the %s has %d and %d); set both'
                            % (new_election, new_heartbeat, 'swarm' if actual_spec else 'default',
                               now_election, now_heartbeat))
    if params.get('rotate_unlock_key'):
        autolock = params.get('autolock_managers')
        if autolock is None:
            autolock = bool(_get(actual_spec, ('EncryptionConfig', 'AutoLockManagers')))
        if not autolock:
            raise PlanError('rotate_unlock_key: this swarm is not autolocked, so it has no unlock key to rotate; '
                            'set autolock_managers=true (in the same task is fine) or leave rotate_unlock_key out')


def pem_digest(pem):
    """Digest of the cluster's root CA as it appears in join tokens
    (SWMTKN-1-<digest>-<secret>): base 36 of the SHA-256 of the PEM bytes
    exactly as the swarm stores them (the API's TLSInfo.TrustRoot), zero
    padded to 50 digits."""
    number = int(hashlib.sha256(pem.encode('utf-8')).hexdigest(), 16)
    digits = ''
    while number:
        number, rest = divmod(number, 36)
        digits = '0123456789abcdefghijklmnopqrstuvwxyz'[rest] + digits
    return digits.rjust(50, '0')


def token_digest(token):
    parts = (token or '').split('-')
    if parts[:2] == ['SWMTKN', '2'] and len(parts) == 5:  # FIPS cluster: SWMTKN-2-1-<digest>-<secret>
        parts = parts[:1] + parts[2:]
    if len(parts) != 4 or parts[0] != 'SWMTKN' or parts[1] != '1':
        raise PlanError('join_token is not a swarm join token (expected SWMTKN-1-<digest>-<secret>)')
    return parts[2]


def same_pem(a, b):
    return ''.join((a or '').split()) == ''.join((b or '').split())


def root_ca_change(cert, trust_root):
    """The settings change a wanted signing CA certificate makes on a swarm
    whose root CA is ``trust_root``: None when none is wanted or it is that
    CA already (the key is not compared: the engine never returns it)."""
    if not cert or same_pem(cert, trust_root):
        return None
    return dict(setting='CAConfig.SigningCACert', before='(current root CA)', after='(new root CA)')


# ---------------------------------------------------------------- nodes and quorum

def node_summary(node):
    spec = node.get('Spec') or {}
    desc = node.get('Description') or {}
    status = node.get('Status') or {}
    manager = node.get('ManagerStatus')
    return dict(
        id=node.get('ID'),
        hostname=desc.get('Hostname'),
        role=spec.get('Role'),
        availability=spec.get('Availability'),
        status=status.get('State'),
        address=status.get('Addr'),
        engine_version=(desc.get('Engine') or {}).get('EngineVersion'),
        labels=spec.get('Labels') or {},
        manager_reachability=manager.get('Reachability') if manager else None,
        manager_address=manager.get('Addr') if manager else None,
        leader=bool(manager and manager.get('Leader')),
    )


def is_manager(node):
    return bool(node.get('ManagerStatus')) or (node.get('Spec') or {}).get('Role') == MANAGER_ROLE


def manager_failures(count):
    """Manager failures a swarm of ``count`` managers survives: (count - 1) // 2."""
    return (count - 1) // 2 if count > 0 else 0


def even_count_words(count):
    """Why ``count`` managers (an even number) buy nothing over one fewer."""
    tolerated = manager_failures(count)
    return ('an even count that tolerates %s, no more than %d manager%s would'
            % ('no manager failure' if not tolerated else
               '1 manager failure' if tolerated == 1 else '%d manager failures' % tolerated,
               count - 1, '' if count - 1 == 1 else 's'))


def quorum_facts(nodes):
    """Manager count, reachable managers, quorum and fault tolerance."""
    managers = [n for n in nodes if is_manager(n)]
    reachable = [n for n in managers if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable']
    count = len(managers)
    quorum = count // 2 + 1 if count else 0
    warnings = []
    if count == 1:
        warnings.append('a single manager: losing it loses the cluster; run 3 or 5 managers')
    elif count and count % 2 == 0:
        warnings.append('%d managers: %s; use an odd count' % (count, even_count_words(count)))
    if count and len(reachable) < quorum:
        warnings.append('only %d of %d managers are reachable; quorum needs %d' % (len(reachable), count, quorum))
    return dict(managers=count, reachable_managers=len(reachable), quorum=quorum,
                fault_tolerance=max(len(reachable) - quorum, 0) if count else 0, cluster_warnings=warnings)


def quorum_lost_facts(info):
    """Facts of a manager whose swarm has no leader, from its own /info: the
    managers it knows of (Swarm.Managers when the engine still counts them,
    else its RemoteManagers, itself included), the quorum they need, and
    the one manager known to answer: this one."""
    swarm = info.get('Swarm') or {}
    known = [m for m in swarm.get('RemoteManagers') or [] if m.get('NodeID') or m.get('Addr')]
    count = max(swarm.get('Managers') or 0, len(known), 1)
    quorum = count // 2 + 1
    warning = ('quorum lost: the swarm has no leader; %d managers, a majority unreachable (quorum needs %d, '
               'only this one is known to answer). Bring the stopped managers back, or recover with '
               'force-new-cluster on the manager with the most recent state' % (count, quorum))
    return dict(quorum_lost=True, managers=count, reachable_managers=1, quorum=quorum, fault_tolerance=0,
                leader='', cluster_warnings=[warning])


def quorum_guard(nodes, leaving_ids, allow_even=False):
    """Refuse (PlanError) to demote or remove the managers in ``leaving_ids``
    when the cluster would lose quorum or its last manager, when more managers
    would go at once than the cluster can lose, or when an odd manager count
    would become even (unless ``allow_even``). Counts reachable managers."""
    facts = quorum_facts(nodes)
    managers = [n for n in nodes if is_manager(n)]
    leaving = [n for n in managers if n['ID'] in set(leaving_ids)]
    if not leaving:
        return
    names = ', '.join(sorted(node_summary(n)['hostname'] or n['ID'] for n in leaving))
    count, reachable = facts['managers'], facts['reachable_managers']
    after = count - len(leaving)
    reachable_after = reachable - len([n for n in leaving
                                       if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable'])
    if after < 1:
        raise PlanError('refusing to remove or demote %s: it would leave the swarm without a manager '
                        '(%d manager(s) now). Promote another node first; or, to dissolve the swarm on purpose, '
                        'make the last manager leave with force (nativeswarm.cluster.docker_swarm state=absent '
                        'force=true)' % (names, count))
    needed = after // 2 + 1
    if reachable_after < needed:
        raise PlanError('refusing to remove or demote %s: %d of %d managers are reachable now; afterwards '
                        '%d of %d would be, and quorum of %d managers needs %d'
                        % (names, reachable, count, reachable_after, after, after, needed))
    if len(leaving) > 1 and len(leaving) > facts['fault_tolerance']:
        raise PlanError('refusing to remove or demote %d managers (%s) at once: with %d of %d managers '
                        'reachable the cluster can lose only %d at a time; change them one by one'
                        % (len(leaving), names, reachable, count, facts['fault_tolerance']))
    if after % 2 == 0 and not allow_even:
        raise PlanError('refusing to remove or demote %s: it would leave %d managers, %s; promote a node first '
                        'or set allow_even_managers' % (names, after, even_count_words(after)))


MIN_ID_PREFIX = 6


def find_nodes(nodes, name):
    """Every node ``name`` designates, by the first rule that matches any
    node: its ID; its hostname (in any case); a fully qualified name whose
    first label is the hostname (worker1.example.com for worker1), or the
    first label of a fully qualified hostname (worker1 for
    worker1.example.com); a prefix of the ID of 6 characters or more (the
    CLI shows 12). Down nodes are found like live ones: a hostname shared by
    a live node and the down entry it left behind when it left the swarm
    and joined again matches both."""
    wanted = (name or '').strip().lower()
    if not wanted:
        return []
    found = [n for n in nodes if (n.get('ID') or '').lower() == wanted]
    if found:
        return found
    hosts = [(n, ((n.get('Description') or {}).get('Hostname') or '').lower()) for n in nodes]
    found = [n for n, host in hosts if host and host == wanted]
    if not found and '.' in wanted:
        found = [n for n, host in hosts if host and '.' not in host and host == wanted.split('.')[0]]
    elif not found:
        found = [n for n, host in hosts if '.' in host and host.split('.')[0] == wanted]
    if not found and len(wanted) >= MIN_ID_PREFIX:
        found = [n for n in nodes if (n.get('ID') or '').lower().startswith(wanted)]
    return found


def find_node(nodes, name):
    """The node ``name`` designates (see find_nodes), None when none does.

    Several matches are always refused (PlanError listing each candidate's
    ID, hostname, status and role), never settled by a preference: a live
    node and the down entry left by its earlier membership share a hostname,
    and acting on the wrong one (draining or removing the live node instead
    of the stale entry, or the reverse) cannot be undone. The caller names
    one by its ID."""
    found = find_nodes(nodes, name)
    if len(found) > 1:
        summaries = [node_summary(n) for n in found]
        candidates = ['%s (hostname %s, %s, %s)' % (s['id'], s['hostname'] or '?', s['status'] or 'unknown status',
                                                    s['role'] or 'unknown role') for s in summaries]
        states = set(node_summary(n)['status'] == 'down' for n in found)
        raise PlanError('%r names %d nodes: %s. Name one by its ID.%s'
                        % (name, len(found), '; '.join(candidates),
                           ' A down entry with the hostname of a live node is usually left behind by a node that '
                           'left the swarm and joined again; once it is certain that entry is stale, remove it by '
                           'its ID.' if states == {True, False} else ''))
    return found[0] if found else None


def check_node_request(params):
    """docker_swarm_node's options checked before anything is read or
    changed; returns the labels as the Engine API takes them (see
    cluster_labels: numbers and booleans become text as with the CLI).
    PlanError names every problem."""
    problems = []
    names = params.get('name') or []
    if not names:
        problems.append('name: give at least one node (ID, ID prefix or hostname)')
    elif any(not str(n or '').strip() for n in names):
        problems.append('name: an entry is empty')
    timeout = params.get('wait_timeout')
    if timeout is not None and timeout <= 0:
        problems.append('wait_timeout must be a number of seconds greater than 0, not %d' % timeout)
    labels = None
    if params.get('labels') is not None:
        try:
            labels = cluster_labels(params['labels'])
        except PlanError as err:
            problems.append(str(err))
    if any(not str(key or '').strip() for key in params.get('labels_to_remove') or []):
        problems.append('labels_to_remove: a label key is empty')
    if params.get('node_connection') and len(names) > 1:
        problems.append('node_connection reaches the engine of one node: name exactly one node with it, not %d'
                        % len(names))
    if problems:
        raise PlanError('; '.join(problems))
    return labels


def certificate_subject(pem):
    """{'CN', 'OU', 'O'} of the first certificate in ``pem`` (text); {} when
    it cannot be read. A swarm node certificate names the node ID (CN), its
    role (OU: swarm-manager or swarm-worker) and the cluster ID (O)."""
    match = re.search(r'-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----', pem or '', re.S)
    if not match:
        return {}
    names = {b'\x55\x04\x03': 'CN', b'\x55\x04\x0b': 'OU', b'\x55\x04\x0a': 'O'}
    try:
        der = base64.b64decode(''.join(match.group(1).split()), validate=True)
        certificate = next(_der(der, 0, len(der)))
        fields = list(_der(der, *next(_der(der, *certificate[1:]))[1:]))
        if fields[0][0] == 0xa0:  # explicit version
            fields = fields[1:]
        subject = {}
        for _tag, start, end in _der(der, *fields[4][1:]):  # serial, algorithm, issuer, validity, subject
            for _tag, astart, aend in _der(der, start, end):
                oid, value = list(_der(der, astart, aend))[:2]
                if der[oid[1]:oid[2]] in names:
                    subject[names[der[oid[1]:oid[2]]]] = der[value[1]:value[2]].decode('utf-8', 'replace')
        return subject
    except (ValueError, IndexError, StopIteration, binascii.Error):
        return {}


def _der(data, start, end):
    """(tag, content start, content end) of each DER element in data[start:end]."""
    pos = start
    while pos < end:
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7f
            length = int.from_bytes(data[pos:pos + size], 'big')
            pos += size
        if pos + length > end:
            raise ValueError('truncated DER')
        yield tag, pos, pos + length
        pos += length


def certificate_role(pem, node_id):
    """The role ('manager' or 'worker') a swarm node certificate gives, when
    ``pem`` is the certificate of ``node_id``; None otherwise."""
    subject = certificate_subject(pem)
    if not node_id or subject.get('CN') != node_id:
        return None
    return {'swarm-manager': MANAGER_ROLE, 'swarm-worker': WORKER_ROLE}.get(subject.get('OU'))


def labels_after(current, labels, labels_state, labels_to_remove):
    result = dict(current or {}) if labels_state == 'merge' else {}
    if labels_state == 'replace':
        result = dict(labels or {})
    else:
        result.update(labels or {})
    for key in labels_to_remove or []:
        result.pop(key, None)
    return result


def plan_node(node, role=None, availability=None, labels=None, labels_state='merge', labels_to_remove=None):
    """Spec changes for one node: (new spec, list of {'setting','before','after'})."""
    spec = copy.deepcopy(node.get('Spec') or {})
    changes = []
    for key, want in (('Role', role), ('Availability', availability)):
        if want is not None and spec.get(key) != want:
            changes.append(dict(setting=key.lower(), before=spec.get(key), after=want))
            spec[key] = want
    if labels is not None or labels_to_remove or labels_state == 'replace':
        if labels is None and labels_state == 'replace':
            labels = {}
        new = labels_after(spec.get('Labels'), labels, labels_state, labels_to_remove)
        if new != (spec.get('Labels') or {}):
            changes.append(dict(setting='labels', before=spec.get('Labels') or {}, after=new))
            spec['Labels'] = new
    return spec, changes


def running_tasks(tasks, node_id):
    """Swarm tasks on a node whose containers have not finished, including
    those told to shut down (a drain) that are still running."""
    return [t for t in tasks if t.get('NodeID') == node_id
            and (t.get('Status') or {}).get('State') in RUNNING_TASK_STATES]


def plan_node_removal(node, nodes, force=False, allow_even=False):
    """Actions for the safe removal of one node."""
    status = (node.get('Status') or {}).get('State')
    actions = []
    if status != 'down' and (node.get('Spec') or {}).get('Availability') != 'drain':
        actions.append('drain')
    if status != 'down':
        actions.append('wait_drained')
    if is_manager(node):
        quorum_guard(nodes, [node['ID']], allow_even=allow_even)
        actions.append('demote')
    if status != 'down' and not force:
        actions.append('wait_down')
    actions.append('remove')
    return actions


# ---------------------------------------------------------------- this node's membership

def local_state(info):
    swarm = info.get('Swarm') or {}
    return dict(state=swarm.get('LocalNodeState') or 'inactive', node_id=swarm.get('NodeID') or None,
                manager=bool(swarm.get('ControlAvailable')), error=swarm.get('Error') or None,
                cluster_id=(swarm.get('Cluster') or {}).get('ID'),
                remote_managers=[m.get('Addr') for m in swarm.get('RemoteManagers') or []])


def normal_addr(addr, port=2377):
    addr = addr.strip()
    if addr.startswith('['):
        return addr if ']:' in addr else '%s:%d' % (addr, port)
    if addr.count(':') > 1:  # a bare IPv6 address
        return '[%s]:%d' % (addr, port)
    return addr if ':' in addr else '%s:%d' % (addr, port)


def membership(local, remote_addrs, manager_node_ids=None, trust_root=None, token=None, own_cluster=None,
               target_clusters=None):
    """'same' when this active node belongs to the cluster named by the join
    request, else 'other'. The best evidence available wins: the manager's
    node list, then the CA digest in the token, then the cluster IDs (this
    node's, ``own_cluster``, against those the managers at the requested
    addresses name in their certificates, ``target_clusters``), then the
    manager addresses."""
    if manager_node_ids is not None:
        return 'same' if local['node_id'] in manager_node_ids else 'other'
    if trust_root and token:
        return 'same' if pem_digest(trust_root) == token_digest(token) else 'other'
    if own_cluster and target_clusters:
        return 'same' if own_cluster in target_clusters else 'other'
    wanted = set(normal_addr(a) for a in remote_addrs or [])
    known = set(normal_addr(a) for a in local['remote_managers'] if a)
    return 'same' if wanted & known else 'other'


def plan_membership(state, local, role=None, same_cluster=None, force=False, unlock_key=None,
                    nodes=None, allow_even=False, via_manager=True):
    """First-level actions for docker_swarm: a list of action names.

    ``local`` comes from :func:`local_state`; ``nodes`` is the cluster's node
    list seen from a manager (needed for guarded manager changes);
    ``via_manager`` tells whether a connection to a manager of the swarm to
    join was given (needed to promote this node, and to check a join
    token's role before this node leaves another swarm for it).

    A join is checked further by :func:`join_request` and
    :func:`join_targets` before any of these actions is carried out."""
    current = local['state']
    if current == 'locked':
        if unlock_key:
            return ['unlock']
        if state == 'absent' and force:
            return ['leave_force']
        raise PlanError('the swarm on this node is locked (autolock after an engine restart): '
                        'give unlock_key to unlock it')
    if current in ('pending', 'error'):
        if state == 'absent':
            return ['leave_force']
        if force:
            return ['leave_force', 'join' if state == 'join' else 'init']
        goal = 'join' if state == 'join' else 'initialize a swarm'
        if current == 'pending':
            raise PlanError("this node is in swarm state 'pending': an earlier join has not completed and its engine "
                            'keeps trying to reach %s in the background. Run again with force=true to give that '
                            'attempt up and %s, or with state=absent to only give it up'
                            % (', '.join(a for a in local['remote_managers'] if a) or 'the managers', goal))
        raise PlanError("this node is in swarm state 'error' (%s). Run again with force=true to leave that "
                        'broken membership and %s, or with state=absent to only leave it'
                        % (local.get('error') or 'its engine gives no detail', goal))
    if state == 'absent':
        if current == 'inactive':
            return []
        if not local['manager']:
            return ['leave']
        if force:
            return ['leave_force']
        quorum_guard(nodes or [], [local['node_id']], allow_even=allow_even)
        return ['demote', 'leave']
    if state == 'present':
        if current == 'inactive':
            return ['init']
        if not local['manager']:
            raise PlanError('this node is a worker: cluster settings are changed on a manager '
                            '(or use state=join role=manager to make this node one)')
        return ['update']
    # state == 'join'
    if current == 'inactive':
        return ['join']
    if same_cluster == 'other':
        if not force:
            raise PlanError('this node is already a member of another swarm (managers %s); '
                            'use force to leave it and join this one'
                            % (', '.join(local['remote_managers']) or 'unknown'))
        if not via_manager:
            raise PlanError('this node is an active member of another swarm (managers %s). Leaving it to join '
                            'this one needs manager (a connection to a manager of the swarm to join), so that '
                            'the join is known to work before this node leaves: without one the role of '
                            'join_token cannot be checked. Set manager, or make this node leave first '
                            '(state=absent, force=true) and join afterwards; nothing was changed'
                            % (', '.join(local['remote_managers']) or 'unknown'))
        return ['leave_force', 'join']
    current_role = MANAGER_ROLE if local['manager'] else WORKER_ROLE
    if role == current_role:
        return []
    if role == WORKER_ROLE:
        quorum_guard(nodes or [], [local['node_id']], allow_even=allow_even)
        return ['demote']
    if not via_manager:
        raise PlanError('this node is a worker of the swarm; promoting it needs manager (a connection to a '
                        'manager of the swarm)')
    return ['promote']


def plan_force_new_cluster(local, leaderless):
    """Whether docker_swarm's force_new_cluster re-forms the control plane
    from this node's own Raft state: ``['force_new_cluster']`` when this
    node is a manager (its engine answers with ControlAvailable, swarm
    state active or pending) whose swarm has no leader (``leaderless``);
    ``[]`` when it has a leader (nothing to recover); PlanError otherwise."""
    if local['state'] not in ('active', 'pending') or not local['manager']:
        raise PlanError('force_new_cluster: this node is %s, not a manager holding the swarm\'s Raft state; run it '
                        'on the manager to recover from (after a restore, on the host the archive was put on); '
                        'nothing was changed' % ('a worker' if local['state'] == 'active'
                                                 else 'in swarm state %s' % local['state']))
    return ['force_new_cluster'] if leaderless else []


def own_node_route(state, role, via_manager):
    """Through which engine docker_swarm changes this node's own entry in the
    node list (labels, availability) once it is in the swarm: ``'self'``
    when it is (or becomes) a manager, ``'manager'`` for a worker when a
    connection to a manager was given, None otherwise (a worker cannot
    change its own entry)."""
    if state == 'present' or (state == 'join' and role == MANAGER_ROLE):
        return 'self'
    if state == 'join' and via_manager:
        return 'manager'
    return None


def check_own_node(state, role, via_manager, node_labels):
    """PlanError, before anything changes, when node labels were asked for a
    worker whose entry this module cannot reach."""
    if node_labels is not None and state == 'join' and own_node_route(state, role, via_manager) is None:
        raise PlanError('node_labels: a worker cannot change its own entry in the node list; give manager (a '
                        'connection to a manager of the swarm) to set them through it, or set them on a manager '
                        'with nativeswarm.cluster.docker_swarm_node; nothing was changed')


def join_request(role, token=None, remote_addrs=None, cluster=None, manager_nodes=None):
    """The token and addresses a join will use, checked before anything changes.

    ``cluster`` is GET /swarm of the manager given as ``manager`` (None
    without one). With it the token is checked to be a current token of that
    swarm and of ``role``, and a missing token or address list is taken from
    it (the addresses of the reachable managers in ``manager_nodes``).
    Returns {'token', 'addrs' (host:port), 'cluster_id' (None when unknown),
    'role_checked'}; PlanError when the join cannot work."""
    if cluster is not None:
        tokens = cluster.get('JoinTokens') or {}
        if token:
            if token not in tokens.values():
                trust_root = (cluster.get('TLSInfo') or {}).get('TrustRoot') or ''
                if token_digest(token) != pem_digest(trust_root):
                    raise PlanError('join_token belongs to another swarm than the one the manager leads')
                raise PlanError('join_token is not a current token of this swarm (rotated?)')
            if token != tokens.get(role.capitalize()):
                raise PlanError('join_token is a %s token, but role=%s'
                                % (WORKER_ROLE if role == MANAGER_ROLE else MANAGER_ROLE, role))
        token = token or tokens.get(role.capitalize())
        if not remote_addrs:
            remote_addrs = [n['ManagerStatus']['Addr'] for n in manager_nodes or []
                            if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable'
                            and n['ManagerStatus'].get('Addr')]
            if not remote_addrs:
                raise PlanError('the manager lists no reachable manager to join through: set remote_addrs')
    if not token and not remote_addrs:
        raise PlanError('nothing to join with: set manager (a connection to a manager of the swarm to join: the '
                        'token and the addresses are read from it), or join_token and remote_addrs')
    if not token:
        raise PlanError('no join_token and no manager to fetch one from: set manager (or join_token)')
    if not remote_addrs:
        raise PlanError('no remote_addrs and no manager to learn them from: set remote_addrs or manager')
    token_digest(token)
    return dict(token=token, addrs=[normal_addr(a) for a in remote_addrs],
                cluster_id=(cluster or {}).get('ID') or None, role_checked=cluster is not None)


def join_targets(request, probes):
    """Check what the join's addresses answered and order them for the join.

    ``probes`` are what each address of ``request['addrs']`` said about
    itself (``_swarm_probe.probe``: error, manager, cluster_id, root_ca), or
    None when they were not asked. The engine joins through the first
    address only: answering managers of the right swarm go first. PlanError
    when no address answers, none is a swarm manager, they lead to different
    swarms or to another swarm than the manager leads, or the token's CA
    digest is not the root CA of the swarm they serve.
    Returns {'addrs', 'cluster_id', 'warnings'}."""
    if probes is None:
        return dict(addrs=list(request['addrs']), cluster_id=request['cluster_id'], warnings=[])
    silent = [p for p in probes if p['error']]
    answering = [p for p in probes if not p['error']]
    if not answering:
        raise PlanError('no swarm manager answers at %s from the host this module runs on (%s): check remote_addrs '
                        '(managers with their swarm port, 2377 by default), that those managers run and that the '
                        'port is open to this host; nothing was changed'
                        % (', '.join(p['addr'] for p in probes), '; '.join('%s: %s' % (p['addr'], p['error'])
                                                                           for p in silent)))
    others = [p for p in answering if p['manager'] is False]
    candidates = ([p for p in answering if p['manager'] is True]
                  + [p for p in answering if p['manager'] is None])
    if not candidates:
        raise PlanError('%s answer%s but %s not a swarm manager (a swarm manager answers with TLS and a '
                        'swarm-manager certificate): check remote_addrs; nothing was changed'
                        % (', '.join(p['addr'] for p in others), '' if len(others) > 1 else 's',
                           'are' if len(others) > 1 else 'is'))
    clusters = {}
    for p in candidates:
        if p['cluster_id']:
            clusters.setdefault(p['cluster_id'], []).append(p['addr'])
    target = request['cluster_id']
    strangers = ['%s (swarm %s)' % (addr, c) for c, addrs in sorted(clusters.items()) if c != target for addr in addrs]
    if target and strangers:
        raise PlanError('remote_addrs are not all managers of the swarm the manager leads (%s): %s; check '
                        'remote_addrs; nothing was changed' % (target, ', '.join(strangers)))
    if len(clusters) > 1:
        raise PlanError('remote_addrs lead to different swarms (%s): give managers of one swarm; nothing was changed'
                        % '; '.join('%s: %s' % (c, ', '.join(addrs)) for c, addrs in sorted(clusters.items())))
    digest = token_digest(request['token'])
    foreign = [p['addr'] for p in candidates if p['root_ca'] and pem_digest(p['root_ca']) != digest]
    if foreign:
        raise PlanError('join_token belongs to another swarm than the managers at %s (its CA digest is not that of '
                        'their root CA): use a token of their swarm; nothing was changed' % ', '.join(foreign))
    warnings = ['%s does not answer from the host this module runs on (%s); joining through %s'
                % (p['addr'], p['error'], candidates[0]['addr']) for p in silent]
    warnings += ['%s answers but is not a swarm manager; joining through %s' % (p['addr'], candidates[0]['addr'])
                 for p in others]
    return dict(addrs=[p['addr'] for p in candidates + silent + others], warnings=warnings,
                cluster_id=target or (list(clusters)[0] if clusters else None))


def join_failure_advice(reason, target, checked_from_here=False):
    """The next step after a join the engine refused or could not complete
    (``reason``: the engine's message)."""
    text = reason.lower()
    if 'valid join token' in text:
        return ('Next: join_token is not a current token of that swarm (rotated?): read the current one on a '
                'manager (or set manager to have it fetched), then run this again.')
    if 'does not match fingerprint' in text:
        return ('Next: join_token belongs to another swarm than the managers at %s: use a token of theirs (or set '
                'manager), then run this again.' % target)
    if 'timeout was reached' in text or 'timed out' in text or 'unavailable' in text or 'connection' in text:
        return ('Next: check that this node itself reaches %s on that TCP port (firewall, routing, '
                'advertise_addr/listen_addr)%s, then run this again.'
                % (target, '; the host this module runs on does' if checked_from_here else ''))
    return 'Next: check join_token, remote_addrs and the engine log of this node, then run this again.'


def membership_view(local):
    """This node's membership as shown in diffs."""
    active = local['state'] not in ('inactive',)
    return dict(local_node_state=local['state'],
                role=(MANAGER_ROLE if local['manager'] else WORKER_ROLE) if active else '')


def membership_after(local, actions, role):
    """The membership ``actions`` lead to from ``local`` (check mode's diff)."""
    after = dict(local)
    for action in actions:
        if action in ('init', 'unlock', 'promote'):
            after.update(state='active', manager=True)
        elif action == 'join':
            after.update(state='active', manager=role == MANAGER_ROLE)
        elif action in ('leave', 'leave_force'):
            after.update(state='inactive', manager=False)
        elif action == 'demote':
            after.update(manager=False)
    return membership_view(after)
