# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure core of docker_machine: flag rendering, reading inspect and ls,
planning per state, and what the command's failures mean."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._machine import (
    LS_FORMAT, MASK, MachineError, create_args, driver_flags, engine_flags, explain_failure, global_args, is_missing,
    is_secret_option, ls_args, machine_facts, masked, option_flag, parse_inspect, parse_ls_row, plan, predicted,
    secret_values, summary, validate)

STORE = '/home/u/.docker/machine'


def inspect_json(name='node0', driver='generic', ip='10.0.0.5', tls_verify=True, url=None):
    drv = {'IPAddress': ip, 'MachineName': name, 'SSHUser': 'root', 'SSHPort': 22,
           'SSHKeyPath': '%s/machines/%s/id_rsa' % (STORE, name), 'StorePath': STORE, 'EnginePort': 2376}
    if url is not None:
        drv['URL'] = url
    return {
        'ConfigVersion': 3, 'Driver': drv, 'DriverName': driver,
        'HostOptions': {
            'EngineOptions': {'ArbitraryFlags': [], 'Env': [], 'InsecureRegistry': [], 'Labels': ['a=b'],
                              'RegistryMirror': [], 'StorageDriver': '', 'TlsVerify': tls_verify,
                              'InstallURL': 'https://get.docker.com'},
            'SwarmOptions': {'IsSwarm': False},
            'AuthOptions': {'CertDir': STORE + '/certs', 'CaCertPath': STORE + '/certs/ca.pem',
                            'CaPrivateKeyPath': STORE + '/certs/ca-key.pem',
                            'ClientCertPath': STORE + '/certs/cert.pem', 'ClientKeyPath': STORE + '/certs/key.pem',
                            'ServerCertPath': '%s/machines/%s/server.pem' % (STORE, name),
                            'ServerKeyPath': '%s/machines/%s/server-key.pem' % (STORE, name),
                            'ServerCertSANs': [], 'StorePath': '%s/machines/%s' % (STORE, name)},
        },
        'Name': name,
    }


def params(**kwargs):
    base = dict(name='node0', state='present', driver='generic', driver_options={}, driver_secrets={},
                engine_install_url=None, engine_opt={}, engine_label={}, engine_env={},
                engine_insecure_registry=[], engine_registry_mirror=[], engine_storage_driver=None, tls_san=[],
                storage_path=None, recreate=False, regenerate_certs=False, force=False)
    base.update(kwargs)
    return base


# ------------------------------------------------------------------ rendering

def test_driver_options_become_prefixed_flags_lists_repeat_false_is_left_out():
    args = driver_flags('amazonec2', {'region': 'eu-west-1', 'root_size': 40, 'open-port': [80, '443'],
                                      'private-address-only': True, 'use-private-address': False,
                                      'amazonec2-vpc-id': 'vpc-1', 'zone': None})
    assert args == ['--amazonec2-vpc-id', 'vpc-1', '--amazonec2-open-port', '80', '--amazonec2-open-port', '443',
                    '--amazonec2-private-address-only', '--amazonec2-region', 'eu-west-1',
                    '--amazonec2-root-size', '40']


def test_none_driver_url_is_not_prefixed():
    assert option_flag('none', 'url') == '--url'
    assert driver_flags('none', {'url': 'tcp://10.0.0.5:2376'}) == ['--url', 'tcp://10.0.0.5:2376']


@pytest.mark.parametrize('options, words', [
    ({'--region': 'x'}, 'not an option name'),
    ({'Region': 'x'}, 'not an option name'),
    ({'tags': {'a': 1}}, 'mapping'),
    ({'open-port': [True]}, 'boolean flag is not repeated'),
    ({'open-port': [['80']]}, 'list'),
])
def test_bad_driver_options_are_refused_with_the_option_named(options, words):
    with pytest.raises(MachineError) as err:
        driver_flags('amazonec2', options)
    assert words in str(err.value)


