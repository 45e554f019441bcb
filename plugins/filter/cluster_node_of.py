# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An inventory host as a node of nativeswarm.cluster.docker_swarm_cluster,
from the same variables the swarm roles read (documentation:
cluster_node_of.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.nativeswarm.cluster.plugins.filter.docker_host_of import docker_host_of

# the connection keys a node of docker_swarm_cluster takes
CONNECTION_KEYS = ('docker_host', 'tls_hostname', 'api_version', 'timeout', 'ca_path', 'client_cert', 'client_key',
                   'tls', 'validate_certs', 'use_ssh_client')


def _first(variables, names, default=None):
    for name in names:
        if name in variables and variables[name] not in (None, ''):
            return variables[name]
    return default


def _truth(value):
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on', 'y')
    return bool(value)


def cluster_node_of(host, hostvars, role):
    if role not in ('manager', 'worker'):
        raise AnsibleFilterError("cluster_node_of: role must be 'manager' or 'worker', not %r" % (role,))
    docker_host = docker_host_of(host, hostvars)
    variables = hostvars[host]
    node = {'name': host, 'docker_host': docker_host}
    connection = variables['swarm_node_connection'] if 'swarm_node_connection' in variables else None
    if connection:
        if not isinstance(connection, dict):
            raise AnsibleFilterError('cluster_node_of: swarm_node_connection of %s must be a mapping' % host)
        unknown = sorted(set(connection) - set(CONNECTION_KEYS))
        if unknown:
            raise AnsibleFilterError('cluster_node_of: swarm_node_connection of %s has unknown keys: %s (known: %s)'
                                     % (host, ', '.join(unknown), ', '.join(CONNECTION_KEYS)))
        node.update(connection)
    prefix = 'swarm_%s_' % role
    advertise = _first(variables, [prefix + 'advertise_addr', 'swarm_advertise_addr'])
    data_path = _first(variables, [prefix + 'data_path_addr'])
    labels = _first(variables, [prefix + 'node_labels', 'swarm_node_labels'], {})
    if role == 'manager':
        availability = 'drain' if _truth(_first(variables, ['swarm_manager_drain'], False)) else 'active'
    else:
        # empty: leave the node's availability as it is
        availability = variables['swarm_worker_availability'] if 'swarm_worker_availability' in variables else 'active'
    node.update((key, value) for key, value in (('advertise_addr', advertise), ('data_path_addr', data_path),
                                                ('availability', availability)) if value)
    node['labels'] = dict(labels)
    return node


class FilterModule:
    def filters(self):
        return {'cluster_node_of': cluster_node_of}
