# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the connection option resolution (plugins/module_utils/_client.py).

Nothing here contacts an engine: docker.APIClient is replaced where an
Engine object is built."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    CONNECTION_SUBOPTIONS, DOCKER_COMMON_ARGS, Engine, EngineError, _filters, connection_params, version_tuple)


def module_params(**overrides):
    """module.params as AnsibleModule fills them from DOCKER_COMMON_ARGS."""
    params = dict((name, spec.get('default')) for name, spec in DOCKER_COMMON_ARGS.items())
    params.update(overrides)
    return params


@pytest.fixture
def certs(tmp_path):
    paths = {}
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        path = tmp_path / name
        path.write_text('-----BEGIN %s-----\nAAAA\n-----END %s-----\n' % (name, name))
        paths[name] = str(path)
    return paths


# ============================================================== connection_params

def test_defaults_from_empty_params():
    assert connection_params({}) == dict(base_url='unix:///var/run/docker.sock', version='auto', timeout=60,
                                         tls=None)


def test_defaults_from_module_params():
    assert connection_params(module_params()) == dict(base_url='unix:///var/run/docker.sock', version='auto',
                                                      timeout=60, tls=None)


def test_host_version_and_timeout_pass_through():
    result = connection_params(module_params(docker_host='unix:///run/user/1000/docker.sock', api_version='1.43',
                                             timeout=5))
    assert result == dict(base_url='unix:///run/user/1000/docker.sock', version='1.43', timeout=5, tls=None)


def test_tcp_without_tls_stays_plain():
    result = connection_params(module_params(docker_host='tcp://192.0.2.10:2375'))
    assert result['base_url'] == 'tcp://192.0.2.10:2375'
    assert result['tls'] is None


def test_tcp_becomes_https_with_tls():
    result = connection_params(module_params(docker_host='tcp://192.0.2.10:2376', tls=True))
    assert result == dict(base_url='https://192.0.2.10:2376', version='auto', timeout=60,
                          tls=dict(client_cert=None, ca_cert=None, verify=False, assert_hostname=None))


def test_tcp_becomes_https_with_validate_certs(certs):
    result = connection_params(module_params(docker_host='tcp://manager1.example.com:2376', validate_certs=True,
                                             ca_path=certs['ca.pem'], client_cert=certs['cert.pem'],
                                             client_key=certs['key.pem'], tls_hostname='manager1'))
    assert result['base_url'] == 'https://manager1.example.com:2376'
    assert result['tls'] == dict(client_cert=(certs['cert.pem'], certs['key.pem']), ca_cert=certs['ca.pem'],
                                 verify=True, assert_hostname='manager1')


def test_https_url_switches_tls_on():
    result = connection_params(module_params(docker_host='https://192.0.2.10:2376'))
    assert result['base_url'] == 'https://192.0.2.10:2376'
    assert result['tls'] == dict(client_cert=None, ca_cert=None, verify=False, assert_hostname=None)


def test_tls_without_validation_does_not_pass_the_ca(certs):
    result = connection_params(module_params(docker_host='tcp://h:2376', tls=True, ca_path=certs['ca.pem']))
    assert result['tls']['ca_cert'] is None
    assert result['tls']['verify'] is False


def test_validate_certs_without_ca_path_refused():
    with pytest.raises(ValueError) as err:
        connection_params(module_params(docker_host='tcp://h:2376', validate_certs=True))
    assert str(err.value) == 'validate_certs needs ca_path (or DOCKER_CERT_PATH with a ca.pem)'


@pytest.mark.parametrize('option', ['ca_path', 'client_cert', 'client_key'])
def test_missing_file_names_the_option(option, certs, tmp_path):
    params = module_params(docker_host='tcp://h:2376', validate_certs=True, ca_path=certs['ca.pem'],
                           client_cert=certs['cert.pem'], client_key=certs['key.pem'])
    missing = str(tmp_path / 'nope' / 'missing.pem')
    params[option] = missing
    with pytest.raises(ValueError) as err:
        connection_params(params)
    assert str(err.value) == '%s: no such file %s' % (option, missing)


def test_missing_files_do_not_matter_without_tls(tmp_path):
    result = connection_params(module_params(ca_path=str(tmp_path / 'missing.pem')))
    assert result['tls'] is None


@pytest.mark.parametrize('given', ['client_cert', 'client_key'])
def test_client_cert_and_key_go_together(given, certs):
    params = module_params(docker_host='tcp://h:2376', tls=True)
    params[given] = certs['cert.pem']
    with pytest.raises(ValueError) as err:
        connection_params(params)
    assert str(err.value) == 'client_cert and client_key must be given together'


