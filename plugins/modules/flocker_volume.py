#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flocker_volume
short_description: Flocker datasets (portable volumes) and their leases through the control service's REST API
version_added: 0.1.0
description:
  - Creates, moves and deletes a Flocker dataset, and acquires or releases its lease, through the v1 REST API of a
    Flocker control service (HTTPS, port 4523), as C(docker volume create -d flocker) and C(flockerctl) do.
  - A dataset is named by O(name) (kept in its metadata as C(name), as the Flocker Docker plugin does, so a
    dataset made here is the Docker volume of that name) or by O(dataset_id).
  - Every option, the node names, the dataset's current configuration and its lease are checked before the first
    change, and every change is sent with the configuration tag read before it (C(X-If-Configuration-Matches)), so
    a configuration changed by someone else meanwhile makes the change fail cleanly instead of acting on old facts.
  - Flocker itself is discontinued (ClusterHQ stopped in December 2016); the module follows its documented v1 API.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.flocker
options:
  name:
    description:
      - Name of the dataset (metadata C(name); the Docker volume name). Datasets that were deleted are not found by
        name. A name several live datasets carry is refused; name one by O(dataset_id).
      - One of O(name) and O(dataset_id) is required.
    type: str
  dataset_id:
    description:
      - UUID of the dataset. When the dataset is created, it gets this id (else the control service makes one).
      - A deleted dataset's id cannot be used again.
    type: str
  state:
    description:
      - V(present) creates the dataset when it is missing and moves it to O(primary) when it lives elsewhere.
      - V(absent) deletes it (a missing or deleted dataset is no change).
    type: str
    choices: [present, absent]
    default: present
  primary:
    description:
      - The node the dataset lives on, with O(state=present) (required then) - its UUID, or its address as the
        control service lists it in C(/v1/state/nodes), or a host name that resolves (on the host this module runs
        on) to that address.
      - A UUID the control service does not list yet is used with a warning.
    type: str
  maximum_size:
    description:
      - Size of a new dataset - bytes, or a number with V(K), V(M), V(G), V(T) (powers of 1024, with or without
        C(i) and C(B) - V(75G) is V(75GiB)). At least 64 MiB and a multiple of 1024.
      - Compared with an existing dataset only when given.
      - Without it a new dataset has no maximum size (the backend's default).
    type: raw
  metadata:
    description:
      - Metadata of a new dataset (text values; at most 16 keys with O(name) and O(profile) included, keys of 1 to
        256 characters, values of at most 256).
      - When O(metadata) or O(profile) is given, an existing dataset's metadata must be exactly this (with C(name)
        and the profile added).
    type: dict
  profile:
    description:
      - Storage profile of a new dataset (metadata C(clusterhq:flocker:profile)), such as V(gold), V(silver) or
        V(bronze) on AWS EBS.
    type: str
  recreate:
    description:
      - When an existing dataset (named by O(name)) has another size or other metadata than asked, delete it and
        create a new, empty one. Its data is lost.
      - Without it such a difference is refused with nothing changed, because the API can neither resize a dataset
        nor edit its metadata.
    type: bool
    default: false
  lease:
    description:
      - V(held) acquires (or renews) a lease on the dataset for O(lease_node), so that it is not moved or deleted
        while that node uses it. A lease another node holds is refused with nothing changed.
      - V(released) releases the dataset's lease (whichever node holds it); with O(state=absent) or a move it is
        released first.
      - Not given - leases are left as they are; a dataset leased to another node is neither moved nor deleted.
    type: str
    choices: [held, released]
  lease_node:
    description: Node (UUID, address or host name, as for O(primary)) that holds the lease; default O(primary).
    type: str
  lease_expires:
    description:
      - Seconds until the lease expires, from now (more than 0); not given, the lease never expires.
      - A lease with an expiry is renewed on every run (a change); one that never expires is no change once held.
    type: float
  wait:
    description:
      - Wait until the cluster state (C(/v1/state/datasets)) shows the dataset attached at O(primary) (it has a
        path there) or, with O(state=absent), no longer lists it.
    type: bool
    default: false
  wait_timeout:
    description: Seconds (more than 0) to wait with O(wait).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reads the control service and returns the actions it would take, changing nothing.
  diff_mode:
    support: full
    description: The dataset's configuration (and lease) before and after.
