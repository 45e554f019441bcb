# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the client's checks and error messages
(plugins/module_utils/_client.py): timeout and api_version refused in
words, connection errors described without Python's representation of
them, no exception class escaping as a traceback, TLS settings that the
environment cannot override, and lost quorum told from an election.

Nothing here contacts an engine."""

from __future__ import annotations

import http.client
import re
import socket
import ssl

import pytest
import requests
import urllib3
from docker.errors import DockerException

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    DOCKER_COMMON_ARGS, Engine, EngineError, api_version_param, connection_params, describe_error, exit_with,
    nodes_unless_leaderless, timeout_param)

PYTHON_TEXT = re.compile(r"Errno|object at 0x|[A-Za-z]+(Error|Exception)\(|Traceback|invalid literal|"
                         r"ConnectionPool|Max retries|_ssl\.c")


def module_params(**overrides):
    params = dict((name, spec.get('default')) for name, spec in DOCKER_COMMON_ARGS.items())
    params.update(overrides)
    return params


# ============================================================== timeout and api_version

@pytest.mark.parametrize('value, expected', [(None, 60), (1, 1), (60, 60), (0.5, 0.5)])
def test_timeout_accepted(value, expected):
    assert timeout_param(value) == expected


@pytest.mark.parametrize('value', [0, -1, -0.5, True, 'soon'])
def test_timeout_refused(value):
    with pytest.raises(ValueError) as err:
        timeout_param(value)
    assert str(err.value) == 'timeout must be a number of seconds greater than 0, not %r' % (value,)


def test_timeout_zero_no_longer_becomes_sixty():
    with pytest.raises(ValueError, match='timeout must be a number of seconds greater than 0, not 0'):
        connection_params(module_params(timeout=0))


@pytest.mark.parametrize('value, expected', [(None, 'auto'), ('', 'auto'), ('auto', 'auto'), ('AUTO', 'auto'),
                                             ('1.41', '1.41'), (' 1.45 ', '1.45'), ('2.0', '2.0')])
def test_api_version_accepted(value, expected):
    assert api_version_param(value) == expected
    assert connection_params(module_params(api_version=value))['version'] == expected


@pytest.mark.parametrize('value', ['banana', '1', '1.41.0', 'v1.41', '1.4a'])
def test_api_version_refused_naming_the_option(value):
    with pytest.raises(ValueError) as err:
        api_version_param(value)
    assert str(err.value) == "api_version must be 'auto' or an Engine API version such as 1.41, not %r" % value


def test_api_version_older_than_needed_refused():
    with pytest.raises(ValueError) as err:
        api_version_param('1.24')
    assert str(err.value) == ('api_version 1.24 is older than the Engine API 1.41 this collection needs; use auto '
                              'or 1.41 or later')


# ============================================================== connection errors in words

def wrapped(inner):
    """``inner`` as requests hands it over: a ConnectionError around
    urllib3's errors, raised while another was being handled."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise urllib3.exceptions.ProtocolError('Connection aborted.', exc)
    except urllib3.exceptions.ProtocolError as exc:
        try:
            raise requests.exceptions.ConnectionError(exc)
        except requests.exceptions.ConnectionError as outer:
            return outer


def negotiated(inner):
    """The SDK's wrapping while it asks for the API version (auto)."""
    try:
        raise inner
    except BaseException as exc:  # pylint: disable=broad-exception-caught
        try:
            raise DockerException('Error while fetching server API version: %s' % exc) from exc
        except DockerException as outer:
            return outer


def refused():
    try:
        raise ConnectionRefusedError(111, 'Connection refused')
    except ConnectionRefusedError as exc:
        try:
            raise urllib3.exceptions.NewConnectionError(None, 'Failed to establish a new connection: %s' % exc)
        except urllib3.exceptions.NewConnectionError as new:
            return requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(None, '/version', reason=new))


def verify_failed():
    exc = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: '
                                          'self-signed certificate (_ssl.c:1006)')
    exc.verify_message = 'self-signed certificate'
    exc.reason = 'CERTIFICATE_VERIFY_FAILED'
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, '/version',
                                                                         reason=urllib3.exceptions.SSLError(exc)))


def ssl_error(reason, text):
    exc = ssl.SSLError(1, text)
    exc.reason = reason
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, '/version',
                                                                         reason=urllib3.exceptions.SSLError(exc)))


