# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the client for ssh:// engines
(plugins/module_utils/_client.py): the SSH library's failures (unknown or
changed host key, refused key, no sshd) said as what to fix, and, through
the ssh command (use_ssh_client), what ssh itself said, which the SDK never
sees; a host key missing from known_hosts refused also where the SDK only
warns about it (before 6.0). Nothing here contacts an engine or a host; the ssh command is a
stand-in on PATH."""

from __future__ import annotations

import http.client
import os
import re
import stat

import pytest
import requests
import urllib3

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.module_utils._client import (
    DOCKER_COMMON_ARGS, Engine, EngineError, describe_error, ssh_command_problem)

PYTHON_TEXT = re.compile(r"Errno|object at 0x|[A-Za-z]+(Error|Exception)\(|Traceback|ConnectionPool|Max retries")


def ssh_exception(name, text=''):
    """An exception as the SSH library (paramiko) raises it, whether or not
    it is installed here: the description goes by its module and name."""
    cls = type(name, (Exception,), {'__module__': 'paramiko.ssh_exception'})
    return cls(text)


def raised_from(inner):
    """``inner`` behind the SDK's own error, as the client constructor hands it over."""
    try:
        raise inner
    except Exception as exc:  # pylint: disable=broad-exception-caught
        try:
            raise requests.exceptions.ConnectionError('ssh failed') from exc
        except requests.exceptions.ConnectionError as outer:
            return outer


@pytest.mark.parametrize('exc, words', [
    (ssh_exception('SSHException', "Server '192.0.2.7' not found in known_hosts"),
     'the SSH host key of that host is unknown: check it and add it to ~/.ssh/known_hosts'),
    (ssh_exception('BadHostKeyException', 'Host key for server 192.0.2.7 does not match'),
     'the SSH host key of that host is not the one in known_hosts'),
    (ssh_exception('AuthenticationException', 'Authentication failed.'),
     'SSH authentication failed: the host accepted none of the keys offered'),
    (ssh_exception('BadAuthenticationType', 'Bad authentication type'), 'SSH authentication failed'),
    (ssh_exception('PasswordRequiredException', 'private key file is encrypted'),
     'the SSH private key is protected by a passphrase: load it into an ssh agent'),
    (ssh_exception('NoValidConnectionsError', 'Unable to connect to port 22 on 192.0.2.7'),
     'connection refused: nothing accepts SSH connections at that address'),
    (ssh_exception('SSHException', 'Error reading SSH protocol banner'),
     'the SSH connection failed (Error reading SSH protocol banner)'),
])
def test_ssh_library_failures_in_words(exc, words):
    for raised in (exc, raised_from(exc)):
        text = describe_error(raised, timeout=7)
        assert text.startswith(words), text
        assert not PYTHON_TEXT.search(text), text


def test_the_real_ssh_library_exceptions_are_recognised():
    paramiko = pytest.importorskip('paramiko')
    assert describe_error(paramiko.AuthenticationException('Authentication failed.')).startswith(
        'SSH authentication failed')
    assert describe_error(paramiko.SSHException("Server '192.0.2.7' not found in known_hosts")).startswith(
        'the SSH host key of that host is unknown')


def test_other_errors_are_not_taken_for_ssh():
    assert describe_error(http.client.RemoteDisconnected('closed')).startswith('the engine closed the connection')


# ============================================================== the ssh command (use_ssh_client)

@pytest.fixture
def fake_ssh(tmp_path, monkeypatch):
    """An ``ssh`` on PATH that records its arguments and says what it is told to."""
    log = tmp_path / 'args'
    script = tmp_path / 'ssh'
    script.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\ncat >/dev/null\n'
                      'if [ -n "$FAKE_SSH_SAY" ]; then printf "warning: x\\n%%s\\n" "$FAKE_SSH_SAY" >&2; exit 255; fi\n'
                      'exit "${FAKE_SSH_RC:-0}"\n' % log)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s%s%s' % (tmp_path, os.pathsep, os.environ.get('PATH', '')))
    monkeypatch.delenv('FAKE_SSH_SAY', raising=False)
    monkeypatch.delenv('FAKE_SSH_RC', raising=False)
    return log


def test_ssh_command_asks_without_prompts_for_the_engines_dial_stdio(fake_ssh):
    assert ssh_command_problem('ssh://admin@192.0.2.7:2222', 5) is None
    assert fake_ssh.read_text().splitlines() == ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-l', 'admin',
                                                 '-p', '2222', '--', '192.0.2.7', 'docker system dial-stdio']


def test_ssh_command_without_user_or_port(fake_ssh):
    ssh_command_problem('ssh://192.0.2.7', 60)
    assert fake_ssh.read_text().splitlines()[4:] == ['--', '192.0.2.7', 'docker system dial-stdio']


def test_ssh_command_problem_is_what_ssh_said_last(fake_ssh, monkeypatch):
    monkeypatch.setenv('FAKE_SSH_SAY', 'Host key verification failed.')
    assert ssh_command_problem('ssh://root@192.0.2.7', 5) == 'Host key verification failed.'
    monkeypatch.setenv('FAKE_SSH_SAY', '')
    monkeypatch.setenv('FAKE_SSH_RC', '255')
    assert ssh_command_problem('ssh://root@192.0.2.7', 5) == 'ssh ended with status 255'


def test_ssh_command_missing(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    assert ssh_command_problem('ssh://root@192.0.2.7', 5) == (
        'the ssh command is not installed where the module runs (use_ssh_client needs it)')


class ClosedBySSH:
    """The SDK's client when ssh ended at once: the engine seems to close
    the connection without an answer."""

    api_version = '1.45'

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def _url(self, path):
        return 'http+docker://ssh' + path

    def _get(self, url, params=None):
        raise requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
            'Connection aborted.', http.client.RemoteDisconnected('Remote end closed connection without response')))


