# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The modules' argument specs agree with their DOCUMENTATION, and bad input
ends in a clean failure (fail_json with a message), never in a traceback.

No test contacts a Docker engine: docker.APIClient is replaced by a stub."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm, docker_swarm_info, docker_swarm_node
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules import documented
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules.documented import documented_options, view

MODULES = {
    'docker_swarm': docker_swarm,
    'docker_swarm_node': docker_swarm_node,
    'docker_swarm_info': docker_swarm_info,
}
SECRETS = {
    'docker_swarm': {'join_token', 'unlock_key', 'signing_ca_key'},
    'docker_swarm_node': set(),
    'docker_swarm_info': set(),
}


# ============================================================== capturing the argument spec

def module_spec(monkeypatch, name):
    return documented.module_spec(monkeypatch, MODULES[name])


@pytest.mark.parametrize('name', sorted(MODULES))
def test_argument_spec_matches_documentation(monkeypatch, name):
    spec, _kwargs = module_spec(monkeypatch, name)
    assert 'nativeswarm.cluster.docker' in yaml.safe_load(MODULES[name].DOCUMENTATION)['extends_documentation_fragment']
    documented = view(documented_options(MODULES[name]))
    actual = view(spec, 'options')
    assert sorted(actual) == sorted(documented)
    for option in documented:
        assert actual[option] == documented[option], option


@pytest.mark.parametrize('name', sorted(MODULES))
def test_secrets_are_no_log_and_nothing_else(monkeypatch, name):
    spec, _kwargs = module_spec(monkeypatch, name)
    no_log = set(option for option, opt in spec.items() if opt.get('no_log'))
    assert no_log == SECRETS[name]


def test_docker_swarm_secret_options_are_no_log(monkeypatch):
    spec, _kwargs = module_spec(monkeypatch, 'docker_swarm')
    for option in ('join_token', 'unlock_key', 'signing_ca_key'):
        assert spec[option].get('no_log') is True, option
    assert not spec['signing_ca_cert'].get('no_log')


@pytest.mark.parametrize('name', sorted(MODULES))
def test_modules_support_check_mode(monkeypatch, name):
    _spec, kwargs = module_spec(monkeypatch, name)
    assert kwargs.get('supports_check_mode') is True


def test_docker_swarm_signing_ca_cert_and_key_required_together(monkeypatch):
    _spec, kwargs = module_spec(monkeypatch, 'docker_swarm')
    assert [tuple(group) for group in kwargs.get('required_together', [])] == [('signing_ca_cert',
                                                                               'signing_ca_key')]


@pytest.mark.parametrize('name', sorted(MODULES))
def test_connection_options_keep_their_environment_fallbacks(monkeypatch, name):
    spec, _kwargs = module_spec(monkeypatch, name)
    fallbacks = dict((option, spec[option]['fallback'][1]) for option in spec if 'fallback' in spec[option])
    assert fallbacks == {
        'docker_host': ['DOCKER_HOST'], 'tls_hostname': ['DOCKER_TLS_HOSTNAME'],
        'api_version': ['DOCKER_API_VERSION'], 'timeout': ['DOCKER_TIMEOUT'], 'tls': ['DOCKER_TLS'],
        'validate_certs': ['DOCKER_TLS_VERIFY'],
    }


# ============================================================== end to end through main()

class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ExitJson(kwargs)


def fail_json(self, msg, **kwargs):
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise FailJson(kwargs)


class NoEngine:
    """docker.APIClient stand-in: building it is fine, contacting is not."""
    api_version = '1.45'
    built = []

    def __init__(self, **kwargs):
        NoEngine.built.append(kwargs)

    def __getattr__(self, name):
        raise AssertionError('a unit test tried to talk to a Docker engine (%s)' % name)


@pytest.fixture
def run(monkeypatch):
    for var in ('DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_TLS', 'DOCKER_TLS_VERIFY', 'DOCKER_TLS_HOSTNAME',
                'DOCKER_API_VERSION', 'DOCKER_TIMEOUT'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(AnsibleModule, 'fail_json', fail_json)
    NoEngine.built = []
    monkeypatch.setattr(_client.docker, 'APIClient', NoEngine)

    def _run(name, args):
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)  # ansible-core 2.19+
        with pytest.raises((FailJson, ExitJson)) as outcome:
            MODULES[name].main()
        return outcome.type, outcome.value.args[0]
    return _run


