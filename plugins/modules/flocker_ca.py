#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flocker_ca
short_description: Flocker cluster certificates as flocker-ca makes them, without flocker-ca
version_added: 0.1.0
description:
  - Makes, in one directory, the certificates of a Flocker cluster in the shape C(flocker-ca) gives them, with the
    Python C(cryptography) library - the cluster CA, the control service's certificate, one node certificate per
    agent host and API user certificates.
  - "Every certificate is RSA (4096 bits by default), SHA-256, with a random serial and the cluster UUID as its OU.
    The cluster CA (C(cluster.crt), C(cluster.key)) has CN = O(cluster_name) and CA:TRUE with pathlen 0 (critical),
    key usage keyCertSign and cRLSign, subject and authority key identifiers. The control service's certificate
    (C(control-service.crt)) has CN C(control-service) and the names C(DNS:control-service) plus
    O(control_names), for serverAuth. A node certificate (C(nodes/<label>.crt)) has CN C(node-<new uuid>), an API
    certificate (C(users/<name>.crt)) CN C(user-<name>), both for clientAuth."
  - Made once, kept forever - a certificate that exists is never made again. What exists is checked before
    anything is written (each pair belongs together, is signed by the cluster CA, has the right CN; the control
    certificate names every O(control_names)); a mismatch is refused with the file named and nothing written, so
    a cluster is never re-keyed silently. To replace a certificate, remove its two files.
  - Usually run on the controller (C(delegate_to=localhost), C(run_once)); the C(nativeswarm.cluster.flocker)
    role does that and copies the files to the hosts.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
options:
  path:
    description:
      - Directory of the certificates (made with mode 0700 when missing). Keys are written with mode 0600,
        certificates 0644.
    type: path
    required: true
  cluster_name:
    description: Name of the cluster, the CN of its CA. An existing CA with another name is refused.
    type: str
    required: true
  control_names:
    description:
      - Host names and addresses of the control service host, added to C(DNS:control-service) in its certificate
        (an address as an IP entry).
      - Not given, no control service certificate is made or checked.
    type: list
    elements: str
  nodes:
    description:
      - Labels of the agent hosts (inventory host names, say), one node certificate each, at C(nodes/<label>.crt);
        each gets a new node UUID, returned in RV(node_uuids) and read back from its certificate on later runs.
    type: list
    elements: str
    default: []
  api_users:
    description:
      - API user names, one certificate each with CN C(user-<name>) at C(users/<name>.crt); V(plugin) is the one
        the Flocker Docker plugin uses.
    type: list
    elements: str
    default: []
  key_size:
    description: RSA key size in bits of certificates made now (2048 or more; C(flocker-ca) uses 4096).
    type: int
    default: 4096
  valid_days:
    description: Days certificates made now are valid (C(flocker-ca) - 20 years).
    type: int
    default: 7300
attributes:
  check_mode:
    support: full
    description: Checks what exists and returns what would be made, writing nothing.
  diff_mode:
    support: none
    description: Files are made, never changed; RV(created) lists them.
requirements:
  - cryptography (Python library) on the host the module runs on
notes:
  - The keys are secrets; keep O(path) on the controller out of version control, or encrypted.
seealso:
  - module: nativeswarm.cluster.flocker_volume
"""

EXAMPLES = r"""
---
- name: The certificates of cluster "prod" on the controller
  nativeswarm.cluster.flocker_ca:
    path: "{{ playbook_dir }}/flocker-ca"
    cluster_name: prod
    control_names: [control.example.com, 10.0.0.10]
    nodes: [node1.example.com, node2.example.com]
    api_users: [plugin, admin]
  delegate_to: localhost
  run_once: true
  register: flocker_certs
"""

RETURN = r"""
path:
  description: O(path) made absolute (C(~) expanded).
  returned: always
  type: str
  sample: /home/ops/.local/share/nativeswarm/flocker-ca/prod
cluster_cert:
  description: The cluster CA certificate (PEM), to compare with what hosts carry; null before it exists.
  returned: always
  type: str
  sample: "-----BEGIN CERTIFICATE-----\nMIIF...\n-----END CERTIFICATE-----\n"
cluster_uuid:
  description: The cluster's UUID (the OU of every certificate); null in check mode before the CA exists.
  returned: always
  type: str
  sample: 8e6b2c9d-6f3a-4b1e-9c7d-2a5f0e4b3c1d
