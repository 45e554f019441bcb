#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_swarm_info
short_description: Facts about a Docker Swarm for playbook decisions
version_added: 0.1.0
description:
  - Tells the swarm state of the engine at O(docker_host) (inactive, pending, active, locked, error), whether it
    is a manager, and its node and cluster IDs.
  - On a manager, also every node, the manager count, reachable managers, quorum, fault tolerance and warnings
    for a single-manager or even-manager cluster; optionally services and tasks.
  - On a manager whose swarm has lost quorum (no leader), it does not fail - it says so with RV(quorum_lost) and
    returns what the manager still knows on its own (see RV(quorum_lost)).
  - With O(name), finds one node the way M(nativeswarm.cluster.docker_swarm_node) does and returns it as
    RV(node).
  - With O(health), also checks the cluster's health and returns one line per problem in RV(health.problems)
    (playbooks/tasks/health_gate.yml fails on them).
  - Never changes anything; made for C(when) and M(ansible.builtin.assert) gates.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.docker
attributes:
  check_mode:
    support: full
    description: Runs in check mode and returns the same facts.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
options:
  nodes:
    description:
      - List the nodes (on a manager) in RV(nodes).
      - The manager count, reachable managers, quorum and fault tolerance are returned on a manager either way,
        so a manager is asked for its node list (C(GET /nodes)) also with V(false); an engine that is not a
        manager is never asked.
    type: bool
    default: true
  name:
    description:
      - A node to find, returned as RV(node) (V({}) when no node matches).
      - The node ID, a unique prefix of it of 6 characters or more (C(docker node ls) shows 12), the hostname, a
        fully qualified name whose first label is the hostname, or the first label of a fully qualified
        hostname. Down nodes are found like live ones.
      - Exactly the resolution of M(nativeswarm.cluster.docker_swarm_node)'s O(nativeswarm.cluster.docker_swarm_node#module:name).
      - When the name fits several nodes (two nodes share a hostname, for example a live node and the down entry
        it left behind when it left the swarm and joined again, or a prefix matches several IDs), the module fails
        and lists every candidate's ID, hostname, status and role; name one by its ID.
      - Needs a manager; fails on any other engine.
    type: str
  services:
    description: List the services (on a manager).
    type: bool
    default: false
  services_filters:
    description:
      - Engine API filters for services, a mapping of filter name to value or list of values, as in the
        EXAMPLES (C(name), C(label), C(mode), C(id)).
    type: dict
  tasks:
    description: List the tasks (on a manager).
    type: bool
    default: false
  tasks_filters:
    description:
      - Engine API filters for tasks, a mapping of filter name to value or list of values, as in the
        EXAMPLES (C(service), C(node), C(desired-state), C(label)).
    type: dict
  return_join_tokens:
    description:
      - Return the join tokens in RV(join_tokens). Secrets; use C(no_log) on the task.
    type: bool
    default: false
  health:
    description:
      - Check the cluster's health and return RV(health). Needs a manager; on any other engine
        RV(health.problems) says so.
      - Problems found are quorum lost or at risk (fault tolerance 0), an even manager count, a manager that is
        not reachable, a node that is not ready, a service running fewer tasks than desired, and certificates
        that expire within O(health.cert_expiry_days).
      - A replicated service should run as many tasks as its replicas; a global service one task on every ready
        node the scheduler gave it a task (placement constraints and drained nodes are the scheduler's to
        apply, so a global service no node qualifies for is not a problem). A task counts as running when
        its state is C(running) and its node is ready. Jobs are not checked.
    type: dict
    suboptions:
      cert_expiry_days:
        description:
          - Report certificates that expire in fewer than this many days; V(0) does not check certificates.
          - Checked are the root CA certificate of the swarm (from C(GET /swarm)) and the node certificate each
            manager shows on its swarm port (the C(manager_address) of RV(nodes), usually port 2377), read with
            a TLS handshake from the host the module runs on, without verifying it. Workers do not listen on a
            swarm port, so their node certificates are not read (the same CA issues them with the same
            expiry and renews them the same way).
          - A manager certificate that cannot be read (port not reachable from here, or another node's
            certificate at that address) is a problem too.
        type: int
        default: 0
      services:
        description: Check that services run their tasks.
        type: bool
        default: true
seealso:
  - module: nativeswarm.cluster.docker_swarm
  - module: nativeswarm.cluster.docker_swarm_node
"""

EXAMPLES = r"""
---
- name: Read the swarm's state
  nativeswarm.cluster.docker_swarm_info:
  register: swarm_info

