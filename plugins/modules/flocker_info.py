#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flocker_info
short_description: Read a Flocker control service - version, nodes, datasets and leases
version_added: 0.1.0
description:
  - Reads the v1 REST API of a Flocker control service (HTTPS, port 4523) with an API user's certificate and
    returns its version, the nodes that reported, every dataset's configuration joined with its cluster state, and
    the leases. Changes nothing.
  - Flocker itself is discontinued (ClusterHQ stopped in December 2016); the module follows its documented v1 API.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.flocker
options:
  deleted:
    description: Also return datasets that were deleted (the configuration keeps them).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode as otherwise.
  diff_mode:
    support: none
    description: Reads only.
seealso:
  - module: nativeswarm.cluster.flocker_volume
"""

EXAMPLES = r"""
---
- name: Read the cluster
  nativeswarm.cluster.flocker_info:
    control_host: control.example.com
    ca_path: /etc/flocker/cluster.crt
    client_cert: /etc/flocker/admin.crt
    client_key: /etc/flocker/admin.key
  register: flocker

- name: Show where each volume is
  ansible.builtin.debug:
    msg: "{{ flocker.datasets | items2dict(key_name='name', value_name='primary_host') }}"
"""

RETURN = r"""
version:
  description: The control service's version.
  returned: always
  type: str
  sample: 1.15.0
nodes:
  description: The nodes whose agents reported (C(/v1/state/nodes)).
  returned: always
  type: list
  elements: dict
  sample: [{host: 10.0.0.12, uuid: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11}]
datasets:
  description:
    - Every dataset's configuration (deleted ones only with O(deleted)) with C(name) (its metadata name),
      C(primary_host), and C(state) - where the cluster state shows it (primary, path), or null.
  returned: always
  type: list
  elements: dict
  sample: [{dataset_id: 6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c, name: pgdata,
            primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11, primary_host: 10.0.0.12, maximum_size: 80530636800,
            deleted: false, metadata: {name: pgdata},
            state: {primary: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11, path: /flocker/6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c}}]
leases:
  description: The leases (C(expires) in seconds from now, null for never).
  returned: always
  type: list
  elements: dict
  sample: [{dataset_id: 6a8b2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c, node_uuid: 3b9a7e08-9c0f-4a1d-8a3e-5f0f1c7d2b11,
            expires: null}]
configuration_tag:
  description: The configuration's tag (C(X-Configuration-Tag)) when the datasets were read.
  returned: always
  type: str
  sample: 5a1f0c7e
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker import dataset_view
from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker_client import (
    CONNECTION_SPEC, ControlService, FlockerError)


def read(params):
    api = ControlService(params)
    version = (api.version() or {}).get('flocker')
    nodes = api.nodes()
    datasets, tag = api.datasets()
    states = api.state_datasets()
    leases = api.leases()
    return dict(changed=False, version=version, nodes=nodes, leases=leases, configuration_tag=tag,
                datasets=[dataset_view(d, states, nodes) for d in datasets if params['deleted'] or not d.get('deleted')])


def main():
    module = AnsibleModule(argument_spec=dict(CONNECTION_SPEC, deleted=dict(type='bool', default=False)),
                           supports_check_mode=True)
    try:
        result = read(module.params)
    except FlockerError as exc:
        module.fail_json(msg=str(exc), **(dict(status=exc.status) if exc.status else {}))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
