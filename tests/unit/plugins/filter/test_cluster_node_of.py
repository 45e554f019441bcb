# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One inventory, two paths: the role variables as docker_swarm_cluster nodes."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.nativeswarm.cluster.plugins.filter.cluster_node_of import cluster_node_of

HOSTVARS = {
    'm1': {'docker_host': 'unix:///m1.sock', 'swarm_node_labels': {'zone': 'a'}},
    'm2': {'docker_host': 'tcp://10.0.0.2:2376', 'swarm_manager_drain': 'true', 'swarm_advertise_addr': '10.0.0.2',
           'swarm_manager_node_labels': {'disk': 'ssd'}, 'swarm_node_labels': {'zone': 'b'},
           'swarm_node_connection': {'validate_certs': True, 'ca_path': '/c/ca.pem', 'client_cert': '/c/cert.pem',
                                     'client_key': '/c/key.pem'}},
    'w1': {'swarm_worker_availability': 'pause', 'swarm_worker_advertise_addr': 'eth1',
           'swarm_worker_data_path_addr': 'eth2'},
    'w2': {'swarm_worker_availability': '', 'swarm_node_connection': {'docker_host': 'ssh://root@w2'}},
    'bad': {'swarm_node_connection': {'docker_hots': 'x'}},
    'text': {'swarm_node_connection': 'docker_host=x'},
}


def test_a_manager_from_the_inventory_variables():
    assert cluster_node_of('m1', HOSTVARS, 'manager') == {
        'name': 'm1', 'docker_host': 'unix:///m1.sock', 'availability': 'active', 'labels': {'zone': 'a'}}
    assert cluster_node_of('m2', HOSTVARS, 'manager') == {
        'name': 'm2', 'docker_host': 'tcp://10.0.0.2:2376', 'validate_certs': True, 'ca_path': '/c/ca.pem',
        'client_cert': '/c/cert.pem', 'client_key': '/c/key.pem', 'advertise_addr': '10.0.0.2',
        'availability': 'drain', 'labels': {'disk': 'ssd'}}


def test_a_worker_from_the_inventory_variables():
    assert cluster_node_of('w1', HOSTVARS, 'worker') == {
        'name': 'w1', 'docker_host': 'unix:///var/run/docker.sock', 'advertise_addr': 'eth1',
        'data_path_addr': 'eth2', 'availability': 'pause', 'labels': {}}
    # an empty availability leaves the node's as it is; the connection may name another docker_host
    assert cluster_node_of('w2', HOSTVARS, 'worker') == {'name': 'w2', 'docker_host': 'ssh://root@w2', 'labels': {}}


@pytest.mark.parametrize('host, role, words', [
    ('bad', 'worker', 'unknown keys: docker_hots'),
    ('text', 'worker', 'must be a mapping'),
    ('m1', 'leader', "role must be 'manager' or 'worker'"),
    ('ghost', 'worker', 'not a host of the inventory'),
])
def test_wrong_input_is_a_clear_error(host, role, words):
    with pytest.raises(AnsibleFilterError, match=words):
        cluster_node_of(host, HOSTVARS, role)
