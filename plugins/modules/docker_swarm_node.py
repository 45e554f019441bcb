#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_swarm_node
short_description: Promote, demote, drain, label and safely remove swarm nodes from a manager
version_added: 0.1.0
description:
  - Runs against a manager (O(docker_host)) and changes one or more nodes of its swarm.
  - Promotions and demotions are guarded by quorum; drains can wait until the node's tasks have moved away.
  - O(state=absent) is the whole safe removal in one call - drain and wait, demote (guarded), wait for the
    node to be down, remove.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.docker
  - nativeswarm.cluster.docker.ATTRIBUTES
options:
  name:
    description:
      - Nodes to act on, each by ID, hostname, or a fully qualified name whose first label is the hostname.
      - Of several nodes with the same hostname (a node that left and joined again), the live one is meant;
        name a down duplicate by its ID.
      - Several managers named in one call are checked by the quorum guard together.
    type: list
    elements: str
    required: true
    aliases: [hostname, node]
  state:
    description:
      - V(present) keeps the nodes with the given role, availability and labels.
      - V(absent) removes them from the swarm (drain, wait, demote, wait until down, remove).
        A node that is not in the swarm is no change.
    type: str
    choices: [present, absent]
    default: present
  role:
    description: Role of the nodes (promote or demote).
    type: str
    choices: [manager, worker]
  availability:
    description: Scheduling availability of the nodes.
    type: str
    choices: [active, pause, drain]
  wait:
    description:
      - With O(availability=drain), wait until the swarm tasks on the nodes have stopped.
      - Promotions and demotions are always waited for.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for drains, role changes and (with O(state=absent)) the node to be down.
    type: int
    default: 300
  labels:
    description: Node labels to set.
    type: dict
  labels_state:
    description:
      - V(merge) adds O(labels) to the node's labels; V(replace) makes O(labels) the only labels.
    type: str
    choices: [merge, replace]
    default: merge
  labels_to_remove:
    description: Label keys to remove.
    type: list
    elements: str
  force:
    description:
      - With O(state=absent), remove nodes that are still up (a node gone for good) without waiting for them to
        be down. The quorum guard still applies to managers.
    type: bool
    default: false
  allow_even_managers:
    description: Allow a demotion or removal that leaves an even number of managers.
    type: bool
    default: false