CASES = [
    (wrapped(FileNotFoundError(2, 'No such file or directory')), 'there is no socket at that path'),
    (negotiated(wrapped(FileNotFoundError(2, 'No such file or directory'))), 'there is no socket at that path'),
    (wrapped(PermissionError(13, 'Permission denied')), 'permission denied: run as root'),
    (refused(), 'connection refused: nothing listens at that address'),
    (negotiated(refused()), 'connection refused'),
    (requests.exceptions.ConnectionError('Connection refused'), 'connection refused'),
    (verify_failed(), "the engine's TLS certificate was not accepted (self-signed certificate)"),
    (ssl_error(None, '[SSL] PEM lib (_ssl.c:3905)'), 'could not be read as PEM'),
    (ssl_error('NO_CERTIFICATE_OR_CRL_FOUND', '[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found'),
     'could not be read as PEM'),
    (ssl_error('KEY_VALUES_MISMATCH', '[X509: KEY_VALUES_MISMATCH] key values mismatch'),
     'client_key is not the private key of client_cert'),
    (ssl_error('WRONG_VERSION_NUMBER', '[SSL: WRONG_VERSION_NUMBER] wrong version number'),
     'the engine does not talk TLS at that address'),
    (ssl_error('TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'),
     'the engine did not accept this client'),
    (ssl_error('SOMETHING_NEW', 'something new'), 'the TLS handshake with the engine failed (something new)'),
    (wrapped(socket.timeout('timed out')), 'no answer within 7 seconds'),
    (requests.exceptions.ReadTimeout('read timed out'), 'no answer within 7 seconds'),
    (wrapped(socket.gaierror(-2, 'Name or service not known')), 'cannot be resolved'),
    (wrapped(http.client.RemoteDisconnected('Remote end closed connection without response')),
     'closed the connection without an answer'),
    (wrapped(ConnectionResetError(104, 'Connection reset by peer')), 'closed the connection without an answer'),
    (wrapped(http.client.BadStatusLine('\x00\x00')), 'not the HTTP the Docker Engine API speaks'),
    (wrapped(OSError(113, 'No route to host')), 'no route to host'),
    (DockerException('Install paramiko package to enable ssh:// support'),
     'Install paramiko package to enable ssh:// support'),
    (ValueError('Attempted to set connect timeout to -1'), 'the connection failed (ValueError)'),
]


@pytest.mark.parametrize('exc, words', CASES, ids=[str(i) for i in range(len(CASES))])
def test_describe_error_in_words(exc, words):
    text = describe_error(exc, timeout=7)
    assert words in text
    assert not PYTHON_TEXT.search(text), text


# ============================================================== Engine: nothing escapes

class FakeResponse:
    def __init__(self, content=b'{"ok": 1}', status=200):
        self.content = content
        self.text = content.decode()
        self.status_code = status

    def json(self):
        import json
        return json.loads(self.content)


class FakeAPIClient:
    api_version = '1.45'
    verify = True
    raise_on_get = None
    content = b'{"ok": 1}'

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def _url(self, path):
        return 'http+docker://localhost/v1.45' + path

    def _get(self, url, params=None):
        if self.raise_on_get is not None:
            raise self.raise_on_get
        return FakeResponse(self.content)

    def _raise_for_status(self, response):
        pass


@pytest.fixture
def fake_sdk(monkeypatch):
    monkeypatch.setattr(_client.docker, 'APIClient', FakeAPIClient)
    monkeypatch.setattr(FakeAPIClient, 'raise_on_get', None)
    monkeypatch.setattr(FakeAPIClient, 'content', b'{"ok": 1}')
    return FakeAPIClient


@pytest.mark.parametrize('exc, words', [
    (ValueError('Attempted to set connect timeout to -1, but the timeout cannot be set to a value less than or '
                'equal to 0.'), 'the connection failed'),
    (wrapped(FileNotFoundError(2, 'No such file or directory')), 'there is no socket at that path'),
    (KeyError('x'), 'the connection failed (KeyError)'),
    (ssl.SSLError(1, '[SSL] PEM lib (_ssl.c:3905)'), 'could not be read as PEM'),
])
def test_any_request_failure_becomes_an_engine_error_in_words(fake_sdk, monkeypatch, exc, words):
    monkeypatch.setattr(FakeAPIClient, 'raise_on_get', exc)
    engine = Engine(module_params(docker_host='unix:///run/x.sock', api_version='1.45'))
    with pytest.raises(EngineError) as err:
        engine.info()
    assert str(err.value).startswith('cannot reach the Docker engine at unix:///run/x.sock: ')
    assert words in str(err.value) and not PYTHON_TEXT.search(str(err.value))


