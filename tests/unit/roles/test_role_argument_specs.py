# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The roles' meta/argument_specs.yml agree with their defaults, and the
cluster settings of swarm_manager are docker_swarm's cluster-setting options
with the same types (read from the module's own argument spec). Pure file
and spec reading: no engine, no lab."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(d for d in os.listdir(os.path.join(ROOT, 'roles'))
               if os.path.isfile(os.path.join(ROOT, 'roles', d, 'meta', 'argument_specs.yml')))

# docker_swarm options that are not cluster settings: this node's membership,
# one-off actions and secrets to return, guards; the connection options come
# from the shared client setup. A new docker_swarm option is either listed
# here or a key of swarm_manager_cluster_settings (and passed in
# roles/swarm_manager/tasks/init.yml).
NOT_CLUSTER_SETTINGS = {
    'state', 'role', 'remote_addrs', 'join_token', 'manager', 'advertise_addr', 'listen_addr', 'data_path_addr',
    'availability', 'rotate_worker_token', 'rotate_manager_token', 'rotate_unlock_key', 'rotate_ca', 'unlock_key',
    'return_join_tokens', 'return_unlock_key', 'allow_even_managers', 'force', 'wait_timeout',
    'probe_remote_addrs', 'node_labels', 'node_labels_state', 'force_new_cluster',
}


def load(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return yaml.safe_load(f)


def role_spec(role, entry='main'):
    return load('roles', role, 'meta', 'argument_specs.yml')['argument_specs'][entry]


class Captured(Exception):
    pass


class CapturingModule:
    def __init__(self, argument_spec, **kwargs):
        raise Captured(argument_spec)


@pytest.fixture
def docker_swarm_spec(monkeypatch):
    """docker_swarm's argument spec as the module builds it (without running it)."""
    monkeypatch.setattr(_client, 'AnsibleModule', CapturingModule)
    with pytest.raises(Captured) as captured:
        docker_swarm.main()
    return captured.value.args[0]


def shape(spec):
    """What a value must look like: type, elements, choices and suboptions."""
    return dict((name, dict(type=opt.get('type', 'str'), elements=opt.get('elements'), choices=opt.get('choices'),
                            no_log=bool(opt.get('no_log')), required=bool(opt.get('required')),
                            options=shape(opt['options']) if opt.get('options') else None))
                for name, opt in spec.items())


def test_every_role_is_covered():
    assert ROLES == ['engine', 'flocker', 'grafana', 'prometheus', 'swarm_manager', 'swarm_worker']


@pytest.mark.parametrize('role', ROLES)
def test_argument_specs_mirror_the_defaults(role):
    """Every default is documented in meta/argument_specs.yml with the same
    default, in the same order, and nothing else is."""
    defaults = load('roles', role, 'defaults', 'main.yml')
    options = role_spec(role)['options']
    assert list(defaults) == list(options)
    assert all(name.startswith(role + '_') for name in defaults)
    assert dict((k, v.get('default')) for k, v in options.items()) == defaults


@pytest.mark.parametrize('role', ROLES)
def test_other_entry_points_are_part_of_main(role):
    specs = load('roles', role, 'meta', 'argument_specs.yml')['argument_specs']
    main = specs['main']['options']
    for entry, spec in specs.items():
        for name, opt in (spec.get('options') or {}).items():
            assert name in main, (entry, name)
            assert opt.get('type') == main[name].get('type') and opt.get('default') == main[name].get('default'), \
                (entry, name)


def test_cluster_settings_are_the_cluster_setting_options_of_docker_swarm(docker_swarm_spec):
    settings = role_spec('swarm_manager')['options']['swarm_manager_cluster_settings']
    assert settings['type'] == 'dict'
    keys = set(settings['options'])
    module_options = set(docker_swarm_spec) - set(_client.DOCKER_COMMON_ARGS)
    assert keys == module_options - NOT_CLUSTER_SETTINGS, (
        'swarm_manager_cluster_settings and the cluster-setting options of docker_swarm differ')
    assert shape(settings['options']) == shape(dict((k, docker_swarm_spec[k]) for k in keys))


def flat(tasks):
    """The tasks, those of blocks (and their rescues) included."""
    for task in tasks:
        yield task
        yield from flat(task.get('block', []) + task.get('rescue', []))


def site_tasks():
    return [task for play in load('playbooks', 'site.yml') for task in play.get('tasks', [])]


@pytest.mark.parametrize('tasks, module', [
    (lambda: load('roles', 'swarm_manager', 'tasks', 'init.yml'), 'nativeswarm.cluster.docker_swarm'),
    # site.yml's controller path: the same inventory variable, the same settings
    (site_tasks, 'nativeswarm.cluster.docker_swarm_cluster'),
])
def test_both_paths_pass_every_cluster_setting(tasks, module):
    keys = set(role_spec('swarm_manager')['options']['swarm_manager_cluster_settings']['options'])
    calls = [t for t in flat(tasks()) if module in t]
    assert len(calls) == 1
    args = calls[0][module]
    for key in keys:
        assert args.get(key) == '{{ __settings.%s | default(omit) }}' % key, key
