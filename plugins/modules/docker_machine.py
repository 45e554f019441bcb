#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_machine
short_description: Create, start, stop and remove Docker Machine hosts, and return how to reach their engines
version_added: 0.1.0
description:
  - Runs the C(docker-machine) command (the 0.16 command line - upstream's last release 0.16.2 and the maintained
    fork's C(v0.16.2-gitlab.N) releases) to bring one machine to the state asked for.
  - Returns the machine's facts read from C(docker-machine inspect) (its JSON configuration) and C(docker-machine ls),
    that is its driver, state, address and Docker version, the connection options that this collection's modules (and
    community.docker's) take to reach its engine over TLS, and the SSH settings for Ansible.
  - Every option is checked, and the machine read, before any command that changes something runs; a request that
    cannot work (for example stopping a machine of a driver that cannot stop machines) is refused first.
author:
  - nativeswarm.cluster maintainers (@nativeswarm)
extends_documentation_fragment:
  - nativeswarm.cluster.docker.ATTRIBUTES
options:
  name:
    description:
      - Name of the machine. It starts with a letter or digit and has only letters, digits, C(-) and C(.).
    type: str
    required: true
  state:
    description:
      - V(present) creates the machine if it does not exist (a new machine is running) and otherwise changes
        nothing.
      - V(started) also starts an existing machine that is not running; V(stopped) stops it (the machine must
        exist); V(restarted) restarts an existing machine every time.
      - The C(none) driver cannot start, stop or restart machines and the C(generic) driver cannot start or stop
        them; such a request is refused with a message, before anything changes.
      - V(absent) removes the machine (C(docker-machine rm -y)), the host the driver made with it included.
    type: str
    choices: [present, started, stopped, restarted, absent]
    default: present
  driver:
    description:
      - Driver that creates the machine, for example V(generic), V(amazonec2), V(digitalocean), V(openstack),
        V(virtualbox), V(none). Needed when the machine has to be created.
      - When the machine exists with another driver, it is left as it is with a warning, unless O(recreate=true).
    type: str
  driver_options:
    description:
      - Options of the driver, without the C(--<driver>-) prefix, for example C(ip-address) (or C(ip_address)) for
        C(--generic-ip-address). The C(none) driver's option is C(url).
      - A string or number gives C(--flag value); V(true) gives C(--flag); V(false) or null leave the flag out (the
        driver's default); a list repeats the flag.
      - Values of options whose names look secret (containing C(secret), C(password), C(token), C(access-key),
        C(api-key), C(private-key), C(credential), C(passphrase)...) are hidden from the output too, but give
        secrets in O(driver_secrets).
      - Read only when the machine is created.
    type: dict
    default: {}
  driver_secrets:
    description:
      - Driver options that are secrets (access keys, tokens, passwords), given like O(driver_options). Never
        shown in results, messages or logs.
      - Read only when the machine is created.
    type: dict
    default: {}
  engine_install_url:
    description: Script that installs Docker on the machine (C(--engine-install-url)).
    type: str
  engine_opt:
    description:
      - Options of the machine's Docker daemon, as C(--engine-opt key=value). A list value repeats the key.
    type: dict
    default: {}
  engine_label:
    description: Labels of the machine's Docker daemon (C(--engine-label key=value)).
    type: dict
    default: {}
  engine_env:
    description: Environment of the machine's Docker daemon (C(--engine-env key=value)).
    type: dict
    default: {}
  engine_insecure_registry:
    description: Registries the daemon reaches without TLS verification (C(--engine-insecure-registry)).
    type: list
    elements: str
    default: []
  engine_registry_mirror:
    description: Registry mirrors of the daemon (C(--engine-registry-mirror)).
    type: list
    elements: str
    default: []
  engine_storage_driver:
    description: Storage driver of the daemon (C(--engine-storage-driver)).
    type: str
  tls_san:
    description: Extra names and addresses in the engine's TLS certificate (C(--tls-san)).
    type: list
    elements: str
    default: []
  storage_path:
    description:
      - Directory where docker-machine keeps its machines and certificates (C(--storage-path)).
      - If not set, docker-machine's own default applies (E(MACHINE_STORAGE_PATH), else C(~/.docker/machine)).
    type: path
  recreate:
    description:
      - When the machine exists with another driver than O(driver), remove it and create it again. It is never
        recreated for other differences (docker-machine keeps no reliable record of every create option).
    type: bool
    default: false
  regenerate_certs:
    description:
      - Make new TLS certificates for the machine's engine (C(docker-machine regenerate-certs --force)), on an
        existing machine. Reports a change every time.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), remove the machine even when its driver fails to remove the host (C(rm -f)).
    type: bool
    default: false
  docker_machine_path:
    description:
      - The docker-machine command, a path or a name looked up in E(PATH).
    type: str
    default: docker-machine
requirements:
  - C(docker-machine) 0.16 (0.16.2, or the C(v0.16.2-gitlab.N) releases of its maintained fork) on the host that runs
    the module, usually the controller.
notes:
  - The connection options returned in RV(machine) are for the host that ran the module (the certificates are
    in its docker-machine storage); run the modules that use them there too, for example with
    C(delegate_to) the controller.
  - Only the driver of an existing machine is compared with the request; other create options are used when the
    machine is created.
seealso:
  - module: nativeswarm.cluster.docker_swarm_cluster
  - plugin: community.docker.docker_machine
    plugin_type: inventory
"""

EXAMPLES = r"""
---
- name: A machine on an existing host, reached over SSH
  nativeswarm.cluster.docker_machine:
    name: manager1
    driver: generic
    driver_options:
      ip-address: 192.0.2.11
      ssh-user: admin
      ssh-key: /home/admin/.ssh/id_ed25519
    engine_label:
      nativeswarm.role: manager
  register: manager1

- name: The swarm's state, read with the machine's TLS settings
  nativeswarm.cluster.docker_swarm_info:
    docker_host: "{{ manager1.machine.docker_host }}"
    validate_certs: "{{ manager1.machine.validate_certs }}"
    ca_path: "{{ manager1.machine.ca_path }}"
    client_cert: "{{ manager1.machine.client_cert }}"
    client_key: "{{ manager1.machine.client_key }}"

- name: A DigitalOcean droplet, the token kept out of every output
  nativeswarm.cluster.docker_machine:
    name: worker1
    driver: digitalocean
    driver_options:
      region: fra1
      size: s-2vcpu-4gb
    driver_secrets:
      access-token: "{{ vault_do_token }}"

- name: Stop a VirtualBox machine
  nativeswarm.cluster.docker_machine:
    name: dev1
    state: stopped

- name: Remove a machine and its host
  nativeswarm.cluster.docker_machine:
    name: worker1
    state: absent
"""

RETURN = r"""
exists:
  description: Whether the machine exists after the run (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
commands:
  description:
    - The docker-machine commands run (in check mode, that would run), secrets replaced by C(********).
  returned: always
  type: list
  elements: str
  sample: ['create --driver generic --generic-ip-address 192.0.2.11 manager1']
machine:
  description:
    - The machine as docker-machine describes it, after the run. Empty when it does not exist (or, in check mode,
      is not created yet).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the machine.
      type: str
      sample: manager1
    driver:
      description: Its driver.
      type: str
      sample: generic
    state:
      description: Its status word (C(Running), C(Stopped), C(Saved), C(Paused), C(Error), C(Timeout)...).
      type: str
      sample: Running
    ip:
      description: Its address.
      type: str
      sample: 192.0.2.11
    url:
      description: URL of its engine.
      type: str
      sample: tcp://192.0.2.11:2376
    docker_version:
      description: Docker version of its engine, or C(Unknown) when the engine does not answer.
      type: str
      sample: 24.0.7
    error:
      description: What docker-machine reports as wrong with the machine (empty when nothing).
      type: str
      sample: ''
    storage_path:
      description: docker-machine's storage directory the machine is kept in.
      type: str
      sample: /home/admin/.docker/machine
    engine_labels:
      description: Labels of its engine, as C(key=value).
      type: list
      elements: str
      sample: [nativeswarm.role=manager]
    docker_host:
      description: The engine's URL, for the O(nativeswarm.cluster.docker_swarm_info#module:docker_host) option.
      type: str
      sample: tcp://192.0.2.11:2376
    tls:
      description: Whether the engine is reached with TLS.
      type: bool
      sample: true
    validate_certs:
      description: Whether the engine's certificate is checked (docker-machine engines use TLS with verification).
      type: bool
      sample: true
    ca_path:
      description: CA certificate that signed the engine's certificate (null without TLS).
      type: str
      sample: /home/admin/.docker/machine/certs/ca.pem
    client_cert:
      description: Client certificate the engine accepts (null without TLS).
      type: str
      sample: /home/admin/.docker/machine/certs/cert.pem
    client_key:
      description: Key of RV(machine.client_cert) (null without TLS).
      type: str
      sample: /home/admin/.docker/machine/certs/key.pem
    cert_path:
      description: The machine's certificate directory (what C(docker-machine env) gives as E(DOCKER_CERT_PATH)).
      type: str
      sample: /home/admin/.docker/machine/machines/manager1
    docker_env:
      description: The environment C(docker-machine env) sets, for an C(environment) keyword.
      type: dict
      sample: {DOCKER_HOST: tcp://192.0.2.11:2376, DOCKER_TLS_VERIFY: '1',
               DOCKER_CERT_PATH: /home/admin/.docker/machine/machines/manager1, DOCKER_MACHINE_NAME: manager1}
    ansible_host:
      description: Address to reach the machine at over SSH (null when the driver has none).
      type: str
      sample: 192.0.2.11
    ansible_user:
      description: SSH user of the machine (null when the driver has none).
      type: str
      sample: admin
    ansible_port:
      description: SSH port of the machine (null when the driver has none).
      type: int
      sample: 22
    ansible_ssh_private_key_file:
      description: SSH key of the machine (null when the driver has none).
      type: str
      sample: /home/admin/.ssh/id_ed25519
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils._machine import (
    MachineError, explain_failure, global_args, is_missing, ls_args, machine_facts, masked, parse_inspect,
    parse_ls_row, plan, predicted, secret_values, summary, validate)


class Machine:
    """The docker-machine command, for one storage path."""

    def __init__(self, module, path, secrets):
        self.module = module
        self.path = path
        self.secrets = secrets
        self.prefix = global_args(module.params)

    def run(self, args):
        return self.module.run_command([self.path] + self.prefix + list(args), environ_update={'LC_ALL': 'C'})

    def fail(self, args, rc, err, out=''):
        self.module.fail_json(msg=explain_failure(args, rc, err or out, self.secrets) or 'docker-machine failed',
                              rc=rc, command=' '.join(masked(args, self.secrets)))

    def read(self, name):
        """(inspect JSON, ls row) of the machine, or (None, None)."""
        args = ['inspect', name]
        rc, out, err = self.run(args)
        if rc != 0:
            if is_missing(err) or is_missing(out):
                return None, None
            self.fail(args, rc, err, out)
        config = parse_inspect(out)
        args = ls_args(name)
        rc, out, err = self.run(args)
        if rc != 0:
            self.fail(args, rc, err, out)
        return config, parse_ls_row(out, name) or {}


def find_command(module, path):
    if os.sep in path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            module.fail_json(msg='docker_machine_path %s is not an executable file; install docker-machine there or '
                                 'point docker_machine_path to it' % path)
        return path
    found = module.get_bin_path(path)
    if not found:
        module.fail_json(msg='%s was not found in PATH (%s): install docker-machine 0.16 (for example the maintained '
                             'fork\'s release binary) or give its path in docker_machine_path'
                             % (path, os.environ.get('PATH', '')))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'started', 'stopped', 'restarted', 'absent']),
            driver=dict(type='str'),
            driver_options=dict(type='dict', default={}),
            driver_secrets=dict(type='dict', default={}, no_log=True),
            engine_install_url=dict(type='str'),
            engine_opt=dict(type='dict', default={}),
            engine_label=dict(type='dict', default={}),
            engine_env=dict(type='dict', default={}),
            engine_insecure_registry=dict(type='list', elements='str', default=[]),
            engine_registry_mirror=dict(type='list', elements='str', default=[]),
            engine_storage_driver=dict(type='str'),
            tls_san=dict(type='list', elements='str', default=[]),
            storage_path=dict(type='path'),
            recreate=dict(type='bool', default=False),
            regenerate_certs=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            docker_machine_path=dict(type='str', default='docker-machine'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    secrets = secret_values(params)
    module.no_log_values.update(secrets)
    try:
        validate(params)
    except MachineError as exc:
        module.fail_json(msg=str(exc))
    machine = Machine(module, find_command(module, params['docker_machine_path']), secrets)

    try:
        config, row = machine.read(params['name'])
        commands, warnings = plan(params, config, (row or {}).get('State'))
    except MachineError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)

    before = summary(config, (row or {}).get('State'))
    changed = bool(commands)
    if commands and not module.check_mode:
        done = []
        for args in commands:
            rc, out, err = machine.run(args)
            if rc != 0:
                if explain_failure(args, rc, err or out, secrets) is None:
                    continue  # already running / already stopped: nothing to do after all
                machine.fail(args, rc, err, out)
            done.append(args)
        changed = bool(done)
        try:
            config, row = machine.read(params['name'])
        except MachineError as exc:
            module.fail_json(msg=str(exc))

    if module.check_mode:
        after = predicted(before, commands, params.get('driver'))
        if not after['exists'] or (commands and commands[-1][0] == 'create'):
            config, row = None, None
    else:
        after = summary(config, (row or {}).get('State'))

    module.exit_json(changed=changed, exists=after['exists'],
                     commands=[' '.join(masked(args, secrets)) for args in commands],
                     machine=machine_facts(config, row) if config is not None else {},
                     diff=dict(before=before, after=after))


if __name__ == '__main__':
    main()
