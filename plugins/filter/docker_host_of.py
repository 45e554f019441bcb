# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one definition of how the collection reaches an inventory host's
Docker engine (documentation: docker_host_of.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
# the first of these that a host sets is its engine's address
ENGINE_VARIABLES = ('swarm_manager_docker_host', 'swarm_worker_docker_host', 'docker_host')


def docker_host_of(host, hostvars):
    if host not in hostvars:
        raise AnsibleFilterError('docker_host_of: %r is not a host of the inventory' % (host,))
    variables = hostvars[host]
    for name in ENGINE_VARIABLES:
        if name in variables and variables[name]:
            return variables[name]
    return DEFAULT_DOCKER_HOST


class FilterModule:
    def filters(self):
        return {'docker_host_of': docker_host_of}
