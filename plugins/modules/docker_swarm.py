#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_swarm
short_description: Manage this node's Docker Swarm membership and the cluster's settings
version_added: 0.1.0
description:
  - Initializes a swarm, joins this node to one as manager or worker, or makes it leave.
  - A joining node gets its join token from a reachable manager by itself (O(manager)); nobody copies tokens.
    It checks that an already joined node belongs to the B(same) cluster, and changes its role through a manager
    when it differs.
  - Keeps the cluster settings (Raft, dispatcher, CA, autolock, labels) as asked, rotates join tokens, the unlock
    key and the root CA, and unlocks a locked manager after an engine restart.
  - Demoting or removing a manager is guarded by quorum (see O(allow_even_managers) and O(force)).
  - Validates, plans, then acts. Every option is checked, and a join's token, addresses and target swarm are
    checked (see O(probe_remote_addrs)), before the first step that changes the node; a plan that cannot finish
    does not start, also in check mode.
  - A join the engine does not complete is undone. The engine itself stops waiting after 20 seconds and goes on
    trying in the background (swarm state C(pending)), as a busy swarm may need; the module waits up to
    O(wait_timeout) more, then makes the node give the attempt up, and the failure says in which state it is and
    what to check.
  - Runs against the engine of the node it manages (O(docker_host)).
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.docker
  - nativeswarm.cluster.swarm_settings
  - nativeswarm.cluster.docker.ATTRIBUTES