def test_engine_flags_in_a_stable_order():
    args = engine_flags(params(engine_install_url='https://get.example/docker.sh',
                               engine_opt={'log-driver': 'journald', 'dns': ['1.1.1.1', '8.8.8.8']},
                               engine_label={'nativeswarm.role': 'manager', 'zone': 'a'},
                               engine_env={'HTTP_PROXY': 'http://p:3128'},
                               engine_insecure_registry=['reg.lan:5000'], engine_registry_mirror=['https://m'],
                               engine_storage_driver='overlay2', tls_san=['node0.example.com']))
    assert args == ['--engine-install-url', 'https://get.example/docker.sh',
                    '--engine-opt', 'dns=1.1.1.1', '--engine-opt', 'dns=8.8.8.8',
                    '--engine-opt', 'log-driver=journald',
                    '--engine-label', 'nativeswarm.role=manager', '--engine-label', 'zone=a',
                    '--engine-env', 'HTTP_PROXY=http://p:3128',
                    '--engine-insecure-registry', 'reg.lan:5000', '--engine-registry-mirror', 'https://m',
                    '--tls-san', 'node0.example.com', '--engine-storage-driver', 'overlay2']


def test_engine_label_booleans_are_words_and_bad_keys_refused():
    assert engine_flags(params(engine_label={'gpu': True})) == ['--engine-label', 'gpu=true']
    with pytest.raises(MachineError):
        engine_flags(params(engine_label={'bad key': 'x'}))
    with pytest.raises(MachineError):
        engine_flags(params(tls_san=['']))


def test_create_args_with_secrets_and_storage_path():
    p = params(driver='digitalocean', driver_options={'region': 'fra1'}, driver_secrets={'access-token': 'T0KEN'},
               storage_path='/srv/machines')
    assert create_args(p) == ['create', '--driver', 'digitalocean', '--digitalocean-access-token', 'T0KEN',
                              '--digitalocean-region', 'fra1', 'node0']
    assert global_args(p) == ['--storage-path', '/srv/machines']
    assert global_args(params()) == []


def test_a_key_in_both_options_and_secrets_is_refused():
    with pytest.raises(MachineError) as err:
        create_args(params(driver_options={'access-key': 'A1'}, driver_secrets={'access-key': 'B2'}))
    assert 'access-key' in str(err.value) and 'A1' not in str(err.value) and 'B2' not in str(err.value)


def test_secret_values_every_secret_and_secret_looking_options():
    p = params(driver_options={'secret-key': 'S1', 'region': 'eu', 'session_token': 'S2', 'ssh-port': 22},
               driver_secrets={'anything': 'S3', 'ports': [1234]})
    assert sorted(secret_values(p)) == ['1234', 'S1', 'S2', 'S3']
    assert is_secret_option('openstack_password') and is_secret_option('access-key')
    assert not is_secret_option('region') and not is_secret_option('ssh-key')
    assert masked(['--x', 'aS1b', 'S3'], ['S1', 'S3']) == ['--x', 'a%sb' % MASK, MASK]


@pytest.mark.parametrize('bad, words', [
    (dict(name='-x'), 'not a valid machine name'),
    (dict(name='a b'), 'not a valid machine name'),
    (dict(name=''), 'not a valid machine name'),
    (dict(driver='Generic!'), 'not a driver name'),
    (dict(recreate=True, driver=None), 'recreate needs driver'),
    (dict(storage_path=' '), 'storage_path'),
    (dict(engine_opt={'x': {'y': 1}}), 'mapping'),
])
def test_validate_refuses_bad_requests(bad, words):
    with pytest.raises(MachineError) as err:
        validate(params(**bad))
    assert words in str(err.value)


def test_validate_accepts_dotted_names():
    assert validate(params(name='node-1.example', driver=None))


# ------------------------------------------------------------------ reading

def test_both_spellings_of_a_missing_machine():
    assert is_missing('Docker machine "x" does not exist. Use "docker-machine ls" to list machines. '
                      'Use "docker-machine create" to add a new one.')
    assert is_missing('Host does not exist: "x"')
    assert not is_missing('Error: Host is not running')


def test_parse_inspect_refuses_what_is_not_a_machine():
    assert parse_inspect(json.dumps(inspect_json()))['DriverName'] == 'generic'
    with pytest.raises(MachineError):
        parse_inspect('export DOCKER_HOST=x')
    with pytest.raises(MachineError):
        parse_inspect('[1, 2]')


