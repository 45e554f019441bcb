# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_machine's shell: its argument spec agrees with DOCUMENTATION, and
through main() with a scripted docker-machine (run_command replaced): bad
input and a missing command end in a clean failure, check mode runs nothing
that changes, secrets never show in results or messages."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.modules import docker_machine
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules import documented

MISSING = ('Docker machine "node0" does not exist. Use "docker-machine ls" to list machines. '
           'Use "docker-machine create" to add a new one.')


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def spec(monkeypatch):
    return documented.module_spec(monkeypatch, docker_machine)


def test_argument_spec_matches_documentation(monkeypatch):
    argument_spec, kwargs = spec(monkeypatch)
    assert documented.view(argument_spec, 'options') == documented.view(documented.documented_options(docker_machine))
    assert kwargs['supports_check_mode'] is True


def test_only_driver_secrets_is_no_log(monkeypatch):
    argument_spec, _kwargs = spec(monkeypatch)
    assert sorted(n for n, o in argument_spec.items() if o.get('no_log')) == ['driver_secrets']


def test_examples_and_return_are_yaml():
    assert yaml.safe_load(docker_machine.EXAMPLES)
    assert 'machine' in yaml.safe_load(docker_machine.RETURN)


class Script:
    """run_command stand-in: answers per command word, records calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, module, args, **kwargs):
        self.calls.append(args)
        answer = self.answers.get(args[1] if not args[1].startswith('--storage') else args[3])
        if isinstance(answer, list):
            answer = answer.pop(0)
        return answer or (0, '', '')


def inspect_answer(driver='virtualbox'):
    return (0, json.dumps({'ConfigVersion': 3, 'Name': 'node0', 'DriverName': driver,
                           'Driver': {'IPAddress': '10.0.0.5', 'SSHUser': 'docker', 'SSHPort': 22},
                           'HostOptions': {'EngineOptions': {'TlsVerify': True}, 'AuthOptions': {
                               'CaCertPath': '/s/certs/ca.pem', 'ClientCertPath': '/s/certs/cert.pem',
                               'ClientKeyPath': '/s/certs/key.pem', 'StorePath': '/s/machines/node0'}}}), '')


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        raise ExitJson(self.remove_values_for_test(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise FailJson(self.remove_values_for_test(kwargs))

    def remove_values_for_test(self, kwargs):
        from ansible.module_utils.common.parameters import remove_values
        return remove_values(kwargs, self.no_log_values)

    monkeypatch.setattr(AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(AnsibleModule, 'remove_values_for_test', remove_values_for_test, raising=False)
    monkeypatch.setattr(AnsibleModule, 'get_bin_path', lambda self, name, *a, **k: '/usr/bin/' + name)

    def _run(args, answers=None, check=False):
        script = Script(answers or {})

        def run_command(self, cmd, **kwargs):
            return script(self, cmd, **kwargs)
        monkeypatch.setattr(AnsibleModule, 'run_command', run_command)
        module_args = dict(args, _ansible_check_mode=check)
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': module_args}).encode())
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)  # ansible-core 2.19+
        with pytest.raises((ExitJson, FailJson)) as outcome:
            docker_machine.main()
        return outcome.type, outcome.value.args[0], script.calls
    return _run


def test_bad_name_fails_before_any_command(run):
    kind, result, calls = run({'name': 'no good', 'driver': 'generic'})
    assert kind is FailJson and 'not a valid machine name' in result['msg'] and calls == []


def test_missing_command_says_what_to_do(run, monkeypatch):
    monkeypatch.setattr(AnsibleModule, 'get_bin_path', lambda self, name, *a, **k: None)
    kind, result, calls = run({'name': 'node0', 'driver': 'generic'})
    assert kind is FailJson and 'docker-machine was not found in PATH' in result['msg'] and calls == []
    kind, result, calls = run({'name': 'node0', 'docker_machine_path': '/nonexistent/docker-machine'})
    assert kind is FailJson and 'not an executable file' in result['msg']


def test_check_mode_reads_only(run):
    kind, result, calls = run({'name': 'node0', 'driver': 'generic', 'driver_options': {'ip-address': '10.0.0.5'}},
                              {'inspect': (1, '', MISSING)}, check=True)
    assert kind is ExitJson and result['changed'] is True and result['exists'] is True
    assert result['commands'] == ['create --driver generic --generic-ip-address 10.0.0.5 node0']
    assert [c[1] for c in calls] == ['inspect']


def test_old_spelling_of_missing_machine_and_storage_path(run):
    kind, result, calls = run({'name': 'node0', 'state': 'absent', 'storage_path': '/srv/m'},
                              {'inspect': (1, '', 'Host does not exist: "node0"')})
    assert kind is ExitJson and result['changed'] is False and result['machine'] == {}
    assert calls == [['/usr/bin/docker-machine', '--storage-path', '/srv/m', 'inspect', 'node0']]


def test_secrets_never_show_in_results_or_messages(run):
    answers = {'inspect': (1, '', MISSING),
               'create': (3, 'Running pre-create checks...', 'Error with pre-create check: "bad token T0K3N-XYZ"')}
    kind, result, calls = run({'name': 'node0', 'driver': 'digitalocean',
                               'driver_options': {'region': 'fra1', 'password': 'PW-123'},
                               'driver_secrets': {'access-token': 'T0K3N-XYZ'}}, answers)
    assert kind is FailJson and 'pre-create check' in result['msg']
    text = json.dumps(result)
    assert 'T0K3N-XYZ' not in text and 'PW-123' not in text
    assert '--digitalocean-access-token ********' in result['command']
    assert ['--digitalocean-access-token', 'T0K3N-XYZ'] == calls[1][4:6]


def test_stop_of_a_generic_machine_is_refused_before_anything_changes(run):
    kind, result, calls = run({'name': 'node0', 'state': 'stopped'},
                              {'inspect': inspect_answer('generic'), 'ls': (0, 'node0\tgeneric\tRunning\t\t\t', '')})
    assert kind is FailJson and 'cannot stop machine node0' in result['msg']
    assert [c[1] for c in calls] == ['inspect', 'ls']


def test_already_stopped_answer_is_no_change(run):
    row = (0, 'node0\tvirtualbox\tRunning\ttcp://10.0.0.5:2376\tv24.0.7\t', '')
    stopped = (0, 'node0\tvirtualbox\tStopped\t\tUnknown\t', '')
    kind, result, calls = run({'name': 'node0', 'state': 'stopped'},
                              {'inspect': [inspect_answer(), inspect_answer()], 'ls': [row, stopped],
                               'stop': (1, '', 'Machine "node0" is already stopped.')})
    assert kind is ExitJson and result['changed'] is False and result['machine']['state'] == 'Stopped'
    assert [c[1] for c in calls] == ['inspect', 'ls', 'stop', 'inspect', 'ls']


def test_unreadable_inspect_is_a_clean_failure(run):
    kind, result, _calls = run({'name': 'node0'}, {'inspect': (0, 'not json', '')})
    assert kind is FailJson and 'did not print JSON' in result['msg']


def test_examples_use_documented_options_that_pass_the_checks(monkeypatch):
    argument_spec, _kwargs = spec(monkeypatch)
    from ansible_collections.nativeswarm.cluster.plugins.module_utils._machine import validate
    tasks = [t for t in yaml.safe_load(docker_machine.EXAMPLES) if 'nativeswarm.cluster.docker_machine' in t]
    assert len(tasks) == 4
    for task in tasks:
        args = task['nativeswarm.cluster.docker_machine']
        assert set(args) <= set(argument_spec), task['name']
        params = dict((k, o.get('default')) for k, o in argument_spec.items())
        params.update(args)
        assert validate(params), task['name']