- name: Stop unless the cluster can lose a manager
  ansible.builtin.assert:
    that:
      - swarm_info.docker_swarm_manager
      - not swarm_info.quorum_lost
      - swarm_info.fault_tolerance >= 1
    fail_msg: "{{ swarm_info.cluster_warnings | join('; ') }}"

- name: Find a node by the name the inventory uses, also when it is down
  nativeswarm.cluster.docker_swarm_info:
    nodes: false
    name: worker2.example.com
  register: found

- name: Show its ID and status
  ansible.builtin.debug:
    msg: "{{ found.node.id | default('no such node') }} {{ found.node.status | default('') }}"

- name: Running tasks of one service
  nativeswarm.cluster.docker_swarm_info:
    nodes: false
    tasks: true
    tasks_filters:
      service: web
      desired-state: running
  register: web_tasks

- name: Check the cluster's health, certificates too
  nativeswarm.cluster.docker_swarm_info:
    health:
      cert_expiry_days: 30
  register: swarm_health

- name: Fail with one line per problem
  ansible.builtin.fail:
    msg: "{{ item }}"
  loop: "{{ swarm_health.health.problems }}"
"""

RETURN = r"""
docker_swarm_active:
  description: Whether the engine is an active member of a swarm.
  returned: always
  type: bool
  sample: true
docker_swarm_manager:
  description: Whether the engine is an active manager.
  returned: always
  type: bool
  sample: true
local_node_state:
  description: Swarm state of the engine (inactive, pending, active, locked, error).
  returned: always
  type: str
  sample: active
node_id:
  description: ID of the engine's node; empty outside a swarm.
  returned: always
  type: str
  sample: 9ukbs3ioqs4vxijrzvkyvqppa
cluster_id:
  description: ID of the swarm; empty unless the engine is a manager of a swarm that has a leader.
  returned: always
  type: str
  sample: lgkmd9sq8vkmmbklzp7n9j1ai
error:
  description: The engine's swarm error, if any.
  returned: always
  type: str
  sample: ''
nodes:
  description: Every node of the swarm.
  returned: on a manager, when O(nodes=true)
  type: list
  elements: dict
  sample: [{id: 9ukbs3ioqs4vxijrzvkyvqppa, hostname: manager1, role: manager, availability: active,
            status: ready, address: 10.0.0.2, engine_version: 24.0.7, labels: {}, manager_reachability: reachable,
            manager_address: 10.0.0.2:2377, leader: true}]
node:
  description:
    - The node O(name) designates, with the keys of an item of RV(nodes); V({}) when no node matches.
  returned: when O(name) is given, on a manager whose swarm has a leader
  type: dict
  sample: {id: 9ukbs3ioqs4vxijrzvkyvqppa, hostname: worker2, role: worker, availability: active, status: down,
           address: 10.0.0.6, engine_version: 24.0.7, labels: {}, manager_reachability: null,
           manager_address: null, leader: false}
quorum_lost:
  description:
    - Whether this engine is a manager of a swarm that has no leader (the managers answer
      C(The swarm does not have a leader)), that is, a majority of the managers is unreachable.
    - A manager that answers so for a few seconds is read again first, so that a leader election is not taken
      for lost quorum.
    - When V(true), the module does not fail and returns RV(local_node_state), RV(node_id), RV(managers)
      (the managers this one knows of), RV(quorum), RV(reachable_managers) (V(1), this manager, the only one it
      can vouch for), RV(fault_tolerance) (V(0)), RV(leader) (empty) and a RV(cluster_warnings) line starting
      with C(quorum lost:). RV(nodes), RV(node), services, tasks and join tokens cannot be read then and are
      left out; RV(cluster_id) is empty.
  returned: always
  type: bool
  sample: false
leader:
  description: Hostname of the Raft leader; empty when RV(quorum_lost).
  returned: on a manager
  type: str
  sample: manager1
managers:
  description:
    - Number of managers.
    - When RV(quorum_lost), the managers this manager knows of (it included), from its own C(/info).
  returned: on a manager
  type: int
  sample: 3
reachable_managers:
  description:
    - Number of managers that are reachable.
    - When RV(quorum_lost), V(1) - this manager, the only one it can vouch for.
  returned: on a manager
  type: int
  sample: 3
quorum:
  description: Managers that must be reachable for the cluster to work (a majority of RV(managers)).
  returned: on a manager
  type: int
  sample: 2
fault_tolerance:
  description: Reachable managers the cluster can still lose.
  returned: on a manager
  type: int
  sample: 1
