#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_swarm_cluster
short_description: Converge a whole Docker Swarm from one place, talking to every node's engine
version_added: 0.1.0
description:
  - Brings the nodes listed in O(managers) and O(workers) into one swarm with the roles, availability and labels
    asked for, and the cluster settings asked for, in one call. It reaches every node's Docker engine
    itself (unix socket, C(tcp://) with TLS, or C(ssh://)), so it normally runs once, on the controller.
  - It first checks every option and reads every listed engine (C(GET /info), in parallel), then the swarm from
    one manager. It refuses, before changing anything, when an engine does not answer, when a node is locked,
    still joining, or in error, when the listed nodes belong to different swarms, or when a role change or
    removal would cost the swarm its quorum at any step.
  - Without a swarm among the listed nodes, it initializes one on the first listed manager. Managers join one at
    a time, each waited for until it is a reachable manager; workers join in parallel (O(max_parallel)).
  - A listed manager that is a worker is promoted, a listed worker that is a manager is demoted (promotions
    first, one at a time, each checked by the quorum guard and waited for). Labels and availability take one
    node update per node; the cluster settings one update through a manager.
  - Nodes of the swarm that are not listed are left alone, unless O(remove_absent=true).
  - Run again on a converged cluster it changes nothing, reading one C(GET /info) per listed engine and
    C(GET /nodes) (and C(GET /swarm) when settings are given) on one manager.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.docker
  - nativeswarm.cluster.swarm_settings
  - nativeswarm.cluster.docker.ATTRIBUTES
options:
  managers:
    description:
      - The managers of the swarm, in order. Without a swarm among the listed nodes, the first one initializes
        it.
      - Each node is reached through its own connection options; those not given are taken from the module's
        (for example O(docker_host), O(validate_certs) and O(ca_path) once for every node).
      - An even number of managers is refused unless O(allow_even_managers=true).
    type: list
    elements: dict
    required: true
    suboptions: &node_options
      name:
        description:
          - Name of the node in messages, actions and the diff; its hostname or inventory name. Each name is
            listed once, in O(managers) or in O(workers).
          - The node itself is recognized by its engine, not by this name.
        type: str
        required: true
      docker_host:
        description:
          - URL of this node's Docker Engine API, for example V(tcp://192.0.2.11:2376),
            V(ssh://admin@192.0.2.11) or V(unix:///run/docker.sock).
          - Defaults to the module's O(docker_host). Two nodes never share one.
        type: str
        aliases: [docker_url]
      tls_hostname:
        description: Host name expected in this engine's TLS certificate. Defaults to the module's O(tls_hostname).
        type: str
      api_version:
        description: Engine API version to speak, or V(auto). Defaults to the module's O(api_version).
        type: str
        aliases: [docker_api_version]
      timeout:
        description: Seconds to wait for one response of this engine. Defaults to the module's O(timeout).
        type: int
      ca_path:
        description: CA certificate that signed this engine's certificate. Defaults to the module's O(ca_path).
        type: path
        aliases: [ca_cert, tls_ca_cert, cacert_path]
      client_cert:
        description: Client certificate for this engine. Defaults to the module's O(client_cert).
        type: path
        aliases: [tls_client_cert, cert_path]
      client_key:
        description: Key of the client certificate. Defaults to the module's O(client_key).
        type: path
        aliases: [tls_client_key, key_path]
      tls:
        description: Use TLS without checking this engine's certificate. Defaults to the module's O(tls).
        type: bool
      validate_certs:
        description: Use TLS and check this engine's certificate. Defaults to the module's O(validate_certs).
        type: bool
        aliases: [tls_verify]
      use_ssh_client:
        description:
          - For an C(ssh://) O(managers[].docker_host), use the C(ssh) command instead of the Python SSH library.
            Defaults to the module's O(use_ssh_client).
        type: bool
      advertise_addr:
        description:
          - Address (or interface name) other nodes reach this node at, optionally with a port. Used when the node
            initializes the swarm or joins it.
        type: str
      listen_addr:
        description: Address and port this node listens on for cluster traffic, when it initializes or joins.
        type: str
        default: 0.0.0.0:2377
      data_path_addr:
        description: Address (or interface name) for data traffic (overlay networks), when it initializes or joins.
        type: str
      labels:
        description:
          - Node labels. Values are strings (numbers are turned into strings).
          - How they combine with the node's labels is set by O(labels_state).
        type: dict
      availability:
        description:
          - Scheduling availability of the node. A node that joins gets it from birth (V(drain) keeps tasks off a
            manager). Not given, a joining node is V(active) and an existing node keeps its own.
          - Draining does not wait until the node's tasks have moved; see
            M(nativeswarm.cluster.docker_swarm_node) O(nativeswarm.cluster.docker_swarm_node#module:wait).
        type: str
        choices: [active, pause, drain]
  workers:
    description:
      - The workers of the swarm. Same keys as O(managers).
    type: list
    elements: dict
    default: []
    suboptions: *node_options
  use_ssh_client:
    description:
      - For C(ssh://) engines, use the C(ssh) command (its configuration, keys and agent) instead of the Python
        SSH library. The default for every node.
      - The C(ssh) command must log in without a prompt (a known host key, a key or agent the host accepts); a
        failure is reported with what C(ssh) said.
      - The Docker SDK needs the Python package C(paramiko) installed for C(ssh://) either way.
    type: bool
    default: false
  labels_state:
    description:
      - V(merge) adds each node's O(managers[].labels) to its labels; V(replace) makes them its only labels (a node
        listed without labels then has none).
    type: str
    choices: [merge, replace]
    default: merge
  remove_absent:
    description:
      - V(false) leaves the swarm's nodes that are not listed alone.
      - V(true) removes them, one at a time, the safe way - drain and wait until their tasks moved (a node that is
        up), demote with the quorum guard (a manager), remove (forced for a node that is still up; its engine is
        not contacted and still believes it is in the swarm until it leaves). Down entries of nodes that joined
        again are removed too.
    type: bool
    default: false
  allow_even_managers:
    description:
      - Allow an even number of listed managers, and demotions or removals that end with one.
      - While the number of managers goes from one odd count to another (for example 5 to 3), the step in between
        is allowed without it.
    type: bool
    default: false
  max_parallel:
    description:
      - Engines talked to at once, for the first read of every engine and for worker joins.
    type: int
    default: 20
  wait_timeout:
    description:
      - Seconds to wait for each join, promotion, demotion and drain to take effect.
    type: int
    default: 120
requirements:
  - The Python package C(paramiko) on the host that runs the module, for C(ssh://) engines only.
notes:
  - Join tokens are read from a manager and used, never returned, logged or shown in a message. Rotating tokens,
    the unlock key or the CA's certificates (a new root CA from O(signing_ca_cert) is applied here too), and
    unlocking a locked manager, are the job of M(nativeswarm.cluster.docker_swarm).
  - O(data_path_port), O(default_addr_pool) and O(subnet_size) are set at initialization only; a difference on an
    existing swarm is reported as a warning.
  - A node in another swarm, or removed from this one while its engine was up, is refused; make it leave first
    (M(nativeswarm.cluster.docker_swarm) with O(nativeswarm.cluster.docker_swarm#module:state=absent) and
    O(nativeswarm.cluster.docker_swarm#module:force=true)).
  - The connection options C(debug) and the environment variables apply to the module-level values only.
seealso:
  - module: nativeswarm.cluster.docker_swarm
  - module: nativeswarm.cluster.docker_swarm_node
  - module: nativeswarm.cluster.docker_swarm_info
"""

EXAMPLES = r"""
---
- name: Stand up (or converge) a 3 + 2 swarm over the engines' TLS APIs
  nativeswarm.cluster.docker_swarm_cluster:
    validate_certs: true
    ca_path: /etc/docker/certs/ca.pem
    client_cert: /etc/docker/certs/cert.pem
    client_key: /etc/docker/certs/key.pem
    managers:
      - name: manager1
        docker_host: tcp://manager1.example.com:2376
        availability: drain
      - name: manager2
        docker_host: tcp://manager2.example.com:2376
        availability: drain
      - name: manager3
        docker_host: tcp://manager3.example.com:2376
        availability: drain
    workers:
      - name: worker1
        docker_host: tcp://worker1.example.com:2376
        labels:
          zone: a
      - name: worker2
        docker_host: tcp://worker2.example.com:2376
        labels:
          zone: b
    snapshot_interval: 10000
    dispatcher_heartbeat_period: 5
  register: swarm

- name: Show the cluster
  ansible.builtin.debug:
    msg: "{{ swarm.managers }} managers, fault tolerance {{ swarm.fault_tolerance }}; {{ swarm.actions }}"

- name: Keep exactly these nodes, over SSH, removing the others safely
  nativeswarm.cluster.docker_swarm_cluster:
    use_ssh_client: true
    managers:
      - name: manager1
        docker_host: ssh://admin@manager1.example.com
      - name: manager2
        docker_host: ssh://admin@manager2.example.com
      - name: manager3
        docker_host: ssh://admin@manager3.example.com
    workers:
      - name: worker1
        docker_host: ssh://admin@worker1.example.com
    remove_absent: true
"""

RETURN = r"""
actions:
  description:
    - "What the module did (or would do in check mode), as C(<node>: <action>), in order."
    - Actions are C(init), C(update the cluster settings), C(join as manager), C(join as worker), C(promote),
      C(demote), C(update) (labels and availability), and for nodes that are not listed C(drain),
      C(wait_drained), C(demote), C(remove).
  returned: always
  type: list
  elements: str
  sample: ['manager1: init', 'manager2: join as manager', 'worker1: join as worker', 'worker1: update']
stray_node_ids:
  description:
    - IDs of node entries that appeared while the module acted and that no listed engine claims as its node. Under
      heavy load an engine whose join request timed out joins again under a new node ID; the first entry stays in the
      node list and never becomes ready. The module warns and leaves them; remove each once it shows Down.
  returned: always
  type: list
  elements: str
  sample: []
changes:
  description: Node settings that differ(ed), per node.
  returned: always
  type: list
  elements: dict
  sample: [{node: worker1, setting: labels, before: {}, after: {zone: a}}]
cluster_changes:
  description: Cluster settings that differ(ed), with their API path and values.
  returned: always
  type: list
  elements: dict
  sample: [{setting: Raft.SnapshotInterval, before: 10000, after: 5000}]
cluster_id:
  description: ID of the swarm; empty when there is none yet (check mode).
  returned: always
  type: str
  sample: lgkmd9sq8vkmmbklzp7n9j1ai
nodes:
  description:
    - Every node of the swarm, as M(nativeswarm.cluster.docker_swarm_info) returns them; after the changes, or
      as they are in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{id: 9ukbs3ioqs4vxijrzvkyvqppa, hostname: manager1, role: manager, availability: drain,
            status: ready, address: 10.0.0.2, engine_version: 24.0.7, labels: {}, manager_reachability: reachable,
            manager_address: 10.0.0.2:2377, leader: true}]
leader:
  description: Hostname of the Raft leader; empty without a swarm.
  returned: always
  type: str
  sample: manager1
managers:
  description: Number of managers.
  returned: always
  type: int
  sample: 3
reachable_managers:
  description: Number of managers that are reachable.
  returned: always
  type: int
  sample: 3
quorum:
  description: Managers that must be reachable for the cluster to work.
  returned: always
  type: int
  sample: 2
fault_tolerance:
  description: Reachable managers the cluster can still lose.
  returned: always
  type: int
  sample: 1
cluster_warnings:
  description: What an operator should look at (single or even manager count, quorum in danger).
  returned: always
  type: list
  elements: str
  sample: []
api_calls:
  description: "Engine API requests the module made, as C(<node>: <request>), in order."
  returned: when O(debug=true)
  type: list
  elements: str
  sample: ['manager1: GET /info', 'manager1: GET /nodes']
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    CONNECTION_SUBOPTIONS, ELECTION_GRACE, Engine, EngineError, connection_params, load_ssh_transport, new_module,
    nodes_unless_leaderless)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._cluster import (
    INIT_ONLY, SETTING_OPTIONS, action_text, batches, needs_swarm, plan_cluster, stray_entries, survey,
    validate_request)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, local_state, merged_spec, node_summary, normal_addr, quorum_facts, quorum_lost_facts, running_tasks,
    CLUSTER_SETTINGS_SPEC, MANAGER_ROLE)

NODE_CONNECTION = ('docker_host', 'tls_hostname', 'api_version', 'timeout', 'ca_path', 'client_cert',
                   'client_key', 'tls', 'validate_certs', 'use_ssh_client')
POLL = 0.2


class CallLog(list):
    """One engine's requests, also written to a log shared by all engines
    (``<node>: <request>``, in the order they were made)."""

    def __init__(self, name, shared, made=()):
        super().__init__()
        self.name, self.shared = name, shared
        for call in made:
            self.append(call)

    def append(self, call):
        self.shared.append('%s: %s' % (self.name, call))
        super().append(call)


class Failure(Exception):
    """A step failed after others were done; the message says which."""


def in_parallel(work, names, limit):
    """{name: (result, error)} of work(name) for every name, at most
    ``limit`` at once. Engine errors and refused options are the errors."""
    def guarded(name):
        try:
            return work(name), None
        except (EngineError, ValueError, PlanError, Failure) as exc:
            return None, exc
    if len(names) == 1:
        return {names[0]: guarded(names[0])}
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(names)))) as pool:
        return dict(zip(names, pool.map(guarded, names)))


class Converge:

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.engines = {}
        self.calls = []
        self.done = []
        self.secrets = []
        self.swarm = None
        self.ids = {}
        self.addrs = []
        self.fresh_nodes = None

    # -- input ---------------------------------------------------------------
    def request(self):
        p = self.p
        raw = dict((n['name'], n) for n in (p['managers'] or []) + (p['workers'] or []))
        request = validate_request(dict(
            managers=[self.with_host(n) for n in p['managers'] or []],
            workers=[self.with_host(n) for n in p['workers'] or []],
            settings=dict((o, p[o]) for o in SETTING_OPTIONS if p.get(o) is not None),
            labels_state=p['labels_state'], remove_absent=p['remove_absent'],
            allow_even_managers=p['allow_even_managers'], max_parallel=p['max_parallel'],
            wait_timeout=p['wait_timeout']))
        self.conns = {}
        for node in request['managers'] + request['workers']:
            self.conns[node['name']] = self.connection(raw[node['name']])
        return request

    def with_host(self, node):
        return dict(node, docker_host=node.get('docker_host') or self.p['docker_host'])

    def connection(self, node):
        """The node's connection options over the module's; checked now so
        that a bad one stops the run before any engine is contacted."""
        conn = dict((opt, node.get(opt) if node.get(opt) is not None else self.p.get(opt))
                    for opt in NODE_CONNECTION)
        if (conn['docker_host'] or '').startswith('ssh://'):
            if conn['tls'] or conn['validate_certs']:
                raise PlanError('%s: an ssh:// docker_host carries no TLS; set tls and validate_certs to false for it'
                                % node['name'])
            if load_ssh_transport() is None:
                raise PlanError('%s: the Docker SDK for Python reaches ssh:// engines only with the Python package '
                                'paramiko installed where this module runs, also with use_ssh_client '
                                '(apt install python3-paramiko, or pip install paramiko)' % node['name'])
        try:
            connection_params(conn)
        except ValueError as exc:
            raise PlanError('%s: %s' % (node['name'], exc))
        return conn

    # -- reading ---------------------------------------------------------------
    def read(self, names):
        def work(name):
            engine = Engine(self.conns[name], label=name)
            engine.calls = CallLog(name, self.calls, engine.calls)
            self.engines[name] = engine
            return engine.info()
        results = in_parallel(work, names, self.p['max_parallel'])
        failed = ['%s (%s): %s' % (n, self.conns[n]['docker_host'], results[n][1]) for n in names if results[n][1]]
        if failed:
            raise PlanError('not every listed engine answered, so nothing was changed: %s' % '; '.join(failed))
        return dict((n, results[n][0]) for n in names)

    # -- run -------------------------------------------------------------------
    def run(self):
        request = self.request()
        names = [n['name'] for n in request['managers'] + request['workers']]
        infos = self.read(names)
        found = survey(request, infos)
        nodes = swarm = None
        if found['acting']:
            manager = self.engines[found['acting']]
            nodes = nodes_unless_leaderless(manager)
            if nodes is None:
                raise PlanError('%s: %s; nothing was changed'
                                % (found['acting'], quorum_lost_facts(infos[found['acting']])['cluster_warnings'][0]))
            if needs_swarm(request, found):
                swarm = self.keep_swarm(manager.swarm_inspect())
        plan = plan_cluster(request, found, nodes, swarm)
        self.request_ = request
        self.plan = plan
        self.ids = dict((n, local['node_id']) for n, local in found['locals'].items() if local['state'] == 'active')
        self.addrs = [normal_addr(n['ManagerStatus']['Addr']) for n in nodes or []
                      if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable'
                      and n['ManagerStatus'].get('Addr')]
        self.cluster_id = found['cluster_id']
        strays = []
        if plan['actions'] and not self.module.check_mode:
            before = nodes
            self.execute(plan)
            nodes = self.wait('%s to list the nodes' % plan['acting'], self.engines[plan['acting']].nodes)
            strays = stray_entries(before, nodes, self.ids.values())
        return self.result(plan, nodes or [], strays)

    def keep_swarm(self, swarm):
        self.swarm = swarm
        for token in (swarm.get('JoinTokens') or {}).values():
            if token and token not in self.secrets:
                self.secrets.append(token)
                self.module.no_log_values.add(token)
        return swarm

    def scrub(self, text):
        for secret in self.secrets:
            text = text.replace(secret, '********')
        return text

    # -- acting ------------------------------------------------------------------
    def execute(self, plan):
        for batch in batches(plan['actions']):
            first = batch[0]
            if first['action'] == 'join' and first['role'] != MANAGER_ROLE:
                self.join_workers(batch)
                continue
            if first['action'] != 'update':
                self.fresh_nodes = None
            try:
                getattr(self, 'do_' + first['action'])(first)
            except (EngineError, PlanError) as exc:
                raise Failure('%s failed: %s' % (action_text(first), exc))
            self.done.append(action_text(first))

    def wait(self, what, predicate):
        """Poll until ``predicate()`` gives something; a manager without a
        leader for a moment (an election after a demotion) is waited out."""
        deadline = time.time() + self.p['wait_timeout']
        while True:
            try:
                value = predicate()
            except EngineError as exc:
                if not exc.no_leader or time.time() > deadline:
                    raise
                value = None
            if value:
                return value
            if time.time() > deadline:
                raise PlanError('timed out after %ds waiting for %s' % (self.p['wait_timeout'], what))
            time.sleep(POLL)

    def local(self, name):
        return local_state(self.engines[name].info())

    def wait_member(self, name, manager):
        def ready():
            local = self.local(name)
            if local['state'] == 'error':
                raise PlanError('%s is in swarm state error: %s' % (name, local['error'] or 'no detail'))
            return local if local['state'] == 'active' and local['manager'] == manager else None
        return self.wait('%s to be an active %s' % (name, 'manager' if manager else 'worker'), ready)

    def wait_reachable(self, via, node_id, name):
        def reachable():
            node = self.engines[via].node_inspect(node_id)
            return node if (node.get('ManagerStatus') or {}).get('Reachability') == 'reachable' else None
        return self.wait('%s to be a reachable manager' % name, reachable)

    def node_cfg(self, name):
        for node in self.request_['managers'] + self.request_['workers']:
            if node['name'] == name:
                return node
        raise KeyError(name)

    def membership_body(self, node):
        body = dict(ListenAddr=node['listen_addr'] or '0.0.0.0:2377', AdvertiseAddr=node['advertise_addr'] or '',
                    DataPathAddr=node['data_path_addr'] or '')
        if node['availability']:
            body['Availability'] = node['availability']
        return body

    def do_init(self, action):
        node = self.node_cfg(action['node'])
        body = dict(self.membership_body(node), ForceNewCluster=False, Spec=self.cluster_spec({}))
        for option, key in INIT_ONLY:
            if self.request_['settings'].get(option) is not None:
                body[key] = self.request_['settings'][option]
        engine = self.engines[node['name']]
        engine.swarm_init(body)
        local = self.wait_member(node['name'], True)
        self.ids[node['name']] = local['node_id']
        self.cluster_id = local['cluster_id']
        self.addrs = [normal_addr(addr) for addr in local['remote_managers'] if addr]
        if any(a['action'] == 'join' for a in self.plan['actions']):
            self.keep_swarm(engine.swarm_inspect())

    def do_settings(self, action):
        swarm = self.swarm
        self.engines[action['via']].swarm_update(swarm['Version']['Index'], self.cluster_spec(swarm.get('Spec')))

    def cluster_spec(self, current):
        """The swarm spec to send: the current one with the wanted settings,
        and the signing CA when the plan says it changes."""
        spec = merged_spec(current, self.plan['wanted'])
        if self.plan['new_root_ca']:
            spec.setdefault('CAConfig', {}).update(SigningCACert=self.p['signing_ca_cert'],
                                                   SigningCAKey=self.p['signing_ca_key'])
        return spec

    def join_body(self, node, role):
        token = (self.swarm.get('JoinTokens') or {}).get(role.capitalize())
        if not token:
            raise PlanError('the swarm returned no %s join token' % role)
        return dict(self.membership_body(node), RemoteAddrs=list(self.addrs), JoinToken=token)

    def join(self, name, body):
        """POST /swarm/join. The engine stops waiting after its own 20 seconds
        and goes on joining in the background (swarm state pending), which a
        busy swarm signing many certificates at once may need: that join is
        waited for like any other (wait_timeout); anything else fails."""
        try:
            self.engines[name].swarm_join(body)
        except EngineError:
            if self.local(name)['state'] not in ('pending', 'active'):
                raise

    def do_join(self, action):
        node = self.node_cfg(action['node'])
        self.join(node['name'], self.join_body(node, MANAGER_ROLE))
        local = self.wait_member(node['name'], True)
        self.ids[node['name']] = local['node_id']
        joined = self.wait_reachable(action['via'], local['node_id'], node['name'])
        addr = (joined.get('ManagerStatus') or {}).get('Addr')
        if addr and normal_addr(addr) not in self.addrs:
            self.addrs.append(normal_addr(addr))

    def join_workers(self, batch):
        self.fresh_nodes = None

        def work(name):
            node = self.node_cfg(name)
            self.join(name, self.join_body(node, 'worker'))
            return self.wait_member(name, False)['node_id']
        names = [a['node'] for a in batch]
        results = in_parallel(work, names, self.p['max_parallel'])
        failed = []
        for action in batch:
            node_id, error = results[action['node']]
            if error:
                failed.append('%s failed: %s' % (action_text(action), error))
            else:
                self.ids[action['node']] = node_id
                self.done.append(action_text(action))
        if failed:
            raise Failure('; '.join(failed))

    def current(self, via, node_id):
        if self.fresh_nodes is None:
            self.fresh_nodes = dict((n['ID'], n) for n in self.engines[via].nodes())
        node = self.fresh_nodes.pop(node_id, None)
        return node if node is not None else self.engines[via].node_inspect(node_id)

    def update(self, via, node_id, new):
        """One node update. The node's version can move under us (its status
        settles after a join) and a leader election can be under way: both
        are retried for a few seconds."""
        engine = self.engines[via]
        node = self.current(via, node_id)
        deadline = time.time() + ELECTION_GRACE
        while True:
            spec = dict(node['Spec'])
            spec.update(new)
            try:
                return engine.node_update(node_id, node['Version']['Index'], spec)
            except EngineError as exc:
                if not ('out of sequence' in str(exc) or exc.no_leader) or time.time() > deadline:
                    raise
            time.sleep(POLL)
            node = self.wait('%s to have a leader' % via, lambda: engine.node_inspect(node_id))

    def node_id(self, action):
        return action['node_id'] if action.get('node_id') else self.ids[action['node']]

    def do_update(self, action):
        self.update(action['via'], self.node_id(action), action['set'])

    def do_promote(self, action):
        node_id = self.node_id(action)
        self.update(action['via'], node_id, action['set'])
        self.wait_reachable(action['via'], node_id, action['node'])
        if action.get('listed'):
            self.wait_member(action['node'], True)

    def do_demote(self, action):
        node_id = self.node_id(action)
        self.update(action['via'], node_id, action.get('set') or dict(Role='worker'))
        if action.get('listed'):
            # done when the node's own engine no longer acts as a manager
            self.wait('%s to stop acting as a manager' % action['node'],
                      lambda: not self.local(action['node'])['manager'])
        else:
            self.wait('%s to be a worker' % action['node'],
                      lambda: not self.engines[action['via']].node_inspect(node_id).get('ManagerStatus'))

    def do_drain(self, action):
        self.update(action['via'], action['node_id'], dict(Availability='drain'))

    def do_wait_drained(self, action):
        engine, node_id = self.engines[action['via']], action['node_id']
        self.wait('%s to have no running tasks' % action['node'],
                  lambda: (engine.node_inspect(node_id).get('Status') or {}).get('State') == 'down'
                  or not running_tasks(engine.tasks({'node': node_id}), node_id))

    def do_remove(self, action):
        engine = self.engines[action['via']]
        current = engine.node_inspect(action['node_id'])
        engine.node_remove(action['node_id'], force=(current.get('Status') or {}).get('State') != 'down')

    # -- result ------------------------------------------------------------------
    def result(self, plan, nodes, strays):
        texts = [action_text(a) for a in plan['actions']]
        leaders = [node_summary(n)['hostname'] for n in nodes if (n.get('ManagerStatus') or {}).get('Leader')]
        result = dict(changed=bool(texts), actions=texts, changes=plan['changes'],
                      cluster_changes=plan['cluster_changes'], cluster_id=self.cluster_id or '',
                      nodes=sorted((node_summary(n) for n in nodes),
                                   key=lambda n: (n['role'] != 'manager', n['hostname'] or '')),
                      leader=leaders[0] if leaders else '')
        result.update(quorum_facts(nodes))
        if texts:
            result['diff'] = plan['diff']
        for warning in plan['warnings']:
            self.module.warn(warning)
        result['stray_node_ids'] = strays
        if strays:
            self.module.warn('%d node entr%s appeared during the joins that no listed engine claims (%s): an engine '
                             'whose join timed out under load joined again under a new ID, and the first entry never '
                             'becomes ready. Remove each once it shows Down (docker node rm ID).'
                             % (len(strays), 'y' if len(strays) == 1 else 'ies', ', '.join(strays)))
        if self.p['debug']:
            result['api_calls'] = list(self.calls)
        return result


def node_options():
    options = dict((name, dict((k, v) for k, v in spec.items() if k != 'default'))
                   for name, spec in CONNECTION_SUBOPTIONS.items())
    options.update(
        name=dict(type='str', required=True),
        use_ssh_client=dict(type='bool'),
        advertise_addr=dict(type='str'),
        listen_addr=dict(type='str', default='0.0.0.0:2377'),
        data_path_addr=dict(type='str'),
        labels=dict(type='dict'),
        availability=dict(type='str', choices=['active', 'pause', 'drain']),
    )
    return options


def main():
    module = new_module(
        argument_spec=dict(
            managers=dict(type='list', elements='dict', required=True, options=node_options()),
            workers=dict(type='list', elements='dict', default=[], options=node_options()),
            use_ssh_client=dict(type='bool', default=False),
            labels_state=dict(type='str', default='merge', choices=['merge', 'replace']),
            remove_absent=dict(type='bool', default=False),
            allow_even_managers=dict(type='bool', default=False),
            max_parallel=dict(type='int', default=20),
            wait_timeout=dict(type='int', default=120),
            data_path_port=dict(type='int'),
            default_addr_pool=dict(type='list', elements='str'),
            subnet_size=dict(type='int'),
            signing_ca_cert=dict(type='str'),
            signing_ca_key=dict(type='str', no_log=True),
            **CLUSTER_SETTINGS_SPEC
        ),
        required_together=[('signing_ca_cert', 'signing_ca_key')],
        supports_check_mode=True,
    )
    run = Converge(module)
    try:
        result = run.run()
    except PlanError as exc:
        module.fail_json(msg=run.scrub(str(exc)), actions=run.done, changed=bool(run.done))
    except Failure as exc:
        module.fail_json(msg=run.scrub('%s%s' % (exc, '; done before: %s' % ', '.join(run.done) if run.done
                                                 else '; nothing was changed before it')),
                         actions=run.done, changed=bool(run.done))
    except EngineError as exc:
        module.fail_json(msg=run.scrub(str(exc)), status=exc.status, actions=run.done, changed=bool(run.done))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