def test_docker_cert_path_fallback(monkeypatch, certs, tmp_path):
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path))
    result = connection_params(module_params(docker_host='tcp://192.0.2.10:2376', validate_certs=True))
    assert result['base_url'] == 'https://192.0.2.10:2376'
    assert result['tls'] == dict(client_cert=(str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')),
                                 ca_cert=str(tmp_path / 'ca.pem'), verify=True, assert_hostname=None)


def test_explicit_paths_win_over_docker_cert_path(monkeypatch, certs, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'my-ca.pem').write_text('x')
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path))
    result = connection_params(module_params(docker_host='tcp://h:2376', validate_certs=True,
                                             ca_path=str(other / 'my-ca.pem')))
    assert result['tls']['ca_cert'] == str(other / 'my-ca.pem')
    assert result['tls']['client_cert'] == (str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem'))


def test_docker_cert_path_with_missing_files_names_the_option(monkeypatch, tmp_path):
    (tmp_path / 'ca.pem').write_text('x')
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path))
    with pytest.raises(ValueError) as err:
        connection_params(module_params(docker_host='tcp://h:2376', validate_certs=True))
    assert str(err.value) == 'client_cert: no such file %s' % (tmp_path / 'cert.pem')


def test_docker_cert_path_ignored_without_tls(monkeypatch, tmp_path):
    monkeypatch.setenv('DOCKER_CERT_PATH', str(tmp_path / 'does-not-exist'))
    assert connection_params(module_params())['tls'] is None


# ============================================================== _filters

@pytest.mark.parametrize('filters', [None, {}])
def test_filters_empty(filters):
    assert _filters(filters) is None


def test_filters_values_become_lists():
    result = _filters({'node': 'xyz', 'desired-state': 'running', 'label': ['tier=front', 'env=prod']})
    assert list(result) == ['filters']
    assert isinstance(result['filters'], str)
    assert json.loads(result['filters']) == {'node': ['xyz'], 'desired-state': ['running'],
                                             'label': ['tier=front', 'env=prod']}


def test_filters_exact_encoding():
    assert _filters({'node': 'abc'}) == {'filters': '{"node": ["abc"]}'}


# ============================================================== spec tables

def test_connection_suboptions_drop_fallbacks_and_debug():
    assert set(CONNECTION_SUBOPTIONS) == set(DOCKER_COMMON_ARGS) - {'debug'}
    assert all('fallback' not in spec for spec in CONNECTION_SUBOPTIONS.values())
    assert CONNECTION_SUBOPTIONS['docker_host']['default'] == 'unix:///var/run/docker.sock'
    # the module-level table is not altered by building the sub-table
    assert 'fallback' in DOCKER_COMMON_ARGS['docker_host']


@pytest.mark.parametrize('text, expected', [
    ('1.41', (1, 41)),
    ('1.45', (1, 45)),
    ('5.0.3', (5, 0, 3)),
    (1.4, (1, 4)),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


# ============================================================== Engine (fake SDK client)

class FakeAPIClient:
    instances = []
    api_version = '1.45'

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        FakeAPIClient.instances.append(self)


@pytest.fixture
def fake_sdk(monkeypatch):
    FakeAPIClient.instances = []
    monkeypatch.setattr(_client.docker, 'APIClient', FakeAPIClient)
    monkeypatch.setattr(FakeAPIClient, 'api_version', '1.45')
    return FakeAPIClient


def test_engine_auto_version_counts_the_negotiation(fake_sdk):
    engine = Engine(module_params())
    assert engine.calls == ['GET /version']
    assert engine.url == 'unix:///var/run/docker.sock'
    assert fake_sdk.instances[0].kwargs == dict(base_url='unix:///var/run/docker.sock', version='auto',
                                                timeout=60)


def test_engine_fixed_version_makes_no_call(fake_sdk):
    engine = Engine(module_params(api_version='1.45'))
    assert engine.calls == []


def test_engine_refuses_old_api(fake_sdk, monkeypatch):
    monkeypatch.setattr(FakeAPIClient, 'api_version', '1.40')
    with pytest.raises(EngineError) as err:
        Engine(module_params(docker_host='tcp://192.0.2.10:2375'))
    assert str(err.value) == ('the Docker engine at tcp://192.0.2.10:2375 speaks API 1.40; this collection '
                              'needs 1.41 or later')


def test_engine_builds_tls_config(fake_sdk, certs):
    Engine(module_params(docker_host='tcp://192.0.2.10:2376', validate_certs=True, ca_path=certs['ca.pem'],
                         client_cert=certs['cert.pem'], client_key=certs['key.pem']))
    kwargs = fake_sdk.instances[0].kwargs
    assert kwargs['base_url'] == 'https://192.0.2.10:2376'
    tls = kwargs['tls']
    assert isinstance(tls, _client.docker.tls.TLSConfig)
    assert tls.ca_cert == certs['ca.pem']
    assert tls.cert == (certs['cert.pem'], certs['key.pem'])
    assert tls.verify is True


def test_engine_option_errors_surface_as_value_error(fake_sdk):
    with pytest.raises(ValueError, match='validate_certs needs ca_path'):
        Engine(module_params(docker_host='tcp://h:2376', validate_certs=True))
    assert fake_sdk.instances == []
