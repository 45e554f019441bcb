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
  - Promotions and demotions are guarded by quorum and always waited for (see O(node_connection) for how far);
    drains can wait until the node's tasks have moved away.
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
      - Nodes to act on (at least one), each by its ID, a unique prefix of its ID of 6 characters or more
        (C(docker node ls) shows 12), its hostname, a fully qualified name whose first label is the hostname, or
        the first label of a fully qualified hostname. Down nodes are found like live ones.
      - A name that fits several nodes is refused before anything changes, with each candidate's ID, hostname,
        status and role; name one by its ID. This is never settled by preferring one of them - in particular
        not the live node over the down entry with the same hostname that a node leaves behind when it left the
        swarm and joined again, since removing or draining the wrong one cannot be undone.
      - M(nativeswarm.cluster.docker_swarm_info) with O(nativeswarm.cluster.docker_swarm_info#module:name)
        resolves a name the same way, without changing anything.
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
      - Promotions and demotions are always waited for, whatever this option says; see O(node_connection).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds (more than 0) to wait for drains, role changes and (with O(state=absent)) the node to be down.
    type: int
    default: 300
  node_connection:
    description:
      - How to reach the Docker engine of the node whose role changes (with one node in O(name)), with the same
        keys as this module's connection options. The module checks before changing anything that this engine
        is that node (its node ID); an engine that does not answer is skipped with a warning.
      - Without it, a role change is waited for as far as the manager sees it - for a demotion, until the node
        is no longer a member of the Raft cluster (its manager status is gone); for a promotion, until it is a
        reachable member of it. The node's own engine can still run its manager for a moment after a demotion,
        and it receives its worker certificate a few seconds later (2 to 10 seconds); stopping that engine
        before then can leave a stale Raft member behind or make the engine fail on its next start.
      - With it, the module also waits until the node's own engine no longer runs a manager (its C(/info) says
        C(ControlAvailable=false)) after a demotion, or runs one after a promotion. After a demotion it also
        waits until the node's swarm certificate is a worker certificate when that certificate can be read on
        the host this module runs on (C(<DockerRootDir>/swarm/certificates/swarm-node.crt) of that engine, naming
        that node) - that is, when the module runs on the node's own host. The Engine API does not tell a
        certificate's role, so elsewhere this last step is not waited for, and the module warns.
      - RV(confirmed) lists what was seen.
    type: dict
    suboptions:
      docker_host:
        description: URL of the node's Docker Engine API.
        type: str
        default: unix:///var/run/docker.sock
        aliases: [docker_url]
      tls_hostname:
        description: Host name expected in the node engine's TLS certificate.
        type: str
      api_version:
        description: Engine API version, or V(auto).
        type: str
        default: auto
        aliases: [docker_api_version]
      timeout:
        description: Seconds (more than 0) to wait for one response.
        type: int
        default: 60
      ca_path:
        description: CA certificate that signed the node engine's certificate.
        type: path
        aliases: [ca_cert, tls_ca_cert, cacert_path]
      client_cert:
        description: Client certificate.
        type: path
        aliases: [tls_client_cert, cert_path]
      client_key:
        description: Key of the client certificate.
        type: path
        aliases: [tls_client_key, key_path]
      tls:
        description: Use TLS without checking the node engine's certificate.
        type: bool
        default: false
      validate_certs:
        description: Use TLS and check the node engine's certificate.
        type: bool
        default: false
        aliases: [tls_verify]
  labels:
    description:
      - Node labels to set.
      - Values are text; numbers and booleans are sent as the docker CLI would send them (V(1) as C("1"), V(true) as
        C("true")). A label without a key, without a value (V(null); use V('') for an empty one), or with a list or
        a mapping as value is refused.
    type: dict
  labels_state:
    description:
      - V(merge) adds O(labels) to the node's labels; V(replace) makes O(labels) the only labels.
    type: str
    choices: [merge, replace]
    default: merge
  labels_to_remove:
    description: Label keys to remove (none empty).
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
  - Every option and every name is checked, and the quorum guard applied, before any node changes.
  - A node that is still up is only removed once it is down, that is after it left the swarm (for example with
    M(nativeswarm.cluster.docker_swarm) O(nativeswarm.cluster.docker_swarm#module:state=absent) on it) or its
    engine stopped; the module waits O(wait_timeout) seconds for that.
  - On a swarm that has lost quorum (no leader) the module changes nothing and says so.
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

- name: Demote a manager for maintenance; return once its own engine runs no manager
  nativeswarm.cluster.docker_swarm_node:
    name: manager2
    role: worker
    allow_even_managers: true  # 3 managers become 2 until it is promoted again
    node_connection:
      docker_host: tcp://manager2.example.com:2376
      validate_certs: true
      ca_path: /etc/docker/certs/ca.pem
      client_cert: /etc/docker/certs/cert.pem
      client_key: /etc/docker/certs/key.pem

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
      rack: 7  # sent as the text "7", as the docker CLI does

- name: Remove labels
  nativeswarm.cluster.docker_swarm_node:
    name: worker1
    labels_to_remove: [disk, rack]

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
confirmed:
  description:
    - For each role change, what the module saw before it returned (see O(node_connection)).
  returned: always
  type: list
  elements: str
  sample: ['manager2: no longer a member of the Raft cluster (seen by the manager)',
           'manager2: its engine no longer runs a manager (its /info)',
           'manager2: its swarm certificate is a worker certificate (read on this host)']
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

import os
import time

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    CONNECTION_SUBOPTIONS, Engine, EngineError, connect, exit_with, new_module, nodes_unless_leaderless)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, certificate_role, check_node_request, find_node, is_manager, local_state, node_summary, plan_node,
    plan_node_removal, quorum_guard, quorum_lost_facts, running_tasks, MANAGER_ROLE, WORKER_ROLE)

