# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one rule for how a host's engine is reached."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.nativeswarm.cluster.plugins.filter.docker_host_of import FilterModule, docker_host_of

HOSTVARS = {
    'plain': {},
    'lab': {'docker_host': 'unix:///run/lab/n1/docker.sock'},
    'manager': {'docker_host': 'unix:///a.sock', 'swarm_manager_docker_host': 'tcp://10.0.0.1:2376'},
    'worker': {'docker_host': 'unix:///a.sock', 'swarm_worker_docker_host': 'tcp://10.0.0.2:2376'},
    'empty': {'swarm_manager_docker_host': '', 'docker_host': 'unix:///b.sock'},
}


@pytest.mark.parametrize('host, expected', [
    ('plain', 'unix:///var/run/docker.sock'),
    ('lab', 'unix:///run/lab/n1/docker.sock'),
    ('manager', 'tcp://10.0.0.1:2376'),
    ('worker', 'tcp://10.0.0.2:2376'),
    ('empty', 'unix:///b.sock'),  # an empty value counts as not set
])
def test_the_first_variable_a_host_sets_wins(host, expected):
    assert docker_host_of(host, HOSTVARS) == expected


def test_a_host_outside_the_inventory_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="'ghost' is not a host of the inventory"):
        docker_host_of('ghost', HOSTVARS)


def test_the_filter_is_registered_under_its_name():
    assert FilterModule().filters()['docker_host_of'] is docker_host_of
