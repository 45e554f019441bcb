# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning core of docker_swarm_cluster: the whole cluster at once
(private: may change).

Nothing here talks to an engine. The module reads every listed engine
(``GET /info``) and, when there is a swarm, one manager's ``GET /nodes`` and
``GET /swarm``; these functions turn what it read and what the user asked
for into a plan - an ordered list of per-node actions - or raise
:class:`PlanError` before anything is changed. The per-node rules (quorum
guard, node spec changes, safe removal, cluster settings) are those of
:mod:`_swarm`, reused here.

A request is a dictionary::

    managers, workers   lists of nodes: name, docker_host, advertise_addr,
                        listen_addr, data_path_addr, labels, availability
    settings            cluster settings, keyed as docker_swarm's options
    labels_state        merge | replace (node labels)
    remove_absent, allow_even_managers (bool), max_parallel, wait_timeout (int)

An action is a dictionary with at least ``node`` (the listed name, or the
hostname of a node that is not listed) and ``action``, one of ``init``,
``settings``, ``join``, ``promote``, ``demote``, ``update``, ``drain``,
``wait_drained``, ``remove``; and, as the action needs them, ``via`` (the
listed manager that carries it out), ``node_id`` (None for a node that
joins in this plan), ``role``, ``set`` (node spec keys to set), ``changes``
and ``listed``.
"""

from __future__ import annotations

import copy

from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, SPEC_OPTIONS, check_settings, check_spec, desired_spec, even_count_words, is_manager, labels_after,
    local_state, node_summary, plan_node, plan_node_removal, quorum_guard, root_ca_change, spec_changes, MANAGER_ROLE,
    WORKER_ROLE)

NODE_FIELDS = ('name', 'docker_host', 'advertise_addr', 'listen_addr', 'data_path_addr', 'labels',
               'availability')
# set when the swarm is initialized, never changed afterwards: option -> key of POST /swarm/init
INIT_ONLY = (('data_path_port', 'DataPathPort'), ('default_addr_pool', 'DefaultAddrPool'),
             ('subnet_size', 'SubnetSize'))
SETTING_OPTIONS = tuple(SPEC_OPTIONS) + ('external_cas', 'signing_ca_cert', 'signing_ca_key') + tuple(
    o for o, _k in INIT_ONLY)
UNUSABLE_STATES = {
    'locked': 'locked (autolock after an engine restart); unlock it first '
              '(nativeswarm.cluster.docker_swarm with unlock_key)',
    'pending': 'still joining a swarm (pending); wait until it is done, or make it leave',
    'error': 'in swarm state error',
}


# ---------------------------------------------------------------- the request

def _labels(labels, where):
    """Node labels as the Engine API takes them (strings); numbers are
    turned into strings, anything else that is not a string is refused."""
    if labels is None:
        return None
    if not isinstance(labels, dict):
        raise PlanError('%s: labels must be a dictionary of strings' % where)
    result = {}
    for key, value in labels.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PlanError('%s: the value of label %r must be a string, not %r (quote it)'
                            % (where, str(key), value))
        result[str(key)] = str(value)
    return result


def validate_request(request):
    """Check everything that can be checked without an engine; return the
    request with every node complete (missing fields None) and its role set.
    Raise PlanError naming the first thing to fix."""
    req = dict(request)
    managers = [dict((f, n.get(f)) for f in NODE_FIELDS) for n in request.get('managers') or []]
    workers = [dict((f, n.get(f)) for f in NODE_FIELDS) for n in request.get('workers') or []]
    if not managers:
        raise PlanError('managers: at least one manager is needed; the swarm is formed and driven through '
                        'its managers')
    seen, hosts = {}, {}
    for where, nodes, role in (('managers', managers, MANAGER_ROLE), ('workers', workers, WORKER_ROLE)):
        for index, node in enumerate(nodes):
            node['role'] = role
            name = node['name']
            if not isinstance(name, str) or not name.strip():
                raise PlanError('%s[%d]: name must be a non-empty string' % (where, index))
            if name in seen:
                raise PlanError('%s is listed twice (in %s and in %s); list each node once, in managers or '
                                'in workers' % (name, seen[name], where))
            seen[name] = where
            node['labels'] = _labels(node['labels'], name)
            host = node['docker_host']
            if host:
                if host in hosts:
                    raise PlanError('%s and %s have the same docker_host %s; each node is reached through its '
                                    'own engine' % (hosts[host], name, host))
                hosts[host] = name
    count = len(managers)
    if count % 2 == 0 and not request.get('allow_even_managers'):
        raise PlanError('%d managers listed: %s; list an odd number of managers or set allow_even_managers'
                        % (count, even_count_words(count)))
    for option in ('max_parallel', 'wait_timeout'):
        if request.get(option) is not None and request[option] < 1:
            raise PlanError('%s must be 1 or more, got %d' % (option, request[option]))
    settings = dict(request.get('settings') or {})
    for option in sorted(settings):
        if option not in SETTING_OPTIONS:
            raise PlanError('%s is not a cluster setting' % option)
    check_settings(settings)
    req.update(managers=managers, workers=workers, settings=settings,
               labels_state=request.get('labels_state') or 'merge',
               remove_absent=bool(request.get('remove_absent')),
               allow_even_managers=bool(request.get('allow_even_managers')))
    return req


def listed(request):
    return request['managers'] + request['workers']


# ---------------------------------------------------------------- what the engines said

def survey(request, infos):
    """From every listed engine's ``GET /info`` (``infos``: name -> info):
    each node's swarm state, the swarm they are in and the listed manager
    to read it from (``acting``, None when there is no swarm yet)."""
    nodes = listed(request)
    locals_ = dict((n['name'], local_state(infos[n['name']])) for n in nodes)
    unusable = ['%s is %s%s' % (n['name'], UNUSABLE_STATES[locals_[n['name']]['state']],
                                ' (%s)' % locals_[n['name']]['error'] if locals_[n['name']]['error'] else '')
                for n in nodes if locals_[n['name']]['state'] in UNUSABLE_STATES]
    if unusable:
        raise PlanError('nothing was changed: %s' % '; '.join(unusable))
    engines = {}
    for node in nodes:
        engine_id = infos[node['name']].get('ID')
        if engine_id and engine_id in engines:
            raise PlanError('%s and %s reach the same Docker engine; each node is reached through its own'
                            % (engines[engine_id], node['name']))
        if engine_id:
            engines[engine_id] = node['name']
    clusters = {}
    for node in nodes:
        local = locals_[node['name']]
        if local['state'] == 'active' and local['manager']:
            clusters.setdefault(local['cluster_id'], []).append(node['name'])
    if len(clusters) > 1:
        raise PlanError('the listed nodes belong to %d different swarms (%s); nothing was changed. Make the nodes '
                        'of the swarm you do not want leave it first'
                        % (len(clusters), '; '.join('swarm %s: managers %s' % (cid, ', '.join(names))
                                                    for cid, names in sorted(clusters.items()))))
    acting, cluster_id = None, None
    if clusters:
        cluster_id, names = list(clusters.items())[0]
        acting = names[0]  # listed managers come first
    else:
        members = [n['name'] for n in nodes if locals_[n['name']]['state'] == 'active']
        if members:
            raise PlanError('%s %s a worker of a swarm that none of the listed nodes manages (managers at %s); '
                            'list a manager of that swarm, or make %s leave it; nothing was changed'
                            % (', '.join(members), 'is' if len(members) == 1 else 'are',
                               ', '.join(sorted(set(a for m in members for a in locals_[m]['remote_managers'] if a)))
                               or 'unknown', 'it' if len(members) == 1 else 'them'))
    return dict(locals=locals_, acting=acting, cluster_id=cluster_id)


def needs_swarm(request, found):
    """Whether the plan needs the swarm's ``GET /swarm`` (settings to
    compare, or join tokens for nodes that join)."""
    if found['acting'] is None:
        return False
    if any(request['settings'].get(o) is not None for o in SETTING_OPTIONS):
        return True
    return any(found['locals'][n['name']]['state'] == 'inactive' for n in listed(request))


# ---------------------------------------------------------------- the plan

def _new_node(node_id, node, role):
    """What a node that joins in this plan will look like in ``GET /nodes``."""
    result = dict(ID=node_id, Spec=dict(Role=role, Availability=node['availability'] or 'active', Labels={}),
                  Description=dict(Hostname=node['name']), Status=dict(State='ready'))
    if role == MANAGER_ROLE:
        result['ManagerStatus'] = dict(Reachability='reachable')
    return result


def view(sim_node):
    """A node as shown in the diff."""
    if sim_node is None:
        return dict(membership='absent', role='', availability='', labels={})
    spec = sim_node.get('Spec') or {}
    return dict(membership='member', role=spec.get('Role') or '', availability=spec.get('Availability') or '',
                labels=dict(spec.get('Labels') or {}))


def _display_names(unlisted, taken):
    """Names for nodes that are not listed: their hostname, or hostname
    and ID where that is ambiguous."""
    counts = {}
    for node in unlisted:
        host = node_summary(node)['hostname'] or node['ID']
        counts[host] = counts.get(host, 0) + 1
    names = {}
    for node in unlisted:
        host = node_summary(node)['hostname'] or node['ID']
        names[node['ID']] = host if counts[host] == 1 and host not in taken else '%s (%s)' % (host, node['ID'][:12])
    return names


def plan_cluster(request, found, nodes=None, swarm=None):
    """The plan for a validated ``request``, given :func:`survey`'s result,
    the acting manager's ``GET /nodes`` and ``GET /swarm`` (None when there
    is no swarm yet, and ``swarm`` also when :func:`needs_swarm` says no).

    Returns dict(actions, acting, changes, cluster_changes, warnings, diff,
    wanted, new_root_ca): ``acting`` is the listed manager to read the
    cluster from afterwards, ``wanted`` the cluster spec settings (for init
    and update), ``new_root_ca`` whether the init or the update carries the
    signing CA (``signing_ca_cert``/``signing_ca_key``).
    Every demotion and removal is checked by the quorum guard against the
    cluster as it will be at that step."""
    locals_ = found['locals']
    managers, workers = request['managers'], request['workers']
    manager_names = [m['name'] for m in managers]
    labels_state = request['labels_state']
    sim = copy.deepcopy(list(nodes or []))
    actions, changes, warnings = [], [], []

    def by_id(node_id):
        for node in sim:
            if node['ID'] == node_id:
                return node
        return None

    ids = {}  # listed name -> node ID (a placeholder for nodes that join in this plan)
    for node in listed(request):
        local = locals_[node['name']]
        if local['state'] != 'active':
            continue
        if by_id(local['node_id']) is None:
            raise PlanError('%s is in another swarm than %s (its node %s is not in that swarm%s); nothing was '
                            'changed. Make it leave its swarm first (nativeswarm.cluster.docker_swarm with '
                            'state=absent and force=true)'
                            % (node['name'], found['acting'], local['node_id'],
                               ', whose managers are at %s' % ', '.join(local['remote_managers'])
                               if local['remote_managers'] else ''))
        ids[node['name']] = local['node_id']
    unlisted = [n for n in sim if n['ID'] not in ids.values()]
    before = dict((name, view(by_id(node_id))) for name, node_id in ids.items())

    # Reductions (demotions, removals) pass through even manager counts when
    # the cluster shrinks by two; that is fine when it ends odd.
    final_managers = len(managers) + (0 if request['remove_absent'] else len([n for n in unlisted if is_manager(n)]))
    even_steps = request['allow_even_managers'] or final_managers % 2 == 1

    def add(name, action, **fields):
        entry = dict(node=name, action=action)
        entry.update(fields)
        actions.append(entry)
        return entry

    def set_spec(node, spec):
        node['Spec'] = spec
        if spec.get('Role') == MANAGER_ROLE:
            node['ManagerStatus'] = dict(node.get('ManagerStatus') or {}, Reachability='reachable')
        else:
            node.pop('ManagerStatus', None)

    def node_change(node, sim_node, role=None):
        spec, found_changes = plan_node(sim_node, role=role, availability=node['availability'],
                                        labels=node['labels'], labels_state=labels_state)
        changes.extend(dict(change, node=node['name']) for change in found_changes)
        new = dict((key, spec[key]) for key in ('Role', 'Availability', 'Labels') if key in spec
                   and spec.get(key) != (sim_node.get('Spec') or {}).get(key))
        return spec, found_changes, new

    acting = found['acting']
    check_spec(request['settings'], (swarm or {}).get('Spec') if acting else None)
    wanted = desired_spec(request['settings'])
    joined = []
    settings = request['settings']

    # 1. the swarm: initialized on the first listed manager, or its settings
    if acting is None:
        first = managers[0]
        cluster_changes = spec_changes({}, wanted)
        add(first['name'], 'init', node_id=None, role=MANAGER_ROLE, changes=cluster_changes)
        ids[first['name']] = 'new:' + first['name']
        sim.append(_new_node(ids[first['name']], first, MANAGER_ROLE))
        joined.append(first)
        acting = first['name']
    else:
        cluster_changes = spec_changes((swarm or {}).get('Spec'), wanted) if wanted else []
        ca_change = root_ca_change(settings.get('signing_ca_cert'), ((swarm or {}).get('TLSInfo') or {}).get('TrustRoot'))
        if ca_change:
            cluster_changes.append(ca_change)
        if cluster_changes:
            add(acting, 'settings', via=acting, changes=cluster_changes)
        for option, key in INIT_ONLY:
            if settings.get(option) is not None and swarm is not None and settings[option] != swarm.get(key):
                warnings.append('%s is %r on this swarm; it is set at initialization only and stays'
                                % (option, swarm.get(key)))

    # 2. managers, one at a time: joins and promotions (before any demotion)
    for node in managers:
        name = node['name']
        if name not in ids:
            add(name, 'join', via=acting, node_id=None, role=MANAGER_ROLE)
            ids[name] = 'new:' + name
            sim.append(_new_node(ids[name], node, MANAGER_ROLE))
            joined.append(node)
        else:
            sim_node = by_id(ids[name])
            if is_manager(sim_node):
                continue
            spec, found_changes, new = node_change(node, sim_node, role=MANAGER_ROLE)
            add(name, 'promote', via=acting, node_id=ids[name], set=new, changes=found_changes, listed=True)
            set_spec(sim_node, spec)
        if acting not in manager_names:
            acting = name  # a listed manager carries out the rest

    # 3. workers that are in no swarm join, in parallel
    for node in workers:
        if node['name'] not in ids:
            add(node['name'], 'join', via=acting, node_id=None, role=WORKER_ROLE)
            ids[node['name']] = 'new:' + node['name']
            sim.append(_new_node(ids[node['name']], node, WORKER_ROLE))
            joined.append(node)

    # 4. demotions, one at a time, each guarded
    demoted = set()
    for node in workers:
        sim_node = by_id(ids[node['name']])
        if not is_manager(sim_node):
            continue
        if acting == node['name']:
            acting = [m for m in manager_names if is_manager(by_id(ids[m]))][0]
        quorum_guard(sim, [sim_node['ID']], allow_even=even_steps)
        spec, found_changes, new = node_change(node, sim_node, role=WORKER_ROLE)
        add(node['name'], 'demote', via=acting, node_id=sim_node['ID'], set=new, changes=found_changes, listed=True)
        set_spec(sim_node, spec)
        demoted.add(node['name'])

    # 5. nodes that are not listed, when asked: down ones first, managers last
    removed = []
    if request['remove_absent']:
        names = _display_names(unlisted, set(ids))
        order = sorted(unlisted, key=lambda n: ((n.get('Status') or {}).get('State') != 'down', is_manager(n)))
        for node in order:
            sim_node = by_id(node['ID'])
            before[names[node['ID']]] = view(sim_node)
            for step in plan_node_removal(sim_node, sim, force=True, allow_even=even_steps):
                add(names[node['ID']], step, via=acting, node_id=node['ID'], listed=False,
                    down=(node.get('Status') or {}).get('State') == 'down')
                if step == 'drain':
                    sim_node['Spec'] = dict(sim_node['Spec'], Availability='drain')
                elif step == 'demote':
                    set_spec(sim_node, dict(sim_node['Spec'], Role=WORKER_ROLE))
            removed.append(names[node['ID']])
            sim.remove(sim_node)

    # 6. labels and availability: one node update per node that needs one
    joined_names = set(n['name'] for n in joined)
    for node in listed(request):
        name = node['name']
        if name in demoted or any(a['node'] == name and a['action'] == 'promote' for a in actions):
            continue
        sim_node = by_id(ids[name])
        if name in joined_names:
            # availability went with the join; labels need an update
            labels = labels_after({}, node['labels'], labels_state, None)
            if labels:
                changes.append(dict(node=name, setting='labels', before={}, after=labels))
                add(name, 'update', via=acting, node_id=None, set=dict(Labels=labels),
                    changes=[dict(setting='labels', before={}, after=labels)], listed=True)
                sim_node['Spec'] = dict(sim_node['Spec'], Labels=labels)
            continue
        spec, found_changes, new = node_change(node, sim_node)
        if found_changes:
            add(name, 'update', via=acting, node_id=ids[name], set=new, changes=found_changes, listed=True)
            set_spec(sim_node, spec)

    # the diff: every node an action touches, before and after
    touched = []
    for action in actions:
        if action['action'] != 'settings' and action['node'] not in touched:
            touched.append(action['node'])
    diff = dict(before=dict(nodes={}), after=dict(nodes={}))
    for name in touched:
        diff['before']['nodes'][name] = before.get(name, view(None))
        diff['after']['nodes'][name] = view(None) if name in removed else view(by_id(ids[name]))
    if cluster_changes:
        diff['before']['settings'] = dict((c['setting'], c['before']) for c in cluster_changes)
        diff['after']['settings'] = dict((c['setting'], c['after']) for c in cluster_changes)
    # the signing CA goes with the init, or with a settings update when it is not the swarm's root CA yet
    new_root_ca = bool(settings.get('signing_ca_cert')) and (
        found['acting'] is None or any(c['setting'] == 'CAConfig.SigningCACert' for c in cluster_changes))
    return dict(actions=actions, acting=acting, changes=changes, cluster_changes=cluster_changes,
                warnings=warnings, diff=diff, wanted=wanted, new_root_ca=new_root_ca)


def action_text(action):
    """One action as the module reports it: ``<node>: <action>``."""
    what = action['action']
    if what == 'join':
        what = 'join as %s' % action['role']
    elif what == 'settings':
        what = 'update the cluster settings'
    return '%s: %s' % (action['node'], what)


def batches(actions):
    """The actions grouped for execution: consecutive worker joins form one
    batch (run in parallel); everything else runs alone, in order."""
    result = []
    for action in actions:
        parallel = action['action'] == 'join' and action['role'] == WORKER_ROLE
        if parallel and result and result[-1][0]['action'] == 'join' and result[-1][0]['role'] == WORKER_ROLE:
            result[-1].append(action)
        else:
            result.append([action])
    return result


def stray_entries(before, after, listed_ids):
    """Node entries that appeared while the module acted and that no listed
    engine claims as its own node: under heavy load an engine whose join
    request timed out joins again under a new node ID, and the first entry
    stays in the node list, never ready. Their IDs, sorted."""
    known = set(n['ID'] for n in before or []) | set(listed_ids)
    return sorted(n['ID'] for n in after if n['ID'] not in known)