notes:
  - The module runs where it can reach the control service with the certificate files, often the control host
    itself or the controller (C(delegate_to)).
  - Requires only Python's standard library (C(ssl), C(http.client)).
seealso:
  - module: nativeswarm.cluster.flocker_info
"""

EXAMPLES = r"""
---
- name: A 75 GiB bronze volume on node1, as docker volume create -d flocker -o size=75G -o profile=bronze would make
  nativeswarm.cluster.flocker_volume:
    control_host: control.example.com
    ca_path: /etc/flocker/cluster.crt
    client_cert: /etc/flocker/plugin.crt
    client_key: /etc/flocker/plugin.key
    name: pgdata
    maximum_size: 75G
    profile: bronze
    primary: node1.example.com
    wait: true

- name: Move it to node2 (its data goes along)
  nativeswarm.cluster.flocker_volume:
    control_host: control.example.com
    ca_path: /etc/flocker/cluster.crt
    client_cert: /etc/flocker/plugin.crt
    client_key: /etc/flocker/plugin.key
    name: pgdata
    primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11
    wait: true
    wait_timeout: 300

- name: Keep it on node2 while a job runs there (a lease for an hour)
  nativeswarm.cluster.flocker_volume:
    control_host: control.example.com
    ca_path: /etc/flocker/cluster.crt
    client_cert: /etc/flocker/plugin.crt
    client_key: /etc/flocker/plugin.key
    name: pgdata
    primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11
    lease: held
    lease_expires: 3600

- name: Release the lease and delete the volume
  nativeswarm.cluster.flocker_volume:
    control_host: control.example.com
    ca_path: /etc/flocker/cluster.crt
    client_cert: /etc/flocker/plugin.crt
    client_key: /etc/flocker/plugin.key
    name: pgdata
    state: absent
    lease: released
"""

RETURN = r"""
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ['create pgdata on 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11', 'wait attached']
dataset:
  description:
    - The dataset's configuration after the module ran (in check mode, as it would be; empty when there is none),
      with where the cluster state shows it (C(state), null when not listed).
  returned: always
  type: dict
  sample: {dataset_id: 6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c, name: pgdata, primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11,
           primary_host: 10.0.0.12, maximum_size: 80530636800, deleted: false,
           metadata: {name: pgdata, 'clusterhq:flocker:profile': bronze},
           state: {primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11, path: /flocker/6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c}}
lease:
  description: The dataset's lease after the module ran (null when it has none).
  returned: always
  type: dict
  sample: {dataset_id: 6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c, node_uuid: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11,
           expires: 3599.5}
api_calls:
  description: REST requests the module made, in order.
  returned: always
  type: list
  elements: str
  sample: [GET /v1/state/nodes, GET /v1/configuration/datasets, GET /v1/configuration/leases]