def test_an_answer_that_is_not_json_is_an_engine_error(fake_sdk, monkeypatch):
    monkeypatch.setattr(FakeAPIClient, 'content', b'<html>hello</html>')
    engine = Engine(module_params(docker_host='tcp://192.0.2.1:80', api_version='1.45'))
    with pytest.raises(EngineError, match='GET /info on tcp://192.0.2.1:80: the answer is not JSON; is this the '
                                          'Docker Engine API'):
        engine.info()


def test_a_failed_version_negotiation_is_described_in_words(monkeypatch):
    class Failing:
        def __init__(self, **kwargs):
            raise negotiated(refused())
    monkeypatch.setattr(_client.docker, 'APIClient', Failing)
    with pytest.raises(EngineError) as err:
        Engine(module_params(docker_host='tcp://192.0.2.1:2375'))
    assert str(err.value) == ('cannot reach the Docker engine at tcp://192.0.2.1:2375: connection refused: nothing '
                              'listens at that address (engine stopped, or wrong port?)')


# ============================================================== TLS settings win over the environment

def test_the_clients_tls_verification_wins_over_requests_ca_bundle(monkeypatch, tmp_path):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', '/etc/ssl/certs/ca-certificates.crt')
    monkeypatch.setenv('CURL_CA_BUNDLE', '/etc/ssl/certs/ca-certificates.crt')
    client = _client._client_class()(base_url='tcp://192.0.2.1:2376', version='1.45')
    for verify in (False, str(tmp_path / 'ca.pem')):
        client.verify = verify
        settings = client.merge_environment_settings('https://192.0.2.1:2376/v1.45/info', {}, False, None, None)
        assert settings['verify'] == verify
    # a verify given for one request still wins
    assert client.merge_environment_settings('https://192.0.2.1:2376/', {}, False, True, None)['verify'] is not False


# ============================================================== exit_with: never a traceback

class Exited(Exception):
    pass


class Module:
    def __init__(self):
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Exited()

    def exit_json(self, **kwargs):
        raise Exited()


def test_exit_with_turns_an_unexpected_exception_into_a_clean_failure():
    module = Module()

    def work():
        return {}['missing']
    with pytest.raises(Exited):
        exit_with(module, work)
    assert module.failed['msg'].startswith('the module failed unexpectedly (an internal KeyError)')
    assert 'Traceback' in module.failed['exception']
    assert not PYTHON_TEXT.search(module.failed['msg'])


def test_exit_with_lets_the_modules_own_exit_through():
    module = Module()

    def work():
        module.fail_json(msg='a clear message')
    with pytest.raises(Exited):
        exit_with(module, work)
    assert module.failed == {'msg': 'a clear message'}


def test_exit_with_engine_errors_keep_their_status():
    module = Module()

    def work():
        raise EngineError('GET /nodes on x: boom', 500)
    with pytest.raises(Exited):
        exit_with(module, work)
    assert module.failed == {'msg': 'GET /nodes on x: boom', 'status': 500}


# ============================================================== lost quorum or an election

NO_LEADER = EngineError("GET /nodes on unix:///x: rpc error: code = Unknown desc = The swarm does not have a leader. "
                        "It's possible that too few managers are online.", 500)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Nodes:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def nodes(self):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_client.time, 'time', clock.time)
    monkeypatch.setattr(_client.time, 'sleep', clock.sleep)
    return clock


def test_no_leader_error_is_recognised():
    assert NO_LEADER.no_leader
    assert not EngineError('GET /nodes on x: context deadline exceeded', 500).no_leader


def test_nodes_after_a_short_election(clock):
    engine = Nodes(NO_LEADER, NO_LEADER, [{'ID': 'n1'}])
    assert nodes_unless_leaderless(engine, grace=6) == [{'ID': 'n1'}]
    assert engine.calls == 3 and clock.now == 1002.0


def test_no_leader_for_longer_than_an_election_is_lost_quorum(clock):
    engine = Nodes(NO_LEADER)
    assert nodes_unless_leaderless(engine, grace=6) is None
    assert 6 <= clock.now - 1000.0 <= 7


def test_other_errors_are_not_taken_for_lost_quorum(clock):
    with pytest.raises(EngineError, match='deadline'):
        nodes_unless_leaderless(Nodes(EngineError('GET /nodes on x: context deadline exceeded', 500)))
    assert clock.now == 1000.0