notes:
  - A node that is still up is only removed once it is down, that is after it left the swarm (for example with
    M(nativeswarm.cluster.docker_swarm) O(nativeswarm.cluster.docker_swarm#module:state=absent) on it) or its
    engine stopped; the module waits O(wait_timeout) seconds for that.
seealso:
  - module: nativeswarm.cluster.docker_swarm
  - module: nativeswarm.cluster.docker_swarm_info
"""

EXAMPLES = r"""
---
- name: Promote a worker
  nativeswarm.cluster.docker_swarm_node:
    name: worker1
    role: manager

- name: Drain a node and wait until its tasks have moved away
  nativeswarm.cluster.docker_swarm_node:
    name: worker2.example.com
    availability: drain
    wait: true
    wait_timeout: 120

- name: Add labels (others are kept)
  nativeswarm.cluster.docker_swarm_node:
    name: worker1
    labels:
      zone: a
      disk: ssd

- name: Remove one label
  nativeswarm.cluster.docker_swarm_node:
    name: worker1
    labels_to_remove: [disk]

- name: Remove a node that is gone for good
  nativeswarm.cluster.docker_swarm_node:
    name: worker3
    state: absent
    force: true
"""

RETURN = r"""
actions:
  description: "What the module did (or would do in check mode), as C(<hostname>: <action>), in order."
  returned: always
  type: list
  elements: str
  sample: ['worker2: drain', 'worker2: wait_drained']
changes:
  description: Node settings that differ(ed), per node.
  returned: always
  type: list
  elements: dict
  sample: [{node: worker1, setting: role, before: worker, after: manager}]
nodes:
  description: The named nodes as they are after the module ran (removed nodes are left out).
  returned: always
  type: list
  elements: dict
  sample: [{id: 9ukbs3ioqs4vxijrzvkyvqppa, hostname: worker1, role: manager, availability: active,
            status: ready, address: 10.0.0.5, engine_version: 24.0.7, labels: {zone: a},
            manager_reachability: reachable, manager_address: 10.0.0.5:2377, leader: false}]
api_calls:
  description: Engine API requests the module made, in order.
  returned: when O(debug=true)
  type: list
  elements: str
  sample: [GET /info, GET /nodes]
"""

import time

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    connect, exit_with, new_module)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, find_node, is_manager, local_state, node_summary, plan_node, plan_node_removal, quorum_guard,
    running_tasks, MANAGER_ROLE, WORKER_ROLE)


class NodeOperator:

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.engine = connect(module)
        self.actions, self.changes = [], []

    def act(self, node, name):
        self.actions.append('%s: %s' % (node_summary(node)['hostname'], name))
        return not self.module.check_mode

    def wait(self, node, what, done):
        deadline = time.time() + self.p['wait_timeout']
        while not done():
            if time.time() > deadline:
                raise PlanError('timed out after %ds waiting for %s to %s'
                                % (self.p['wait_timeout'], node_summary(node)['hostname'], what))
            time.sleep(0.5)

    def inspect(self, node_id):
        return self.engine.node_inspect(node_id)

    def update(self, node, spec):
        self.engine.node_update(node['ID'], node['Version']['Index'], spec)
        return self.inspect(node['ID'])

    def wait_role(self, node, role):
        def settled():
            current = self.inspect(node['ID'])
            if role == MANAGER_ROLE:
                return (current.get('ManagerStatus') or {}).get('Reachability') == 'reachable'
            return not current.get('ManagerStatus')
        self.wait(node, 'become a %s' % role, settled)

    def wait_drained(self, node):
        # a node that went down cannot stop its tasks any more; the swarm
        # reschedules them elsewhere, so there is nothing left to wait for
        self.wait(node, 'have no running tasks',
                  lambda: (self.inspect(node['ID']).get('Status') or {}).get('State') == 'down'
                  or not running_tasks(self.engine.tasks({'node': node['ID']}), node['ID']))

    def wait_down(self, node):
        self.wait(node, 'be down (make it leave the swarm, stop its engine, or use force)',
                  lambda: (self.inspect(node['ID']).get('Status') or {}).get('State') == 'down')

    # -- state=present ------------------------------------------------------
    def present(self, targets, nodes):
        demoted = [n['ID'] for n in targets if self.p['role'] == WORKER_ROLE and is_manager(n)]
        quorum_guard(nodes, demoted, allow_even=self.p['allow_even_managers'])
        for node in targets:
            spec, changes = plan_node(node, role=self.p['role'], availability=self.p['availability'],
                                      labels=self.p['labels'], labels_state=self.p['labels_state'],
                                      labels_to_remove=self.p['labels_to_remove'])
            name = node_summary(node)['hostname']
            self.changes.extend(dict(change, node=name) for change in changes)
            if changes and self.act(node, 'update'):
                node = self.update(node, spec)
                if any(c['setting'] == 'role' for c in changes):
                    self.wait_role(node, spec['Role'])
            if self.p['wait'] and self.p['availability'] == 'drain':
                tasks = running_tasks(self.engine.tasks({'node': node['ID']}), node['ID'])
                if tasks and self.act(node, 'wait_drained'):
                    self.wait_drained(node)

    # -- state=absent -------------------------------------------------------
    def absent(self, targets, nodes):
        leaving = [n['ID'] for n in targets if is_manager(n)]
        quorum_guard(nodes, leaving, allow_even=self.p['allow_even_managers'])
        for node in targets:
            for action in plan_node_removal(node, nodes, force=self.p['force'],
                                            allow_even=self.p['allow_even_managers']):
                if not self.act(node, action):
                    continue
                if action == 'drain':
                    node = self.update(node, dict(node['Spec'], Availability='drain'))
                elif action == 'wait_drained':
                    self.wait_drained(node)
                elif action == 'demote':
                    node = self.update(self.inspect(node['ID']), dict(node['Spec'], Role=WORKER_ROLE))
                    self.wait_role(node, WORKER_ROLE)
                elif action == 'wait_down':
                    self.wait_down(node)
                else:
                    current = self.inspect(node['ID'])
                    self.engine.node_remove(node['ID'], force=(current.get('Status') or {}).get('State') != 'down')
            nodes = [n for n in nodes if n['ID'] != node['ID']]

    def run(self):
        local = local_state(self.engine.info())
        if local['state'] != 'active' or not local['manager']:
            raise PlanError('docker_swarm_node must run against a manager; %s is %s'
                            % (self.engine.url, 'a worker' if local['state'] == 'active'
                               else 'in swarm state %s' % local['state']))
        nodes = self.engine.nodes()
        targets, missing = [], []
        for name in self.p['name']:
            node = find_node(nodes, name)
            if node is None:
                missing.append(name)
            elif node['ID'] not in [t['ID'] for t in targets]:
                targets.append(node)
        if missing and self.p['state'] == 'present':
            raise PlanError('no node named %s in this swarm (nodes: %s)' % (
                ', '.join(missing), ', '.join(sorted(node_summary(n)['hostname'] for n in nodes))))
        if self.p['state'] == 'present':
            self.present(targets, nodes)
        else:
            self.absent(targets, nodes)
        return self.result(targets)

    def result(self, targets):
        summaries = [node_summary(n) for n in targets]
        before = dict((s['hostname'], view(s)) for s in summaries)
        after = {}
        if self.p['state'] == 'absent':
            summaries = []
        else:
            if self.actions and not self.module.check_mode:
                summaries = [node_summary(self.inspect(n['ID'])) for n in targets]
            after = dict((s['hostname'], view(s)) for s in summaries)
            for change in self.changes:
                after[change['node']][change['setting']] = change['after']
        result = dict(changed=bool(self.actions), actions=self.actions, changes=self.changes, nodes=summaries)
        if self.actions:
            result['diff'] = dict(before=before, after=after)
        if self.p['debug']:
            result['api_calls'] = self.engine.calls
        return result


def view(summary):
    return dict((key, summary[key]) for key in ('role', 'availability', 'labels'))


def main():
    module = new_module(
        argument_spec=dict(
            name=dict(type='list', elements='str', required=True, aliases=['hostname', 'node']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            role=dict(type='str', choices=['manager', 'worker']),
            availability=dict(type='str', choices=['active', 'pause', 'drain']),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=300),
            labels=dict(type='dict'),
            labels_state=dict(type='str', default='merge', choices=['merge', 'replace']),
            labels_to_remove=dict(type='list', elements='str'),
            force=dict(type='bool', default=False),
            allow_even_managers=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    exit_with(module, lambda: NodeOperator(module).run(), failures=(PlanError,))


if __name__ == '__main__':
    main()