options:
  state:
    description:
      - V(present) makes this node a manager of a swarm, initializing one if the node is in none, and applies the
        cluster settings.
      - V(join) makes this node a member of the swarm at O(remote_addrs) (or the one O(manager) leads) with
        O(role).
      - V(absent) makes this node leave its swarm. A manager is first demoted, if the quorum guard allows it.
    type: str
    choices: [present, join, absent]
    default: present
  role:
    description:
      - Role of this node with O(state=join).
    type: str
    choices: [manager, worker]
    default: worker
  remote_addrs:
    description:
      - Addresses (C(host) or C(host:port), port 2377 by default) of managers of the swarm to join.
      - Defaults to the addresses of the reachable managers that O(manager) knows.
      - The engine joins through the first address only; the module puts the addresses that answer as managers of
        the right swarm first (see O(probe_remote_addrs)).
    type: list
    elements: str
  join_token:
    description:
      - Token to join with. Leave it out to have the module fetch the right one from O(manager).
      - With O(manager), the token is checked before joining to be a current token of the swarm the manager leads
        and of O(role).
      - Without O(manager), the swarm the token belongs to is checked before joining against the root CA the
        managers at O(remote_addrs) serve, but its role cannot be known; a token carries the digest of its swarm's
        CA and a secret, not its role, and only a manager can tell. A node that joins with the other kind of token
        leaves again, and the failure names the node entry that stays behind in the swarm's node list (Down) and
        the command that removes it from a manager. Give O(manager) to rule this out.
    type: str
  manager:
    description:
      - How to reach a manager of the swarm to join, with the same keys as this module's connection options.
      - Used to fetch the join token, to check that this node is in the right cluster, and to promote or demote
        it.
      - Needed to promote this node, and to leave another swarm for this one (O(force)), so that the join token's
        role is checked before this node leaves.
      - When a join through it fails after the node got an entry in the node list, the entry is removed through
        the manager.
    type: dict
    suboptions:
      docker_host:
        description: URL of the manager's Docker Engine API.
        type: str
        default: unix:///var/run/docker.sock
        aliases: [docker_url]
      tls_hostname:
        description: Host name expected in the manager's TLS certificate.
        type: str
      api_version:
        description: Engine API version, or V(auto).
        type: str
        default: auto
        aliases: [docker_api_version]
      timeout:
        description: Seconds to wait for one response.
        type: int
        default: 60
      ca_path:
        description: CA certificate that signed the manager engine's certificate.
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
        description: Use TLS without checking the manager's certificate.
        type: bool
        default: false
      validate_certs:
        description: Use TLS and check the manager's certificate.
        type: bool
        default: false
        aliases: [tls_verify]
  advertise_addr:
    description:
      - Address (or interface name) other nodes reach this node at, optionally with a port.
      - Used when initializing or joining.
    type: str
  listen_addr:
    description:
      - Address and port this node listens on for cluster traffic, when initializing or joining.
    type: str
    default: 0.0.0.0:2377
  data_path_addr:
    description:
      - Address (or interface name) for data traffic (overlay networks), when initializing or joining.
    type: str
  availability:
    description:
      - Availability of this node. It is given to the engine when the node initializes or joins (V(drain) keeps
        tasks off managers from birth).
      - A node already in the swarm gets it through its own engine when it is a manager, through O(manager) when
        it is a worker; a worker without O(manager) keeps the availability it has.
    type: str
    choices: [active, pause, drain]
  node_labels:
    description:
      - Labels of this node's entry in the swarm's node list (not the cluster's O(labels)), with O(state=present)
        or O(state=join); set in the same run as the init or join, and kept on later runs, in one node update
        when they differ.
      - Set through this node's engine when it is (or becomes) a manager; a worker's are set through O(manager),
        and without O(manager) the module refuses before changing anything (a worker cannot change its own
        entry; use M(nativeswarm.cluster.docker_swarm_node) on a manager).
      - Values are text; numbers and booleans become the text the docker CLI would send.
    type: dict
  node_labels_state:
    description:
      - V(merge) adds O(node_labels) to the node's labels; V(replace) makes them the only ones.
    type: str
    choices: [merge, replace]
    default: merge
  rotate_worker_token:
    description: Rotate the worker join token; the old one stops working. Always a change.
    type: bool
    default: false
  rotate_manager_token:
    description: Rotate the manager join token; the old one stops working. Always a change.
    type: bool
    default: false
  rotate_unlock_key:
    description:
      - Rotate the unlock key of an autolocked swarm. Always a change.
      - Refused when the swarm is not autolocked and O(autolock_managers=true) is not given with it.
    type: bool
    default: false
  rotate_ca:
    description: Force a rotation of the root CA and every node certificate. Always a change.
    type: bool
    default: false
  unlock_key:
    description:
      - Key to unlock this manager when its swarm is locked (autolock after an engine restart).
    type: str
  return_join_tokens:
    description:
      - Return the join tokens in RV(join_tokens). Secrets; use C(no_log) on the task.
    type: bool
    default: false
  return_unlock_key:
    description:
      - Return the unlock key in RV(unlock_key). A secret; use C(no_log) on the task.
    type: bool
    default: false
  allow_even_managers:
    description:
      - Allow a demotion or a leave that leaves an even number of managers.
    type: bool
    default: false
  force_new_cluster:
    description:
      - With O(state=present), on a manager whose swarm has no leader (a majority of its managers is gone for
        good, or its swarm directory was restored from a backup), re-form the control plane from this node's own
        Raft state with this node as the only manager, as C(docker swarm init --force-new-cluster) does. The swarm
        keeps its ID, services, networks, secrets, configs and nodes; the other managers stay in the node list,
        down, until they are removed.
      - Nothing is done when the swarm has a leader, so a second run changes nothing. Refused, before anything
        changes, on an engine that is not a manager holding the swarm's Raft state.
      - Never use it while the other managers may come back with their own state; they could elect a leader of
        their own. Clear their swarm state first.
      - A locked manager (O(unlock_key)) is unlocked first; Debian's dockerd 20.10 only answers that unlock once
        the swarm has a leader.
    type: bool
    default: false
  force:
    description:
      - With O(state=join), leave another swarm this node is in before joining (needs O(manager)), or give up a
        join that has not completed (swarm state C(pending) or C(error)).
      - With O(state=absent), leave without the quorum guard (the last manager's leave destroys the swarm).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a join, promotion or demotion to take effect on this node; 0 or more.
    type: int
    default: 60
  probe_remote_addrs:
    description:
      - Before a join, and to tell whether an active node is in the requested swarm when the addresses alone do
        not show it, connect from the host this module runs on to the swarm port of every address of
        O(remote_addrs) (5 seconds at most each, all at once) and ask it who it is. A swarm manager answers with
        TLS and a certificate naming the cluster ID (O) and its role (OU C(swarm-manager)), and serves its
        swarm's root CA, whose digest a join token carries.
      - The join is refused before anything changes when no address answers, none is a swarm manager, they lead
        to different swarms or to another swarm than O(manager), or the token belongs to another swarm.
      - Set V(false) when the host this module runs on cannot reach the managers' swarm port although the node
        can (for example the module runs on a controller and manages the node through a TCP O(docker_host)). The
        engine then is the only check, and a join it cannot complete is still undone.
    type: bool
    default: true
notes:
  - The unlock key, join tokens and CA key are never returned or logged unless asked for (O(return_join_tokens),
    O(return_unlock_key)).
  - O(data_path_port), O(default_addr_pool) and O(subnet_size) are set at initialization only; a difference on an
    existing swarm is reported as a warning.
  - A node that left stays in the node list as C(down); remove it with M(nativeswarm.cluster.docker_swarm_node).
  - When a join fails, the failure says which swarm state the node is in afterwards, whether it left a node entry
    in the swarm's node list and how to remove it, and what to check next. The result's C(changed) is true only
    when the node or the swarm differs from before the task.
seealso:
  - module: nativeswarm.cluster.docker_swarm_node
  - module: nativeswarm.cluster.docker_swarm_info
"""

EXAMPLES = r"""
---
- name: Initialize the swarm on the first manager
  nativeswarm.cluster.docker_swarm:
    state: present
    advertise_addr: eth0
    snapshot_interval: 10000
    dispatcher_heartbeat_period: 5
    node_labels:
      zone: eu-west-1a
  register: swarm

- name: Join another manager (the token is fetched from the first manager)
  nativeswarm.cluster.docker_swarm:
    state: join
    role: manager
    manager:
      docker_host: tcp://manager1.example.com:2376
      validate_certs: true
      ca_path: /etc/docker/certs/ca.pem
      client_cert: /etc/docker/certs/cert.pem
      client_key: /etc/docker/certs/key.pem

- name: Join a worker with a token obtained elsewhere
  nativeswarm.cluster.docker_swarm:
    state: join
    role: worker
    remote_addrs: [192.0.2.11, 192.0.2.12]
    join_token: "{{ worker_token }}"
  no_log: true

- name: Rotate the worker token
  nativeswarm.cluster.docker_swarm:
    rotate_worker_token: true

- name: Turn autolock on and keep the key
  nativeswarm.cluster.docker_swarm:
    autolock_managers: true
    return_unlock_key: true
  register: locked
  no_log: true

- name: Unlock this manager after an engine restart
  nativeswarm.cluster.docker_swarm:
    unlock_key: "{{ vault_swarm_unlock_key }}"

- name: Re-form the control plane on the one manager left (or restored from a backup)
  nativeswarm.cluster.docker_swarm:
    force_new_cluster: true
    advertise_addr: 192.0.2.11

- name: Leave the swarm (a manager is demoted first if quorum allows)
  nativeswarm.cluster.docker_swarm:
    state: absent
"""

RETURN = r"""
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [join]
changes:
  description:
    - Cluster settings that differ(ed), with their API path and values, and this node's own settings
      (C(node.availability), C(node.labels); see O(node_labels)).
  returned: always
  type: list
  elements: dict
  sample: [{setting: Raft.SnapshotInterval, before: 10000, after: 5000}]
node_id:
  description: ID of this node in its swarm; empty when it is in none.
  returned: always
  type: str
  sample: 9ukbs3ioqs4vxijrzvkyvqppa
cluster_id:
  description: ID of the swarm; only known on managers (and on workers through O(manager)).
  returned: always
  type: str
  sample: lgkmd9sq8vkmmbklzp7n9j1ai
role:
  description: Role of this node, V(manager) or V(worker); empty when it is in no swarm.
  returned: always
  type: str
  sample: manager
local_node_state:
  description: Swarm state of this node's engine (inactive, pending, active, locked, error).
  returned: always
  type: str
  sample: active
manager_addresses:
  description:
    - The managers' swarm addresses (C(host:port)) this node's engine knows (C(Swarm.RemoteManagers) of its C(/info)),
      ready for O(remote_addrs) of a join; empty when the node is in no swarm.
  returned: always
  type: list
  elements: str
  sample: ['10.0.0.11:2377']
cluster_spec:
  description: The cluster spec as the Engine API returns it.
  returned: when this node is a manager
  type: dict
  sample: {Name: default, Raft: {SnapshotInterval: 10000}}
join_tokens:
  description: The join tokens.
  returned: when O(return_join_tokens=true)
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
unlock_key:
  description: The unlock key, empty when autolock is off.
  returned: when O(return_unlock_key=true)
  type: str
  sample: SWMKEY-1-xxxx
api_calls:
  description:
    - Engine API requests the module made, in order (those to O(manager) prefixed with C(manager:)), then the
      swarm ports it probed (C(probe host:port), see O(probe_remote_addrs)).
  returned: when O(debug=true)
  type: list
  elements: str
  sample: [GET /info, GET /swarm]
"""

import time

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    CONNECTION_SUBOPTIONS, EngineError, connect, exit_with, new_module, nodes_unless_leaderless)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, check_own_node, check_settings, check_spec, cluster_labels, desired_spec, join_failure_advice,
    join_request, join_targets, local_state, membership, membership_after, membership_view, merged_spec, normal_addr, own_node_route,
    plan_force_new_cluster, plan_membership, plan_node, root_ca_change, spec_changes, CLUSTER_SETTINGS_SPEC, MANAGER_ROLE, WORKER_ROLE)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm_probe import probe_all

INIT_ONLY = (('data_path_port', 'DataPathPort'), ('default_addr_pool', 'DefaultAddrPool'),
             ('subnet_size', 'SubnetSize'))
PROBE_TIMEOUT = 5


class SwarmMembership:

    def __init__(self, module):
        self.module = module
        self.p = module.params
        check_settings(self.p)
        check_own_node(self.p['state'], self.p['role'], bool(self.p['manager']), self.p['node_labels'])
        self.node_labels = cluster_labels(self.p['node_labels']) if self.p['node_labels'] is not None else None
        self.engine = connect(module)
        self.manager = connect(module, self.p['manager'], label='manager') if self.p['manager'] else None
        self.actions = []
        self.changes = []
        self.warnings = []
        self.info = {}
        self.cluster = None
        self.manager_cluster = None
        self.initial = None
        self.join = None
        self.probes = {}
        self.probed = []
        self.engine_gave_up = None

    # -- helpers ----------------------------------------------------------
    def fail(self, msg, changed=None):
        if changed is None:
            changed = bool(self.actions) and not self.module.check_mode
        self.module.fail_json(msg=msg, changed=changed, actions=self.actions, changes=self.changes)

    def local(self):
        self.info = self.engine.info()
        return local_state(self.info)

    def wait_local(self, predicate, what, on_timeout=None):
        deadline = time.time() + self.p['wait_timeout']
        while True:
            local = self.local()
            if predicate(local):
                return local
            if time.time() > deadline:
                reason = ('timed out after %ds waiting for this node to %s (state %s, manager %s)'
                          % (self.p['wait_timeout'], what, local['state'], local['manager']))
                if on_timeout is not None:
                    return on_timeout(reason)
                self.fail(reason)
            time.sleep(0.5)

    def manager_engine(self, local):
        """A manager to run node updates through: O(manager), else this node."""
        if self.manager:
            return self.manager
        if local['manager']:
            return self.engine
        return None

    def probe(self, addrs):
        """What the swarm ports at ``addrs`` say about themselves (each asked once)."""
        wanted = [a for a in addrs if a not in self.probes]
        for result in probe_all(wanted, timeout=PROBE_TIMEOUT):
            self.probes[result['addr']] = result
            self.probed.append('probe %s' % result['addr'])
        return [self.probes[a] for a in addrs]

    # -- plan ---------------------------------------------------------------
    def run(self):
        local = self.initial = self.local()
        if local['state'] == 'locked' and self.p['unlock_key']:
            self.actions.append('unlock')
            if self.module.check_mode:
                return self.result(local)
            self.engine.swarm_unlock(self.p['unlock_key'])
            local = self.wait_local(lambda s: s['state'] != 'locked', 'unlock')
        if self.p['force_new_cluster'] and self.p['state'] == 'present':
            local = self.force_new_cluster(local)
            if self.module.check_mode and self.actions:
                return self.result(local)
        nodes, same = None, None
        mgr = self.manager_engine(local)
        if self.p['state'] in ('absent', 'join') and local['state'] == 'active' and mgr is not None:
            nodes = mgr.nodes()
        if self.p['state'] == 'join' and local['state'] == 'active':
            same = self.same_cluster(local, nodes)
        plan = plan_membership(self.p['state'], local, role=self.p['role'], same_cluster=same,
                               force=self.p['force'], unlock_key=self.p['unlock_key'], nodes=nodes,
                               allow_even=self.p['allow_even_managers'], via_manager=self.manager is not None)
        self.check_plan(plan, nodes)
        for action in plan:
            local = getattr(self, 'do_' + action)(local, nodes)
        return self.result(self.own_node(local))

    def check_plan(self, plan, nodes):
        """Everything the plan needs, read and checked before its first step."""
        if 'init' in plan:
            check_spec(self.p, None)
        if 'update' in plan:
            self.cluster = self.engine.swarm_inspect()
            check_spec(self.p, self.cluster.get('Spec'))
        if 'join' in plan:
            manager_nodes = None
            if self.manager is not None:
                self.manager_cluster = self.manager.swarm_inspect()
                if not self.p['remote_addrs']:
                    manager_nodes = nodes if nodes is not None else self.manager.nodes()
            request = join_request(self.p['role'], token=self.p['join_token'], remote_addrs=self.p['remote_addrs'],
                                   cluster=self.manager_cluster, manager_nodes=manager_nodes)
            probes = self.probe(request['addrs']) if self.p['probe_remote_addrs'] else None
            targets = join_targets(request, probes)
            self.warnings.extend(targets['warnings'])
            self.join = dict(request, addrs=targets['addrs'], cluster_id=targets['cluster_id'])

    def same_cluster(self, local, nodes):
        trust_root = None
        if local['manager'] and self.p['join_token']:
            trust_root = (((self.info.get('Swarm') or {}).get('Cluster') or {}).get('TLSInfo') or {}).get('TrustRoot')
        node_ids = set(n['ID'] for n in nodes) if self.manager and nodes is not None else None
        verdict = membership(local, self.p['remote_addrs'], manager_node_ids=node_ids, trust_root=trust_root,
                             token=self.p['join_token'])
        if (verdict == 'other' and node_ids is None and not (trust_root and self.p['join_token'])
                and self.p['remote_addrs'] and self.p['probe_remote_addrs']):
            # the addresses differ from the ones this node knows: ask both sides which swarm they serve
            own = local['cluster_id']
            if not own:
                own_managers = [normal_addr(a) for a in local['remote_managers'] if a]
                own = next((p['cluster_id'] for p in self.probe(own_managers) if p['manager']), None)
            targets = self.probe([normal_addr(a) for a in self.p['remote_addrs']])
            verdict = membership(local, self.p['remote_addrs'], own_cluster=own,
                                 target_clusters=set(p['cluster_id'] for p in targets
                                                     if p['manager'] and p['cluster_id']))
        return verdict

    def force_new_cluster(self, local):
        """Re-form the control plane from this manager's Raft state when its swarm has no leader."""
        leaderless = False
        if local['state'] in ('active', 'pending') and local['manager']:
            leaderless = nodes_unless_leaderless(self.engine) is None
        if not plan_force_new_cluster(local, leaderless) or not self.act('force_new_cluster'):
            return local
        self.engine.swarm_init(dict(ListenAddr=self.p['listen_addr'], AdvertiseAddr=self.p['advertise_addr'] or '',
                                    DataPathAddr=self.p['data_path_addr'] or '', ForceNewCluster=True, Spec={}))
        local = self.wait_local(lambda s: s['state'] == 'active' and s['manager'], 'lead the swarm it re-formed')
        if nodes_unless_leaderless(self.engine, grace=self.p['wait_timeout']) is None:
            self.fail('force_new_cluster: the swarm still has no leader %d seconds later' % self.p['wait_timeout'])
        return local

    def act(self, name):
        """Record an action; True when it should really be carried out."""
        self.actions.append(name)
        return not self.module.check_mode

    # -- actions --------------------------------------------------------------
    def do_init(self, local, nodes):
        wanted = desired_spec(self.p)
        self.changes = spec_changes({}, wanted)
        spec = merged_spec({}, wanted)
        if self.p['signing_ca_cert']:
            spec.setdefault('CAConfig', {}).update(SigningCACert=self.p['signing_ca_cert'],
                                                   SigningCAKey=self.p['signing_ca_key'] or '')
        body = dict(ListenAddr=self.p['listen_addr'], AdvertiseAddr=self.p['advertise_addr'] or '',
                    DataPathAddr=self.p['data_path_addr'] or '', ForceNewCluster=False, Spec=spec)
        for option, key in INIT_ONLY:
            if self.p[option] is not None:
                body[key] = self.p[option]
        if self.p['availability']:
            body['Availability'] = self.p['availability']
        if self.act('init'):
            self.engine.swarm_init(body)
            local = self.local()
        return local

    def do_update(self, local, nodes):
        cluster = self.cluster
        wanted = desired_spec(self.p)
        self.changes = spec_changes(cluster.get('Spec'), wanted)
        spec = merged_spec(cluster.get('Spec'), wanted)
        for option, key in INIT_ONLY:
            if self.p[option] is not None and self.p[option] != cluster.get(key):
                self.warnings.append('%s is %r on this swarm; it is set at initialization only and stays'
                                     % (option, cluster.get(key)))
        ca = spec.setdefault('CAConfig', {})
        trust_root = (cluster.get('TLSInfo') or {}).get('TrustRoot')
        ca_change = root_ca_change(self.p['signing_ca_cert'], trust_root)
        if ca_change:
            self.changes.append(ca_change)
            ca.update(SigningCACert=self.p['signing_ca_cert'], SigningCAKey=self.p['signing_ca_key'] or '')
        rotations = dict((name, self.p[name]) for name in ('rotate_worker_token', 'rotate_manager_token',
                                                           'rotate_unlock_key', 'rotate_ca'))
        if rotations['rotate_ca']:
            ca['ForceRotate'] = int(ca.get('ForceRotate') or 0) + 1
        for name, wanted_rotation in rotations.items():
            if wanted_rotation:
                self.actions.append(name)
        if not self.changes and not any(rotations.values()):
            return local
        if self.act('update'):
            self.engine.swarm_update(cluster['Version']['Index'], spec,
                                     rotate_worker_token=rotations['rotate_worker_token'],
                                     rotate_manager_token=rotations['rotate_manager_token'],
                                     rotate_unlock_key=rotations['rotate_unlock_key'])
        return local

    def do_join(self, local, nodes):
        role, join = self.p['role'], self.join
        body = dict(ListenAddr=self.p['listen_addr'], AdvertiseAddr=self.p['advertise_addr'] or '',
                    DataPathAddr=self.p['data_path_addr'] or '', RemoteAddrs=join['addrs'],
                    JoinToken=join['token'])
        if self.p['availability']:
            body['Availability'] = self.p['availability']
        if not self.act('join'):
            return local
        try:
            self.engine.swarm_join(body)
        except EngineError as exc:
            # the engine stops waiting after its own 20 seconds and goes on joining in the background
            # (pending), which a busy swarm signing many certificates at once may need: wait for that
            # join up to wait_timeout like for any other; give it up only then
            local = self.local()
            if local['state'] not in ('active', 'pending'):
                self.join_failed(local, str(exc))
            self.engine_gave_up = str(exc)
        local = self.wait_local(lambda s: s['state'] == 'active', 'become an active member',
                                on_timeout=lambda reason: self.join_failed(self.local(), reason if not self.engine_gave_up
                                                                           else '%s; still not joined %d seconds later'
                                                                           % (self.engine_gave_up.rstrip('.'),
                                                                              self.p['wait_timeout'])))
        if role == MANAGER_ROLE and not local['manager']:
            if join['role_checked']:
                # a manager token: its control plane comes up a moment after the join
                local = self.wait_local(lambda s: s['manager'], 'act as a manager')
            else:
                deadline = time.time() + 5
                while not local['manager'] and time.time() < deadline:
                    time.sleep(0.5)
                    local = self.local()
        if local['manager'] != (role == MANAGER_ROLE):
            self.wrong_role_joined(local, role)
        if self.manager is not None and local['node_id'] not in [n['ID'] for n in self.manager.nodes()]:
            self.fail('joined, but the manager does not list this node (%s)' % local['node_id'])
        return local

    def remove_entry(self, node_id):
        """Remove the node entry a failed join left on the swarm, through O(manager);
        True when it is gone (or never existed)."""
        if not node_id:
            return True
        if self.manager is None:
            return False
        try:
            if node_id in [n['ID'] for n in self.manager.nodes()]:
                self.manager.node_remove(node_id, force=True)
                self.actions.append('remove_node_entry')
            return True
        except EngineError:
            return False

    def stale_entry_advice(self, node_id):
        return (' Its node entry %s stays in the swarm\'s node list (Down): remove it on a manager with '
                '"docker node rm --force %s" (or nativeswarm.cluster.docker_swarm_node name=%s state=absent '
                'force=true).' % (node_id, node_id, node_id))

    def join_failed(self, local, reason):
        """Undo a join the engine could not complete, then fail saying where the node is."""
        target = self.join['addrs'][0]
        left_in = local['state'] if local['state'] in ('pending', 'error') else None
        node_id = local['node_id']
        if left_in:
            self.engine.swarm_leave(force=True)
            self.actions.append('leave_force')
            local = self.local()
        gone = self.remove_entry(node_id)
        msg = 'could not join the swarm through %s: %s.' % (target, reason.rstrip('.'))
        if left_in:
            msg += (' The attempt had left this node in swarm state %s (its engine would go on trying in the '
                    'background); it was made to give the attempt up.' % left_in)
        msg += ' This node is in swarm state %s now%s.' % (
            local['state'], ', as before' if local['state'] == self.initial['state'] else '')
        if not gone:
            msg += self.stale_entry_advice(node_id)
        msg += ' ' + join_failure_advice(reason, target, checked_from_here=bool(self.probes))
        self.fail(msg, changed=local['state'] != self.initial['state'] or not gone)

    def wrong_role_joined(self, local, role):
        """The token was of the other role (it could not be checked without O(manager)): leave again."""
        got = MANAGER_ROLE if local['manager'] else WORKER_ROLE
        node_id = local['node_id']
        if local['manager']:
            self.set_role(local, self.engine, WORKER_ROLE)  # leave Raft cleanly first
            self.actions.append('demote')
        self.engine.swarm_leave(force=True)
        self.actions.append('leave_force')
        local = self.local()
        gone = self.remove_entry(node_id)
        msg = ('join_token is a %s token, but role=%s: this node joined as a %s and left the swarm again; it is in '
               'swarm state %s now.' % (got, role, got, local['state']))
        if not gone:
            msg += self.stale_entry_advice(node_id)
        if self.manager is None:
            msg += ' Set manager to have the token\'s role checked before joining, or give a %s token.' % role
        self.fail(msg, changed=local['state'] != self.initial['state'] or not gone)

    def set_role(self, local, engine, role):
        node = engine.node_inspect(local['node_id'])
        spec = dict(node['Spec'], Role=role)
        engine.node_update(node['ID'], node['Version']['Index'], spec)
        return self.wait_local(lambda s: s['manager'] == (role == MANAGER_ROLE), 'become a %s' % role)

    def do_promote(self, local, nodes):
        if self.act('promote'):
            local = self.set_role(local, self.manager, MANAGER_ROLE)
        return local

    def do_demote(self, local, nodes):
        if self.act('demote'):
            local = self.set_role(local, self.manager_engine(local), WORKER_ROLE)
        return local

    def do_leave(self, local, nodes):
        if self.act('leave'):
            self.engine.swarm_leave(force=False)
            local = self.local()
        return local

    def do_leave_force(self, local, nodes):
        if self.act('leave_force'):
            self.engine.swarm_leave(force=True)
            local = self.local()
        return local

    def own_node(self, local):
        """This node's availability and labels in the node list, updated in one
        call where they differ (a worker's through O(manager))."""
        labels, availability = self.node_labels, self.p['availability']
        if labels is None and not availability:
            return local
        if own_node_route(self.p['state'], self.p['role'], self.manager is not None) is None:
            return local  # a worker's availability is given at its join only
        if not local['node_id']:  # check mode: not in the swarm yet, the join sets the availability
            if labels:
                self.actions.append('update_node')
                self.changes.append(dict(setting='node.labels', before={}, after=labels))
            return local
        engine = self.engine if local['manager'] else self.manager
        if engine is None:  # check mode: a promotion that has not happened
            return local
        node = engine.node_inspect(local['node_id'])
        spec, changes = plan_node(node, availability=availability, labels=labels,
                                  labels_state=self.p['node_labels_state'])
        if changes:
            self.changes.extend(dict(change, setting='node.' + change['setting']) for change in changes)
            if self.act('update_node'):
                engine.node_update(node['ID'], node['Version']['Index'], spec)
        return local

    # -- result ---------------------------------------------------------------
    def result(self, local):
        result = dict(changed=bool(self.actions), actions=self.actions, changes=self.changes,
                      node_id=local['node_id'] or '', cluster_id=local['cluster_id'] or '',
                      role=(MANAGER_ROLE if local['manager'] else WORKER_ROLE) if local['node_id'] else '',
                      local_node_state=local['state'],
                      manager_addresses=[addr for addr in local['remote_managers'] if addr])
        secrets_wanted = self.p['return_join_tokens'] or self.p['return_unlock_key']
        if local['state'] == 'active' and local['manager']:
            # what do_update read is still current unless something was done
            cluster = self.cluster if self.cluster and not self.actions else self.engine.swarm_inspect()
            result['cluster_id'] = cluster.get('ID')
            result['cluster_spec'] = cluster.get('Spec')
            source, tokens = self.engine, cluster.get('JoinTokens') or {}
        elif self.manager is not None and local['state'] == 'active':
            cluster = {}
            if secrets_wanted or not result['cluster_id']:
                cluster = self.manager_cluster or self.manager.swarm_inspect()
            result['cluster_id'] = result['cluster_id'] or cluster.get('ID', '')
            source, tokens = self.manager, cluster.get('JoinTokens') or {}
        else:
            source, tokens = None, {}
        if secrets_wanted and source is None and not self.module.check_mode:
            what = 'a worker' if local['state'] == 'active' else 'in swarm state %s' % local['state']
            self.fail('join tokens and the unlock key are known to managers only: this node is %s; '
                      'run this on a manager or set manager' % what)
        if self.p['return_join_tokens'] and source is not None:
            result['join_tokens'] = dict(worker=tokens.get('Worker'), manager=tokens.get('Manager'))
        if self.p['return_unlock_key'] and source is not None:
            result['unlock_key'] = source.swarm_unlock_key() or ''
        if self.actions:
            before = membership_view(self.initial)
            after = membership_after(self.initial, self.actions, self.p['role'])
            for change in self.changes:
                before[change['setting']], after[change['setting']] = change['before'], change['after']
            result['diff'] = dict(before=before, after=after)
        if self.p['debug']:
            result['api_calls'] = (self.engine.calls + ['manager: ' + c for c in
                                                        (self.manager.calls if self.manager else [])]
                                   + self.probed)
        for warning in self.warnings:
            self.module.warn(warning)
        return result


def main():
    module = new_module(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'join', 'absent']),
            role=dict(type='str', default='worker', choices=['manager', 'worker']),
            remote_addrs=dict(type='list', elements='str'),
            join_token=dict(type='str', no_log=True),
            manager=dict(type='dict', options=CONNECTION_SUBOPTIONS),
            advertise_addr=dict(type='str'),
            listen_addr=dict(type='str', default='0.0.0.0:2377'),
            data_path_addr=dict(type='str'),
            data_path_port=dict(type='int'),
            default_addr_pool=dict(type='list', elements='str'),
            subnet_size=dict(type='int'),
            availability=dict(type='str', choices=['active', 'pause', 'drain']),
            node_labels=dict(type='dict'),
            node_labels_state=dict(type='str', default='merge', choices=['merge', 'replace']),
            signing_ca_cert=dict(type='str'),
            signing_ca_key=dict(type='str', no_log=True),
            rotate_worker_token=dict(type='bool', default=False),
            rotate_manager_token=dict(type='bool', default=False),
            rotate_unlock_key=dict(type='bool', default=False),
            rotate_ca=dict(type='bool', default=False),
            unlock_key=dict(type='str', no_log=True),
            return_join_tokens=dict(type='bool', default=False),
            return_unlock_key=dict(type='bool', default=False),
            allow_even_managers=dict(type='bool', default=False),
            force_new_cluster=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=60),
            probe_remote_addrs=dict(type='bool', default=True),
            **CLUSTER_SETTINGS_SPEC
        ),
        required_together=[('signing_ca_cert', 'signing_ca_key')],
        supports_check_mode=True,
    )
    exit_with(module, lambda: SwarmMembership(module).run(), failures=(PlanError,))


if __name__ == '__main__':
    main()