def test_ls_row_of_the_machine_with_empty_cells():
    text = 'node01\tgeneric\tRunning\ttcp://10.0.0.6:2376\tv24.0.7\t\nnode0\tgeneric\tStopped\t\tUnknown\t\n'
    assert parse_ls_row(text, 'node0') == dict(Name='node0', DriverName='generic', State='Stopped', URL='',
                                               DockerVersion='Unknown', Error='')
    assert parse_ls_row(text, 'node') is None
    args = ls_args('node.0')
    assert args[:3] == ['ls', '--filter', 'name=^node\\.0$'] and args[4] == LS_FORMAT


def test_facts_of_a_tls_machine():
    row = dict(State='Running', URL='tcp://10.0.0.5:2376', DockerVersion='v24.0.7', Error='')
    facts = machine_facts(inspect_json(), row)
    assert facts['docker_host'] == 'tcp://10.0.0.5:2376'
    assert facts['tls'] is True and facts['validate_certs'] is True
    assert (facts['ca_path'], facts['client_cert'], facts['client_key']) == (
        STORE + '/certs/ca.pem', STORE + '/certs/cert.pem', STORE + '/certs/key.pem')
    assert facts['cert_path'] == STORE + '/machines/node0'
    assert facts['storage_path'] == STORE
    assert (facts['ansible_host'], facts['ansible_user'], facts['ansible_port']) == ('10.0.0.5', 'root', 22)
    assert facts['ansible_ssh_private_key_file'] == STORE + '/machines/node0/id_rsa'
    assert facts['docker_env'] == {'DOCKER_HOST': 'tcp://10.0.0.5:2376', 'DOCKER_TLS_VERIFY': '1',
                                   'DOCKER_CERT_PATH': STORE + '/machines/node0', 'DOCKER_MACHINE_NAME': 'node0'}
    assert facts['engine_labels'] == ['a=b'] and facts['docker_version'] == 'v24.0.7'


def test_facts_of_a_stopped_machine_still_name_its_engine():
    facts = machine_facts(inspect_json(), dict(State='Stopped', URL=''))
    assert facts['docker_host'] == 'tcp://10.0.0.5:2376' and facts['state'] == 'Stopped'


def test_facts_of_a_none_machine_on_a_unix_socket_are_without_tls():
    config = inspect_json(driver='none', ip='', url='unix:///run/docker.sock')
    config['Driver'].update(SSHUser='', SSHPort=0, SSHKeyPath='')
    facts = machine_facts(config, {})
    assert facts['docker_host'] == 'unix:///run/docker.sock'
    assert facts['tls'] is False and facts['ca_path'] is None
    assert facts['ansible_host'] is None and facts['ansible_port'] is None
    assert 'DOCKER_TLS_VERIFY' not in facts['docker_env']


def test_facts_of_a_none_machine_with_tcp_url_take_the_address_from_it():
    facts = machine_facts(inspect_json(driver='none', ip='', url='tcp://[2001:db8::5]:2376'), {})
    assert facts['ip'] == '2001:db8::5' and facts['tls'] is True


def test_tls_verify_false_gives_no_tls():
    assert machine_facts(inspect_json(tls_verify=False), {})['tls'] is False


# ------------------------------------------------------------------ planning

def test_present_creates_an_absent_machine_and_leaves_an_existing_one():
    commands, warnings = plan(params(), None, None)
    assert commands == [['create', '--driver', 'generic', 'node0']] and warnings == []
    assert plan(params(), inspect_json(), 'Stopped') == ([], [])


def test_an_absent_machine_without_driver_is_refused():
    with pytest.raises(MachineError) as err:
        plan(params(driver=None), None, None)
    assert 'driver' in str(err.value)


def test_another_driver_is_reported_not_recreated_unless_asked():
    commands, warnings = plan(params(driver='amazonec2'), inspect_json(), 'Running')
    assert commands == [] and 'driver generic, not amazonec2' in warnings[0]
    commands, warnings = plan(params(driver='amazonec2', recreate=True), inspect_json(), 'Running')
    assert commands == [['rm', '-y', '-f', 'node0'], ['create', '--driver', 'amazonec2', 'node0']]
    assert plan(params(recreate=True), inspect_json(), 'Running') == ([], [])


