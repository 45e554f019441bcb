# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Flocker modules' argument specs agree with their DOCUMENTATION, and bad
input ends in a clean failure before any request (no control service here)."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _flocker_client
from ansible_collections.nativeswarm.cluster.plugins.modules import flocker_ca, flocker_info, flocker_volume
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules import documented
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules.documented import documented_options, view

MODULES = {'flocker_ca': flocker_ca, 'flocker_info': flocker_info, 'flocker_volume': flocker_volume}


def module_spec(monkeypatch, name):
    return documented.module_spec(monkeypatch, MODULES[name])


@pytest.mark.parametrize('name', sorted(MODULES))
def test_argument_spec_matches_documentation(monkeypatch, name):
    spec, kwargs = module_spec(monkeypatch, name)
    documented = view(documented_options(MODULES[name]))
    actual = view(spec, 'options')
    assert sorted(actual) == sorted(documented)
    for option in documented:
        assert actual[option] == documented[option], option
    assert kwargs.get('supports_check_mode') is True
    assert not [option for option, opt in spec.items() if opt.get('no_log')]  # no option is a secret


@pytest.mark.parametrize('name', sorted(MODULES))
def test_examples_and_return_are_yaml(name):
    assert yaml.safe_load(MODULES[name].EXAMPLES)
    assert yaml.safe_load(MODULES[name].RETURN)


class Done(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    def finish(self, **kwargs):
        raise Done(kwargs)

    def fail(self, msg, **kwargs):
        raise Done(dict(kwargs, failed=True, msg=msg))
    monkeypatch.setattr(AnsibleModule, 'exit_json', finish)
    monkeypatch.setattr(AnsibleModule, 'fail_json', fail)

    def no_connection(*_args, **_kwargs):
        raise AssertionError('a unit test tried to reach a control service')
    monkeypatch.setattr(_flocker_client._Connection, 'connect', no_connection)

    def _run(name, args):
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)  # ansible-core 2.19+
        with pytest.raises(Done) as outcome:
            MODULES[name].main()
        return outcome.value.args[0]
    return _run


@pytest.fixture
def files(tmp_path):
    for name in ('ca.crt', 'user.crt', 'user.key'):
        (tmp_path / name).write_text('not a certificate')
    return dict(control_host='127.0.0.1', ca_path=str(tmp_path / 'ca.crt'), client_cert=str(tmp_path / 'user.crt'),
                client_key=str(tmp_path / 'user.key'))


@pytest.mark.parametrize('args, fragment', [
    (dict(name='v', primary='n', maximum_size='1X'), 'is not a size'),
    (dict(name='v', primary='n', maximum_size='10M'), 'at least 64 MiB'),
    (dict(name='v'), 'needs primary'),
    (dict(name='v', primary='n', lease='held', lease_expires=-1), 'lease_expires'),
    (dict(name='v', primary='n', control_port=70000), 'control_port'),
    (dict(name='v', primary='n'), 'holds no PEM certificate'),
])
def test_flocker_volume_bad_input_is_a_clean_failure(run, files, args, fragment):
    result = run('flocker_volume', dict(files, **args))
    assert result['failed'] and fragment in result['msg'], result
    assert 'Traceback' not in result['msg'] and 'Error(' not in result['msg']


def test_missing_certificate_file_named(run, files):
    result = run('flocker_info', dict(files, client_key='/nonexistent/user.key'))
    assert result['failed'] and 'client_key /nonexistent/user.key is not a readable file' in result['msg']


@pytest.mark.parametrize('args, fragment', [
    (dict(key_size=1024), 'key_size must be 2048 or more'),
    (dict(valid_days=0), 'valid_days must be more than 0'),
    (dict(nodes=['a', 'a']), 'nodes lists a name twice'),
    (dict(api_users=['../x']), 'names a file'),
])
def test_flocker_ca_bad_input_is_a_clean_failure(run, tmp_path, args, fragment):
    result = run('flocker_ca', dict(dict(path=str(tmp_path / 'ca'), cluster_name='c'), **args))
    assert result['failed'] and fragment in result['msg'], result
    assert not (tmp_path / 'ca').exists()


def test_flocker_ca_check_mode_writes_nothing(run, tmp_path):
    result = run('flocker_ca', dict(path=str(tmp_path / 'ca'), cluster_name='c', nodes=['n1'],
                                    _ansible_check_mode=True))
    assert result['changed'] and result['created'] == ['cluster.crt', 'nodes/n1.crt']
    assert not (tmp_path / 'ca').exists()