cluster_warnings:
  description: What an operator should look at (single or even manager count, quorum in danger or lost).
  returned: always
  type: list
  elements: str
  sample: ['a single manager: losing it loses the cluster; run 3 or 5 managers']
services:
  description: Services as the Engine API returns them.
  returned: on a manager, when O(services=true)
  type: list
  elements: dict
  sample: [{ID: x4m1, Spec: {Name: web}}]
tasks:
  description: Tasks as the Engine API returns them; empty when O(tasks_filters) names a service or node that does not exist.
  returned: on a manager, when O(tasks=true)
  type: list
  elements: dict
  sample: [{ID: 7y2k, NodeID: 9ukb, DesiredState: running, Status: {State: running}}]
join_tokens:
  description: The join tokens.
  returned: on a manager, when O(return_join_tokens=true)
  type: dict
  contains:
    worker:
      description: Worker join token.
      type: str
      returned: success
      sample: SWMTKN-1-xxxx-yyyy
    manager:
      description: Manager join token.
      type: str
      returned: success
      sample: SWMTKN-1-xxxx-zzzz
health:
  description: The health checks of O(health).
  returned: when O(health) is given
  type: dict
  contains:
    problems:
      description:
        - One line per problem, empty when the cluster is healthy.
        - 'The lines start with: C(quorum lost:), C(quorum at risk: fault tolerance 0), C(even manager count: N),
          C(manager X unreachable), C(node X down) (or another state than ready), C(service S: n of m tasks
          running), C(certificate of node X expires in D days) (or C(expired D days ago), C(cannot be read)),
          C(root CA certificate expires in D days), C(the engine at ... is not a swarm manager).'
      type: list
      elements: str
      returned: always
      sample: ['manager manager2 unreachable', 'node manager2 down']
    services:
      description: Desired and running tasks of each replicated or global service (V([]) unless checked).
      type: list
      elements: dict
      returned: always
      sample: [{name: web, mode: replicated, desired: 3, running: 3}]
    certificates:
      description:
        - The managers' node certificates read (V([]) unless O(health.cert_expiry_days) is set), with the end
          of validity (ISO 8601, UTC) and the days left, or why it could not be read.
      type: list
      elements: dict
      returned: always
      sample: [{hostname: manager1, node_id: 9ukbs3ioqs4vxijrzvkyvqppa, not_after: '2027-03-01T10:00:00+00:00',
                days_left: 88, error: null}]
    root_ca_not_after:
      description: End of validity of the swarm's root CA certificate (ISO 8601, UTC); empty when it cannot be read.
      type: str
      returned: always
      sample: '2046-11-27T10:00:00+00:00'
    root_ca_digest:
      description:
        - Digest of the swarm's root CA certificate, as join tokens carry it (it changes with a root CA rotation);
          empty when the engine shows no root CA.
      type: str
      returned: always
      sample: 0fr3h8wi2kr5g2dv0cvx6m0lhm0zvl1d10mhjg04qk6lyvpsd7
    root_rotation_in_progress:
      description: Whether a root CA rotation is still going on (not a problem by itself).
      type: bool
      returned: always
      sample: false
api_calls:
  description: Engine API requests the module made, in order.
  returned: when O(debug=true)
  type: list
  elements: str
  sample: [GET /info, GET /nodes]