def test_unknown_role_fails_with_message(run):
    kind, result = run('docker_swarm', {'state': 'join', 'role': 'boss'})
    assert kind is FailJson
    assert result['failed'] is True
    assert result['msg'] == 'value of role must be one of: manager, worker, got: boss'
    assert NoEngine.built == []


def test_unknown_state_fails_with_message(run):
    kind, result = run('docker_swarm_node', {'name': ['w1'], 'state': 'gone'})
    assert kind is FailJson
    assert result['msg'] == 'value of state must be one of: present, absent, got: gone'


def test_wrong_type_fails_with_message(run):
    kind, result = run('docker_swarm', {'wait_timeout': 'abc'})
    assert kind is FailJson
    assert "argument 'wait_timeout' is of type" in result['msg']  # 2.17 says <class 'str'>
    assert 'int' in result['msg']
    assert NoEngine.built == []


def test_wrong_type_for_node_wait_timeout(run):
    kind, result = run('docker_swarm_node', {'name': 'w1', 'wait_timeout': 'soon'})
    assert kind is FailJson
    assert "argument 'wait_timeout' is of type" in result['msg'] and 'int' in result['msg']


@pytest.mark.parametrize('name, extra', [
    ('docker_swarm', {}),
    ('docker_swarm_node', {'name': ['w1']}),
    ('docker_swarm_info', {}),
])
def test_missing_ca_path_with_validate_certs_names_ca_path(run, tmp_path, name, extra):
    missing = str(tmp_path / 'certs' / 'ca.pem')
    args = dict(extra, docker_host='tcp://192.0.2.10:2376', validate_certs=True, ca_path=missing)
    kind, result = run(name, args)
    assert kind is FailJson
    assert result['msg'] == 'engine: ca_path: no such file %s' % missing
    assert NoEngine.built == []


def test_ca_cert_alias_reports_under_ca_path(run, tmp_path):
    missing = str(tmp_path / 'ca.pem')
    kind, result = run('docker_swarm_info', {'docker_host': 'tcp://h:2376', 'tls_verify': True,
                                             'tls_ca_cert': missing})
    assert kind is FailJson
    assert result['msg'] == 'engine: ca_path: no such file %s' % missing


def test_validate_certs_without_ca_fails_cleanly(run):
    kind, result = run('docker_swarm_info', {'docker_host': 'tcp://h:2376', 'validate_certs': True})
    assert kind is FailJson
    assert result['msg'] == 'engine: validate_certs needs ca_path (or DOCKER_CERT_PATH with a ca.pem)'


def test_bad_manager_connection_fails_naming_the_manager(run, tmp_path):
    missing = str(tmp_path / 'mgr-ca.pem')
    kind, result = run('docker_swarm', {'state': 'join', 'manager': {
        'docker_host': 'tcp://manager1:2376', 'validate_certs': True, 'ca_path': missing}})
    assert kind is FailJson
    assert result['msg'] == 'manager: ca_path: no such file %s' % missing
    # the local engine client was built (not contacted), the manager's was not
    assert [kwargs['base_url'] for kwargs in NoEngine.built] == ['unix:///var/run/docker.sock']


def test_node_without_name_fails(run):
    kind, result = run('docker_swarm_node', {'role': 'manager'})
    assert kind is FailJson
    assert result['msg'] == 'missing required arguments: name'
    assert NoEngine.built == []


def test_signing_ca_cert_without_key_fails(run):
    kind, result = run('docker_swarm', {'signing_ca_cert': '-----BEGIN CERTIFICATE-----'})
    assert kind is FailJson
    assert result['msg'] == 'parameters are required together: signing_ca_cert, signing_ca_key'


def test_external_ca_without_url_fails(run):
    kind, result = run('docker_swarm', {'external_cas': [{'protocol': 'cfssl'}]})
    assert kind is FailJson
    assert 'missing required arguments: url' in result['msg']
    assert 'external_cas' in result['msg']


def test_unknown_option_fails(run):
    kind, result = run('docker_swarm_info', {'nodez': True})
    assert kind is FailJson
    assert 'Unsupported parameters' in result['msg']
    assert 'nodez' in result['msg']