node_uuids:
  description: Node UUID of each label in O(nodes) (in check mode, only those that exist).
  returned: always
  type: dict
  sample: {node1.example.com: 0a3f6d8e-5b2c-4e7f-9d1a-6c8b4e2f7a90}
created:
  description: Certificate files made by this run (would be, in check mode), relative to O(path).
  returned: always
  type: list
  elements: str
  sample: [cluster.crt, control-service.crt, nodes/node1.example.com.crt, users/plugin.crt]
files:
  description: Certificate and key files of every entry asked for, relative to O(path).
  returned: always
  type: dict
  sample: {cluster: {cert: cluster.crt, key: cluster.key},
           control: {cert: control-service.crt, key: control-service.key},
           nodes: {node1.example.com: {cert: nodes/node1.example.com.crt, key: nodes/node1.example.com.key}},
           users: {plugin: {cert: users/plugin.crt, key: users/plugin.key}}}
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _flocker_ca as ca


def write(path, data, mode):
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = path + '.new'
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)
    os.chmod(temporary, mode)
    os.rename(temporary, path)


def run(module):
    p = module.params
    if p['key_size'] < 2048:
        raise ca.CertificateError('key_size must be 2048 or more (got %d)' % p['key_size'])
    if p['valid_days'] <= 0:
        raise ca.CertificateError('valid_days must be more than 0 (got %d)' % p['valid_days'])
    if not str(p['cluster_name']).strip():
        raise ca.CertificateError('cluster_name must not be empty')
    for option in ('nodes', 'api_users'):
        if len(set(p[option])) != len(p[option]):
            raise ca.CertificateError('%s lists a name twice' % option)
    if os.path.exists(p['path']) and not os.path.isdir(p['path']):
        raise ca.CertificateError('path %s exists and is not a directory' % p['path'])
    existing, missing = ca.plan(p['path'], p['cluster_name'], p['control_names'], p['nodes'], p['api_users'])
    created = [ca.files(*entry)[0] for entry in missing]
    if missing and not module.check_mode:
        if not os.path.isdir(p['path']):
            os.makedirs(p['path'], mode=0o700)
        ca_key, ca_cert = existing.get(('cluster', None), (None, None))
        for entry in missing:
            key, cert = ca.make(entry, ca_key, ca_cert, p['cluster_name'], p['control_names'], p['key_size'],
                                p['valid_days'])
            crt_name, key_name = ca.files(*entry)
            write(os.path.join(p['path'], key_name), ca.key_pem(key), 0o600)
            write(os.path.join(p['path'], crt_name), ca.cert_pem(cert), 0o644)
            existing[entry] = (key, cert)
            if entry[0] == 'cluster':
                ca_key, ca_cert = key, cert
    cluster = existing.get(('cluster', None))
    layout = dict(nodes={}, users={})
    for kind, label in [('cluster', None)] + ([('control', None)] if p['control_names'] is not None else []):
        crt_name, key_name = ca.files(kind, label)
        layout[kind] = dict(cert=crt_name, key=key_name)
    for kind, option, group in (('node', 'nodes', 'nodes'), ('user', 'api_users', 'users')):
        for label in p[option]:
            crt_name, key_name = ca.files(kind, label)
            layout[group][label] = dict(cert=crt_name, key=key_name)
    return dict(changed=bool(missing), created=created, files=layout, path=os.path.abspath(p['path']),
                cluster_cert=ca.cert_pem(cluster[1]).decode('ascii') if cluster else None,
                cluster_uuid=ca.organizational_unit(cluster[1]) if cluster else None,
                node_uuids=dict((label, ca.node_uuid_of(pair[1])) for (kind, label), pair in existing.items()
                                if kind == 'node'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            cluster_name=dict(type='str', required=True),
            control_names=dict(type='list', elements='str'),
            nodes=dict(type='list', elements='str', default=[]),
            api_users=dict(type='list', elements='str', default=[]),
            key_size=dict(type='int', default=4096, no_log=False),
            valid_days=dict(type='int', default=7300),
        ),
        supports_check_mode=True,
    )
    if not ca.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography (Debian: python3-cryptography)'))
    try:
        result = run(module)
    except ca.CertificateError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg='cannot write the certificates under %s: %s'
                         % (module.params['path'], exc.strerror or type(exc).__name__),
                         exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