"""

import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker import (
    PlanError, attached, check_request, dataset_state, dataset_view, find_dataset, format_size, lease_of,
    looks_like_uuid, plan_dataset, resolve_node)
from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker_client import (
    CONNECTION_SPEC, ControlService, FlockerError)


def addresses_of(name):
    """The addresses ``name`` resolves to here (none when it does not)."""
    try:
        return sorted(set(info[4][0] for info in socket.getaddrinfo(name, None)))
    except (socket.gaierror, UnicodeError, OSError):
        return []


class Volume:

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.desired = check_request(self.p)
        self.api = ControlService(self.p)
        self.actions = []

    def node(self, nodes, wanted):
        if wanted is None:
            return None
        found = resolve_node(nodes, wanted, () if looks_like_uuid(wanted) else addresses_of(wanted))
        if found not in [n.get('uuid') for n in nodes]:
            self.module.warn('node %s is not among the nodes the control service lists (%s); a dataset is only '
                             'attached once that node\'s agent reports' % (
                                 found, ', '.join(n.get('uuid', '') for n in nodes) or 'none'))
        return found

    def wait(self, what, done):
        deadline = time.time() + self.p['wait_timeout']
        while True:
            states = self.api.state_datasets()
            if done(states):
                return states
            if time.time() > deadline:
                raise PlanError('timed out after %ds waiting for the dataset to %s (cluster state: %s)'
                                % (self.p['wait_timeout'], what, states))
            time.sleep(1)

    def run(self):
        nodes = self.api.nodes()
        primary = self.node(nodes, self.p['primary']) if self.p['state'] == 'present' else None
        lease_node = self.node(nodes, self.p['lease_node'])
        datasets, tag = self.api.datasets()
        leases = self.api.leases()
        before = find_dataset(datasets, self.desired['name'], self.desired['dataset_id'])
        lease_before = lease_of(leases, before['dataset_id']) if before else None
        plan = plan_dataset(self.desired, datasets, leases, nodes, state=self.p['state'], primary=primary,
                            recreate=self.p['recreate'], lease=self.p['lease'], lease_node=lease_node,
                            lease_expires=self.p['lease_expires'])
        after, lease_after = self.execute(plan, before, lease_before, tag)
        states = []
        if self.p['wait'] and not self.module.check_mode:
            if self.p['state'] == 'present':
                self.actions.append('wait attached')
                states = self.wait('be attached at %s' % primary,
                                   lambda s: attached(s, after['dataset_id'], primary))
            elif before is not None and not before.get('deleted'):
                self.actions.append('wait gone')
                states = self.wait('leave the cluster state',
                                   lambda s: dataset_state(s, before['dataset_id']) is None)
        elif after is not None and not self.module.check_mode:
            states = self.api.state_datasets()
        result = dict(changed=bool(plan), actions=self.actions,
                      dataset=dataset_view(after if self.p['state'] == 'present' else None, states, nodes),
                      lease=lease_after, api_calls=self.api.calls)
        if plan:
            result['diff'] = dict(before=self.diff_view(before, lease_before),
                                  after=self.diff_view(after if self.p['state'] == 'present' else None, lease_after))
        return result

    @staticmethod
    def diff_view(dataset, lease):
        if dataset is None or dataset.get('deleted'):
            return {}
        view = dict((k, dataset.get(k)) for k in ('dataset_id', 'primary', 'maximum_size', 'metadata'))
        view['lease'] = lease
        return view

    def execute(self, plan, dataset, lease, tag):
        """Carry out the plan (in check mode: only say it); returns the
        dataset and lease as they are (would be) afterwards."""
        check = self.module.check_mode
        wrote = False
        for action, argument in plan:
            if action in ('create', 'move', 'delete') and wrote:
                tag = self.api.datasets()[1]  # our own change made the tag read before stale
            wrote = not check
            if action == 'release':
                self.actions.append('release lease of %s' % argument)
                if not check:
                    self.api.release_lease(argument)
                lease = None
            elif action == 'delete':
                self.actions.append('delete %s' % argument)
                if not check:
                    self.api.delete(argument, tag=tag)
                dataset = dict(dataset, deleted=True)
            elif action == 'create':
                self.actions.append('create %s on %s%s' % (
                    self.desired['name'] or argument.get('dataset_id'), argument['primary'],
                    ' (%s)' % format_size(argument['maximum_size']) if 'maximum_size' in argument else ''))
                if check:
                    dataset = dict(argument, dataset_id=argument.get('dataset_id', '(new)'), deleted=False,
                                   metadata=argument.get('metadata', {}))
                else:
                    dataset = self.api.create(argument, tag=tag)
            elif action == 'move':
                dataset_id, primary = argument
                self.actions.append('move %s to %s' % (dataset_id, primary))
                if check:
                    dataset = dict(dataset, primary=primary)
                else:
                    dataset = self.api.move(dataset_id, primary, tag=tag)
            elif action == 'lease':
                body = dict(argument, dataset_id=argument['dataset_id'] or dataset['dataset_id'])
                self.actions.append('%s lease of %s for %s'
                                    % ('renew' if lease else 'acquire', body['dataset_id'], body['node_uuid']))
                lease = body if check else self.api.acquire_lease(body)
        return dataset, lease


def main():
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_SPEC,
            name=dict(type='str'),
            dataset_id=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            primary=dict(type='str'),
            maximum_size=dict(type='raw'),
            metadata=dict(type='dict'),
            profile=dict(type='str'),
            recreate=dict(type='bool', default=False),
            lease=dict(type='str', choices=['held', 'released']),
            lease_node=dict(type='str'),
            lease_expires=dict(type='float'),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=120),
        ),
        required_one_of=[('name', 'dataset_id')],
        supports_check_mode=True,
    )
    try:
        result = Volume(module).run()
    except (PlanError, FlockerError) as exc:
        status = getattr(exc, 'status', None)
        module.fail_json(msg=str(exc), **(dict(status=status) if status else {}))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