@pytest.mark.parametrize('state, status, expected', [
    ('started', 'Running', []),
    ('started', 'Stopped', [['start', 'node0']]),
    ('started', 'Saved', [['start', 'node0']]),
    ('stopped', 'Running', [['stop', 'node0']]),
    ('stopped', 'Stopped', []),
    ('restarted', 'Running', [['restart', 'node0']]),
    ('restarted', 'Stopped', [['restart', 'node0']]),
    ('absent', 'Running', [['rm', '-y', 'node0']]),
])
def test_states_of_a_virtualbox_machine(state, status, expected):
    assert plan(params(state=state, driver='virtualbox'), inspect_json(driver='virtualbox'), status)[0] == expected


def test_absent_of_an_absent_machine_and_forced_removal():
    assert plan(params(state='absent'), None, None) == ([], [])
    assert plan(params(state='absent', force=True), inspect_json(), 'Error')[0] == [['rm', '-y', '-f', 'node0']]


def test_started_or_restarted_on_an_absent_machine_creates_it_only():
    for state in ('started', 'restarted'):
        assert plan(params(state=state), None, None)[0] == [['create', '--driver', 'generic', 'node0']]


def test_stopped_needs_an_existing_machine():
    with pytest.raises(MachineError) as err:
        plan(params(state='stopped'), None, None)
    assert 'does not exist' in str(err.value)


@pytest.mark.parametrize('driver, state, status', [
    ('none', 'started', 'Stopped'), ('none', 'stopped', 'Running'), ('none', 'restarted', 'Running'),
    ('generic', 'started', 'Stopped'), ('generic', 'stopped', 'Running'),
])
def test_drivers_that_cannot_start_or_stop_are_refused_before_anything(driver, state, status):
    with pytest.raises(MachineError) as err:
        plan(params(state=state, driver=driver, regenerate_certs=True), inspect_json(driver=driver), status)
    assert 'cannot' in str(err.value) and driver in str(err.value)


def test_generic_can_restart_and_a_running_none_machine_is_started():
    assert plan(params(state='restarted'), inspect_json(), 'Running')[0] == [['restart', 'node0']]
    assert plan(params(state='started', driver='none'), inspect_json(driver='none'), 'Running')[0] == []


def test_regenerate_certs_on_an_existing_machine_only():
    assert plan(params(regenerate_certs=True), inspect_json(), 'Running')[0] == [
        ['regenerate-certs', '--force', 'node0']]
    assert plan(params(regenerate_certs=True), None, None)[0] == [['create', '--driver', 'generic', 'node0']]


def test_check_mode_prediction():
    before = summary(inspect_json(driver='virtualbox'), 'Running')
    assert before == dict(exists=True, driver='virtualbox', state='Running')
    assert predicted(before, [['stop', 'node0']], None)['state'] == 'Stopped'
    assert predicted(before, [['rm', '-y', 'node0']], None) == dict(exists=False)
    created = predicted(summary(None, None), [['create']], 'generic')
    assert created == dict(exists=True, driver='generic', state='Running')
    assert predicted(before, [], None) == before


# ------------------------------------------------------------------ failures

def test_already_running_or_stopped_mean_nothing_to_do():
    assert explain_failure(['start', 'n'], 1, 'Machine "n" is already running.') is None
    assert explain_failure(['stop', 'n'], 1, 'Machine "n" is already stopped.') is None
    assert explain_failure(['restart', 'n'], 1, 'Machine "n" is already running.') is not None


def test_exit_3_is_a_pre_create_check_and_secrets_are_masked():
    msg = explain_failure(['create', '--driver', 'digitalocean', 'n'], 3,
                          'Running pre-create checks...\nError with pre-create check: "token T0KEN refused"',
                          ['T0KEN'])
    assert 'pre-create check (exit 3); nothing was created' in msg
    assert 'T0KEN' not in msg and MASK in msg


@pytest.mark.parametrize('stderr, words', [
    ('Docker machine "n" already exists', 'already exists'),
    ('Host does not exist: "n"', 'does not exist'),
    ('Error stopping machine: generic driver does not support stop', 'driver cannot stop'),
    ('Error stopping machine: hosts without a driver cannot be stopped', 'driver cannot stop'),
    ('Are you sure? (y/n): Error: EOF', 'confirmation'),
    ('Incorrect Usage: flag provided but not defined: -generic-ssh-pass', 'does not know an option'),
    ('', 'no message'),
])
def test_failures_in_words(stderr, words):
    assert words in explain_failure(['stop', 'n'], 1, stderr)