CERTIFICATE = ('swarm', 'certificates', 'swarm-node.crt')


class NodeOperator:

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.labels = check_node_request(self.p)
        self.engine = connect(module)
        self.node_engine = self.node_info = None
        self.actions, self.changes, self.confirmed = [], [], []

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

    # -- the node's own engine ---------------------------------------------
    def connect_node(self, targets):
        """The engine of the one node named, from node_connection, checked to
        be that node before anything changes; None (with a warning) when it
        does not answer."""
        if not self.p['node_connection'] or not targets:
            return
        target = targets[0]
        try:
            engine = Engine(self.p['node_connection'], label='node_connection')
            info = engine.info()
        except ValueError as exc:
            raise PlanError('node_connection: %s' % exc)
        except EngineError as exc:
            self.module.warn('node_connection: %s does not answer (%s); only what the manager sees of %s is '
                             'waited for' % (self.p['node_connection'].get('docker_host'), exc,
                                             node_summary(target)['hostname']))
            return
        swarm = info.get('Swarm') or {}
        if swarm.get('NodeID') != target['ID']:
            raise PlanError('node_connection reaches the engine of %s, not of %s (%s): check node_connection; '
                            'nothing was changed'
                            % ('node %s' % swarm['NodeID'] if swarm.get('NodeID') else
                               'no swarm node (swarm state %s)' % (swarm.get('LocalNodeState') or 'unknown'),
                               node_summary(target)['hostname'], target['ID']))
        self.node_engine, self.node_info = engine, info

    def node_runs_manager(self):
        try:
            return bool((self.node_engine.info().get('Swarm') or {}).get('ControlAvailable'))
        except EngineError:
            return None  # restarting, or stopped: not settled

    def node_certificate_role(self, node_id):
        """The role in the node's swarm certificate, read where its engine keeps
        it, when that file is on this host and is that node's; else None."""
        root = self.node_info.get('DockerRootDir')
        if not root:
            return None
        try:
            with open(os.path.join(root, *CERTIFICATE)) as handle:
                return certificate_role(handle.read(), node_id)
        except (OSError, UnicodeDecodeError):
            return None

    def wait_role(self, node, role):
        """Wait for a role change as far as it can be seen: the manager's view,
        then (node_connection) the node's own engine and, after a demotion,
        its certificate when it can be read here."""
        name = node_summary(node)['hostname']
        if role == MANAGER_ROLE:
            self.wait(node, 'be a reachable manager', lambda: (self.inspect(node['ID']).get('ManagerStatus') or {})
                      .get('Reachability') == 'reachable')
            self.confirmed.append('%s: a reachable member of the Raft cluster (seen by the manager)' % name)
        else:
            self.wait(node, 'leave the Raft cluster', lambda: not self.inspect(node['ID']).get('ManagerStatus'))
            self.confirmed.append('%s: no longer a member of the Raft cluster (seen by the manager)' % name)
        if self.node_engine is None or self.node_info.get('Swarm', {}).get('NodeID') != node['ID']:
            if role == WORKER_ROLE:
                self.module.warn('%s is demoted as far as the manager sees; its own engine was not watched (no '
                                 'node_connection): it may run its manager a moment longer and gets its worker '
                                 'certificate a few seconds later. Do not stop that engine before then.' % name)
            return
        if role == MANAGER_ROLE:
            self.wait(node, 'run a manager (its own engine)', lambda: self.node_runs_manager() is True)
            self.confirmed.append('%s: its engine runs a manager (its /info)' % name)
            return
        self.wait(node, 'stop running a manager (its own engine)', lambda: self.node_runs_manager() is False)
        self.confirmed.append('%s: its engine no longer runs a manager (its /info)' % name)
        if self.node_certificate_role(node['ID']) is None:
            self.module.warn('%s: its swarm certificate cannot be read on the host this module runs on, so its '
                             'switch to a worker certificate (a few seconds after the demotion) was not waited '
                             'for; do not stop that engine before <DockerRootDir>/swarm/certificates/'
                             'swarm-node.crt there says OU=swarm-worker' % name)
            return
        self.wait(node, 'receive its worker certificate',
                  lambda: self.node_certificate_role(node['ID']) == WORKER_ROLE)
        self.confirmed.append('%s: its swarm certificate is a worker certificate (read on this host)' % name)

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
        plans = [(node, plan_node(node, role=self.p['role'], availability=self.p['availability'],
                                  labels=self.labels, labels_state=self.p['labels_state'],
                                  labels_to_remove=self.p['labels_to_remove'])) for node in targets]
        for node, (spec, changes) in plans:
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
        plans, remaining = [], nodes
        for node in targets:
            plans.append((node, plan_node_removal(node, remaining, force=self.p['force'],
                                                  allow_even=self.p['allow_even_managers'])))
            remaining = [n for n in remaining if n['ID'] != node['ID']]
        for node, actions in plans:
            for action in actions:
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

    def run(self):
        info = self.engine.info()
        local = local_state(info)
        if local['state'] != 'active' or not local['manager']:
            raise PlanError('docker_swarm_node must run against a manager; %s is %s'
                            % (self.engine.url, 'a worker' if local['state'] == 'active'
                               else 'in swarm state %s' % local['state']))
        nodes = nodes_unless_leaderless(self.engine)
        if nodes is None:
            raise PlanError('%s; nothing was changed' % quorum_lost_facts(info)['cluster_warnings'][0])
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
        self.connect_node(targets)
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
        result = dict(changed=bool(self.actions), actions=self.actions, changes=self.changes, nodes=summaries,
                      confirmed=self.confirmed)
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
            node_connection=dict(type='dict', options=CONNECTION_SUBOPTIONS),
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