def params(**overrides):
    result = dict((name, spec.get('default')) for name, spec in DOCKER_COMMON_ARGS.items())
    result.update(api_version='1.45')
    result.update(overrides)
    return result


def test_engine_through_the_ssh_command_says_what_ssh_said(fake_ssh, monkeypatch):
    monkeypatch.setattr(_client.docker, 'APIClient', ClosedBySSH)
    monkeypatch.setenv('FAKE_SSH_SAY', 'root@192.0.2.7: Permission denied (publickey).')
    engine = Engine(params(docker_host='ssh://root@192.0.2.7', use_ssh_client=True))
    assert engine.api.kwargs['use_ssh_client'] is True
    with pytest.raises(EngineError) as err:
        engine.info()
    assert str(err.value) == ('cannot reach the Docker engine at ssh://root@192.0.2.7: the ssh command failed: '
                              'root@192.0.2.7: Permission denied (publickey).')


def test_engine_through_the_ssh_library_is_not_probed_with_the_ssh_command(fake_ssh, monkeypatch):
    monkeypatch.setattr(_client.docker, 'APIClient', ClosedBySSH)
    monkeypatch.setenv('FAKE_SSH_SAY', 'never asked')
    engine = Engine(params(docker_host='ssh://root@192.0.2.7'))
    with pytest.raises(EngineError) as err:
        engine.info()
    assert 'the engine closed the connection without an answer' in str(err.value)
    assert not fake_ssh.exists()


# ============================================================== host keys through the Python SSH library

class FakeTransport:
    def __init__(self, key):
        self.key = key

    def get_remote_server_key(self):
        return self.key


class FakeSSHClient:
    def __init__(self, key):
        self.transport = FakeTransport(key) if key is not None else None

    def get_transport(self):
        return self.transport


class FakeAdapter:
    def __init__(self, key, hostname='192.0.2.7', port=None):
        self.ssh_client = FakeSSHClient(key)
        self.ssh_params = {'hostname': hostname, 'port': port, 'username': 'root'}


class FakeClient:
    def __init__(self, adapter):
        self._custom_adapter = adapter


@pytest.fixture
def host_keys(tmp_path, monkeypatch):
    """Two host keys; HOME with a known_hosts that has the first for 192.0.2.7 and [192.0.2.8]:2222."""
    paramiko = pytest.importorskip('paramiko')
    keys = [paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()]
    (tmp_path / '.ssh').mkdir()
    line = '%s %s %s\n'
    (tmp_path / '.ssh' / 'known_hosts').write_text(
        line % ('192.0.2.7', keys[0].get_name(), keys[0].get_base64())
        + line % ('[192.0.2.8]:2222', keys[0].get_name(), keys[0].get_base64()))
    monkeypatch.setenv('HOME', str(tmp_path))
    return keys


def test_a_known_host_key_passes(host_keys):
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[0]))) is None
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[0], '192.0.2.8', '2222'))) is None


def test_a_host_missing_from_known_hosts_is_refused(host_keys):
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[0], '192.0.2.9'))) == _client.UNKNOWN_HOST_KEY
    # a known name on another port is another host
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[0], '192.0.2.7', 2222))) == (
        _client.UNKNOWN_HOST_KEY)


def test_a_changed_host_key_is_refused(host_keys):
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[1]))) == _client.CHANGED_HOST_KEY


def test_without_known_hosts_every_host_is_unknown(host_keys, tmp_path):
    (tmp_path / '.ssh' / 'known_hosts').unlink()
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(host_keys[0]))) == _client.UNKNOWN_HOST_KEY


def test_not_the_python_ssh_library_nothing_to_check():
    assert _client.ssh_host_key_problem(FakeClient(None)) is None
    assert _client.ssh_host_key_problem(object()) is None
    assert _client.ssh_host_key_problem(FakeClient(FakeAdapter(None))) is None


def test_engine_refuses_an_unknown_host_the_sdk_let_through(host_keys, monkeypatch):
    closed = []

    class LaxSDK(ClosedBySSH):
        """An SDK before 6.0: connected although the host is not in known_hosts."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._custom_adapter = FakeAdapter(host_keys[0], '192.0.2.9')

        def close(self):
            closed.append(True)
    monkeypatch.setattr(_client.docker, 'APIClient', LaxSDK)
    with pytest.raises(EngineError) as err:
        Engine(params(docker_host='ssh://root@192.0.2.9'))
    assert str(err.value) == 'cannot reach the Docker engine at ssh://root@192.0.2.9: ' + _client.UNKNOWN_HOST_KEY
    assert closed == [True]


# The SDK imported without its SSH transport, which is loaded for the first
# ssh:// engine. In a fresh interpreter: this one's modules are loaded already.
LAZY_SSH = '''
import sys
from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
import docker.api.client
assert 'paramiko' not in sys.modules and 'invoke' not in sys.modules, 'the SDK import loaded paramiko'
assert not hasattr(docker.api.client, 'SSHHTTPAdapter')
assert _client.load_ssh_transport() is sys.modules['paramiko']
# the name docker.APIClient looks up for an ssh:// base_url
assert docker.api.client.SSHHTTPAdapter is sys.modules['docker.transport.sshconn'].SSHHTTPAdapter
'''


def test_the_ssh_transport_is_loaded_only_for_an_ssh_engine():
    pytest.importorskip('paramiko')
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, '-c', LAZY_SSH], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