"""

import datetime

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    ELECTION_GRACE, EngineError, connect, exit_with, new_module, nodes_unless_leaderless)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, find_node, local_state, node_summary, pem_digest, quorum_facts, quorum_lost_facts)
from ansible_collections.nativeswarm.cluster.plugins.module_utils import _health


def gather(engine, params, grace=ELECTION_GRACE):
    info = engine.info()
    local = local_state(info)
    active = local['state'] == 'active'
    manager = active and local['manager']
    result = dict(changed=False, docker_swarm_active=active, docker_swarm_manager=manager,
                  local_node_state=local['state'], node_id=local['node_id'] or '',
                  cluster_id=local['cluster_id'] or '', error=local['error'] or '', cluster_warnings=[],
                  quorum_lost=False)
    what = 'a worker' if active else 'in swarm state %s' % local['state']
    health = params.get('health')
    if health is not None:
        result['health'] = dict(problems=[], services=[], certificates=[], root_ca_not_after='',
                                root_ca_digest='', root_rotation_in_progress=False)
        if not manager:
            result['health']['problems'].append('the engine at %s is not a swarm manager: it is %s'
                                                % (getattr(engine, 'url', 'docker_host'), what))
    if params.get('name') is not None:
        if not str(params['name']).strip():
            raise PlanError('name is empty: give a node ID, ID prefix or hostname, or leave name out')
        if not manager:
            raise PlanError('name: only a manager can find a node, and the engine at %s is %s'
                            % (getattr(engine, 'url', 'docker_host'), what))
    wanted = [name for name in ('services', 'tasks', 'return_join_tokens') if params[name]]
    if not manager:
        if wanted:
            result['cluster_warnings'].append('%s asked for, but only a manager knows them; this engine is %s'
                                              % (', '.join(wanted), what))
        return result
    nodes = nodes_unless_leaderless(engine, grace)
    if nodes is None:
        result.update(quorum_lost_facts(info))
        if health is not None:
            result['health']['problems'] = _health.quorum_lost_problems(result)
        unread = wanted + (['nodes'] if params['nodes'] else []) + (['name'] if params.get('name') else [])
        if unread:
            result['cluster_warnings'].append('%s asked for, but a swarm without a leader cannot list them'
                                              % ', '.join(unread))
        return result
    leaders = [node_summary(n)['hostname'] for n in nodes if (n.get('ManagerStatus') or {}).get('Leader')]
    result['leader'] = leaders[0] if leaders else ''
    result.update(quorum_facts(nodes))
    if params['nodes']:
        result['nodes'] = sorted((node_summary(n) for n in nodes),
                                 key=lambda n: (n['role'] != 'manager', n['hostname'] or ''))
    if params.get('name') is not None:
        node = find_node(nodes, params['name'])
        result['node'] = node_summary(node) if node else {}
    if params['services']:
        result['services'] = engine.services(params['services_filters'])
    if params['tasks']:
        try:
            result['tasks'] = engine.tasks(params['tasks_filters'])
        except EngineError as exc:
            if exc.status != 404:  # a filter naming a service or node that does not exist
                raise
            result['tasks'] = []
    if health is not None:
        result['health'].update(check_health(engine, nodes, result, health))
    if params['return_join_tokens']:
        tokens = engine.swarm_inspect().get('JoinTokens') or {}
        result['join_tokens'] = dict(worker=tokens.get('Worker'), manager=tokens.get('Manager'))
    return result


def check_health(engine, nodes, facts, health, now=None, read_certificate=_health.peer_certificate):
    problems = _health.cluster_problems(nodes, facts)
    swarm = engine.swarm_inspect()
    trust_root = (swarm.get('TLSInfo') or {}).get('TrustRoot')
    root = _health.certificate_not_after(trust_root)
    found = dict(services=[], certificates=[], root_ca_not_after=root.isoformat() if root else '',
                 root_ca_digest=pem_digest(trust_root) if trust_root else '',
                 root_rotation_in_progress=bool(swarm.get('RootRotationInProgress')))
    if health.get('services', True):
        found['services'] = _health.service_status(engine.services(), engine.tasks(), nodes)
        problems += _health.service_problems(found['services'])
    days = health.get('cert_expiry_days') or 0
    if days > 0:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        certificates = []
        for node in sorted(nodes, key=lambda n: node_summary(n)['hostname'] or ''):
            addr = (node.get('ManagerStatus') or {}).get('Addr')
            if not addr or node['ManagerStatus'].get('Reachability') != 'reachable':
                continue  # an unreachable manager is a problem already
            pem, error = read_certificate(addr)
            certificates.append(_health.manager_certificate(node, pem, error))
        problems += _health.certificate_problems(certificates, root, days, now)
        found['certificates'] = [dict(cert, not_after=cert['not_after'].isoformat() if cert['not_after'] else None,
                                      days_left=_health.days_left(cert['not_after'], now) if cert['not_after'] else None)
                                 for cert in certificates]
    found['problems'] = problems
    return found


def main():
    module = new_module(
        argument_spec=dict(
            nodes=dict(type='bool', default=True),
            name=dict(type='str'),
            services=dict(type='bool', default=False),
            services_filters=dict(type='dict'),
            tasks=dict(type='bool', default=False),
            tasks_filters=dict(type='dict'),
            return_join_tokens=dict(type='bool', default=False),
            health=dict(type='dict', options=dict(
                cert_expiry_days=dict(type='int', default=0),
                services=dict(type='bool', default=True),
            )),
        ),
        supports_check_mode=True,
    )
    engine = connect(module)

    def work():
        result = gather(engine, module.params)
        if module.params['debug']:
            result['api_calls'] = engine.calls
        return result

    exit_with(module, work, failures=(PlanError,))


if __name__ == '__main__':
    main()
