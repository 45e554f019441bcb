# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one Docker client setup of the collection (private: may change).

Every module builds its AnsibleModule through :func:`new_module`, which adds
the connection options (names and environment fallbacks as in
community.docker), and talks to the engine through :class:`Engine`, a thin
wrapper over the Docker SDK's low-level client that speaks the Engine API
bodies directly (so it works the same with the SDK that Debian 12 ships,
5.0.3, and with current releases) and counts its requests.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import traceback
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

# Wherever paramiko is installed, the Docker SDK loads its SSH transport
# (paramiko, which loads invoke) when it is imported: about a third of a
# module's start-up, on every host and every task, for nothing unless an
# engine is reached over ssh://. So the SDK is imported with paramiko hidden,
# and its SSH transport is loaded the first time an ssh:// engine is set up
# (load_ssh_transport). Where something imported either already, they stay
# as they are.
_HIDE_PARAMIKO = 'paramiko' not in sys.modules and 'docker' not in sys.modules
if _HIDE_PARAMIKO:
    sys.modules['paramiko'] = None  # makes "import paramiko" fail, as if it were not installed
try:
    import docker
    from docker.errors import APIError, DockerException, TLSParameterError
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):
        pass

    class APIError(DockerException):
        pass

    class TLSParameterError(DockerException):
        pass
finally:
    if _HIDE_PARAMIKO and sys.modules.get('paramiko', 0) is None:
        del sys.modules['paramiko']

# the SSH library once load_ssh_transport loaded it
paramiko = None


def load_ssh_transport():
    """paramiko, and the Docker SDK's SSH transport (ssh:// engines) that
    needs it, loaded if the SDK was imported without it; None when paramiko
    is not installed (the SDK then says so for an ssh:// engine)."""
    global paramiko  # pylint: disable=global-statement
    try:
        paramiko = importlib.import_module('paramiko')
    except ImportError:
        return None
    api_client = sys.modules.get('docker.api.client')
    if HAS_DOCKER and api_client is not None and not hasattr(api_client, 'SSHHTTPAdapter'):
        # the names the SDK would have bound had paramiko been importable then
        adapter = importlib.import_module('docker.transport.sshconn').SSHHTTPAdapter
        docker.transport.SSHHTTPAdapter = adapter
        api_client.SSHHTTPAdapter = adapter
    return paramiko


MIN_SDK_VERSION = (5, 0, 0)
# seconds a manager may answer "no leader" before its swarm counts as having
# lost quorum (a leader election takes a few)
ELECTION_GRACE = 6
MIN_API_VERSION = (1, 41)
DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'

CONNECTION_OPTIONS = ('docker_host', 'tls_hostname', 'api_version', 'timeout', 'ca_path',
                      'client_cert', 'client_key', 'tls', 'validate_certs')

DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST, aliases=['docker_url'],
                     fallback=(env_fallback, ['DOCKER_HOST'])),
    tls_hostname=dict(type='str', fallback=(env_fallback, ['DOCKER_TLS_HOSTNAME'])),
    api_version=dict(type='str', default='auto', aliases=['docker_api_version'],
                     fallback=(env_fallback, ['DOCKER_API_VERSION'])),
    timeout=dict(type='int', default=60, fallback=(env_fallback, ['DOCKER_TIMEOUT'])),
    ca_path=dict(type='path', aliases=['ca_cert', 'tls_ca_cert', 'cacert_path']),
    client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path']),
    client_key=dict(type='path', aliases=['tls_client_key', 'key_path']),
    tls=dict(type='bool', default=False, fallback=(env_fallback, ['DOCKER_TLS'])),
    validate_certs=dict(type='bool', default=False, aliases=['tls_verify'],
                        fallback=(env_fallback, ['DOCKER_TLS_VERIFY'])),
    debug=dict(type='bool', default=False),
)

# The same connection options as a sub-dictionary, for a second engine
# (for example the manager a joining node gets its token from).
CONNECTION_SUBOPTIONS = dict(
    (name, dict((k, v) for k, v in spec.items() if k != 'fallback'))
    for name, spec in DOCKER_COMMON_ARGS.items() if name in CONNECTION_OPTIONS
)


def sdk_version():
    return tuple(int(p) for p in docker.__version__.split('.')[:3] if p.isdigit())


def version_tuple(text):
    return tuple(int(p) for p in str(text).split('.') if p.isdigit())


def timeout_param(value):
    """The ``timeout`` option checked: seconds, more than 0 (60 when unset)."""
    if value is None:
        return 60
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError('timeout must be a number of seconds greater than 0, not %r' % (value,))
    return value


def api_version_param(value):
    """The ``api_version`` option checked: 'auto' or MAJOR.MINOR."""
    text = str(value).strip() if value is not None else ''
    if not text or text.lower() == 'auto':
        return 'auto'
    if not re.match(r'^[0-9]+\.[0-9]+$', text):
        raise ValueError("api_version must be 'auto' or an Engine API version such as 1.41, not %r" % (value,))
    if version_tuple(text) < MIN_API_VERSION:
        raise ValueError('api_version %s is older than the Engine API %s this collection needs; use auto or %s or later'
                         % (text, '.'.join(map(str, MIN_API_VERSION)), '.'.join(map(str, MIN_API_VERSION))))
    return text


def connection_params(params):
    """Pure: resolve the connection options (DOCKER_CERT_PATH defaults, TLS
    switch) into keyword arguments for the SDK, or raise ValueError."""
    host = params.get('docker_host') or DEFAULT_DOCKER_HOST
    cert_dir = os.environ.get('DOCKER_CERT_PATH')
    files = {}
    for opt, default_name in (('ca_path', 'ca.pem'), ('client_cert', 'cert.pem'), ('client_key', 'key.pem')):
        value = params.get(opt)
        if not value and cert_dir:
            value = os.path.join(cert_dir, default_name)
        files[opt] = value
    use_tls = bool(params.get('tls') or params.get('validate_certs'))
    result = dict(base_url=host, version=api_version_param(params.get('api_version')),
                  timeout=timeout_param(params.get('timeout')), tls=None)
    if params.get('use_ssh_client'):  # ssh:// through the ssh command (as community.docker)
        result['use_ssh_client'] = True
    if host.startswith('https://'):
        use_tls = True
    if not use_tls:
        return result
    if bool(files['client_cert']) != bool(files['client_key']):
        raise ValueError('client_cert and client_key must be given together')
    for opt in ('ca_path', 'client_cert', 'client_key'):
        if files[opt] and not os.path.isfile(files[opt]):
            raise ValueError('%s: no such file %s' % (opt, files[opt]))
    if params.get('validate_certs') and not files['ca_path']:
        raise ValueError('validate_certs needs ca_path (or DOCKER_CERT_PATH with a ca.pem)')
    if host.startswith('tcp://'):
        result['base_url'] = 'https://' + host[len('tcp://'):]
    result['tls'] = dict(
        client_cert=(files['client_cert'], files['client_key']) if files['client_cert'] else None,
        ca_cert=files['ca_path'] if params.get('validate_certs') else None,
        verify=bool(params.get('validate_certs')),
        assert_hostname=params.get('tls_hostname'),
    )
    return result


class EngineError(Exception):
    """An Engine API request failed; ``status`` is the HTTP status if any."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status

    @property
    def no_leader(self):
        """The manager answered that its swarm has no leader: quorum is lost
        (or a leader election is under way)."""
        return 'does not have a leader' in str(self).lower()


def _exception_chain(exc):
    """``exc`` and every exception behind it: causes, contexts, urllib3's
    ``reason`` and exceptions passed as arguments (requests and urllib3 wrap
    the socket or TLS error that really happened several layers deep)."""
    seen, todo = [], [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, 'reason', None), current.__cause__, current.__context__])
        todo.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))
    return seen


# OpenSSL reasons (ssl.SSLError.reason) -> what to check, in words
SSL_REASONS = (
    (('PEM_LIB', 'NO_START_LINE', 'BAD_BASE64_DECODE', 'BAD_END_LINE', 'NO_CERTIFICATE_OR_CRL_FOUND'),
     'a certificate or key file could not be read as PEM: check that ca_path and client_cert hold PEM '
     'certificates and client_key the PEM private key of client_cert'),
    (('KEY_VALUES_MISMATCH',),
     'client_key is not the private key of client_cert'),
    (('WRONG_VERSION_NUMBER', 'RECORD_LAYER_FAILURE', 'HTTP_REQUEST', 'UNKNOWN_PROTOCOL'),
     'the engine does not talk TLS at that address: drop tls and validate_certs, or use the TLS port (2376)'),
    (('CERTIFICATE_REQUIRED', 'TLSV13_ALERT_CERTIFICATE_REQUIRED', 'SSLV3_ALERT_BAD_CERTIFICATE',
      'TLSV1_ALERT_UNKNOWN_CA', 'SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'TLSV1_ALERT_DECRYPT_ERROR'),
     'the engine did not accept this client: give client_cert and client_key signed by the CA the engine trusts'),
)


UNKNOWN_HOST_KEY = ('the SSH host key of that host is unknown: check it and add it to ~/.ssh/known_hosts of the user '
                    'that runs the module (for example from ssh-keyscan)')
CHANGED_HOST_KEY = ('the SSH host key of that host is not the one in known_hosts (a reinstalled host, or someone in '
                    'between): check the new key, then replace the line of that host in ~/.ssh/known_hosts')


def _ssh_problem(chain):
    """What went wrong in the Python SSH library (paramiko) on the way to an
    ``ssh://`` engine, in words; None when it was not the SSH layer."""
    for current in chain:
        if not (type(current).__module__ or '').startswith('paramiko'):
            continue
        name = type(current).__name__
        if name == 'BadHostKeyException':
            return CHANGED_HOST_KEY
        if name == 'PasswordRequiredException':
            return 'the SSH private key is protected by a passphrase: load it into an ssh agent'
        if name in ('AuthenticationException', 'BadAuthenticationType', 'PartialAuthentication'):
            return ('SSH authentication failed: the host accepted none of the keys offered (~/.ssh of the user '
                    'that runs the module, or its ssh agent): add the public key to the authorized_keys of the user '
                    'in docker_host')
        if name == 'NoValidConnectionsError':
            return 'connection refused: nothing accepts SSH connections at that address (sshd stopped, or wrong port?)'
        if 'not found in known_hosts' in str(current):
            return UNKNOWN_HOST_KEY
        return 'the SSH connection failed (%s)' % (str(current).strip() or name)
    return None


def describe_error(exc, timeout=None):
    """What went wrong on the way to an engine, in words: the socket, TLS,
    SSH or HTTP error found behind ``exc`` (never a Python representation)."""
    chain = _exception_chain(exc)
    ssh = _ssh_problem(chain)
    if ssh is not None:
        return ssh

    def find(*types):
        return next((e for e in chain if isinstance(e, types)), None)

    verify = find(ssl.SSLCertVerificationError)
    if verify is not None:
        return ("the engine's TLS certificate was not accepted (%s): check ca_path (the CA that signed the "
                "engine's certificate) and that docker_host names a host the certificate is for"
                % (getattr(verify, 'verify_message', None) or 'verification failed'))
    tls = find(ssl.SSLError)
    if tls is not None:
        reason = str(getattr(tls, 'reason', None) or '')
        key = (reason or str(tls)).upper().replace(' ', '_')
        for reasons, words in SSL_REASONS:
            if any(r in key for r in reasons):
                return words
        return 'the TLS handshake with the engine failed (%s)' % (reason.replace('_', ' ').lower() or 'no reason given')
    names = ' '.join(type(e).__name__ for e in chain)
    if find(socket.timeout) is not None or 'Timeout' in names:
        return ('no answer within %s seconds (timeout): the engine may be overloaded or the address may '
                'drop packets' % (timeout if timeout is not None else 'the allowed'))
    missing = find(FileNotFoundError)
    if missing is not None:
        return 'there is no socket at that path: is the Docker engine running there, and is docker_host right?'
    if find(PermissionError) is not None:
        return ('permission denied: run as root or as a member of the docker group '
                '(become: true), or check the permissions of the socket')
    if find(ConnectionRefusedError) is not None:
        return 'connection refused: nothing listens at that address (engine stopped, or wrong port?)'
    if find(socket.gaierror) is not None or 'NameResolution' in names:
        return 'the host name in docker_host cannot be resolved'
    if find(ConnectionResetError, BrokenPipeError) is not None or 'RemoteDisconnected' in names:
        return ('the engine closed the connection without an answer (a TLS port talked to without tls or '
                'validate_certs, or an engine that stopped?)')
    if find(ValueError) is not None and 'JSONDecodeError' in names:
        return 'the answer is not JSON: is this the Docker Engine API?'
    if 'BadStatusLine' in names or 'LineTooLong' in names or 'HTTPException' in names:
        return ('the answer is not the HTTP the Docker Engine API speaks: is docker_host the engine\'s API '
                '(not the swarm port 2377 or another service)?')
    text = ' '.join(str(e) for e in chain).lower()
    for words, meaning in (('connection refused', 'connection refused: nothing listens at that address (engine '
                                                  'stopped, or wrong port?)'),
                           ('no such file', 'there is no socket at that path: is the Docker engine running there, '
                                            'and is docker_host right?'),
                           ('permission denied', 'permission denied: run as root or as a member of the docker group '
                                                 '(become: true), or check the permissions of the socket'),
                           ('name or service not known', 'the host name in docker_host cannot be resolved'),
                           ('temporary failure in name resolution', 'the host name in docker_host cannot be resolved')):
        if words in text:
            return meaning
    oserror = next((e for e in chain if isinstance(e, OSError) and e.errno), None)
    if oserror is not None:
        return (oserror.strerror or errno.errorcode.get(oserror.errno, 'error %d' % oserror.errno)).lower()
    for current in chain:
        if (isinstance(current, DockerException) and not isinstance(current, APIError)
                and not str(current).startswith('Error while fetching server API version')):
            # the SDK's own messages are sentences already (bad URL, missing paramiko...)
            return str(current)
    return 'the connection failed (%s)' % type(chain[-1]).__name__


def ssh_command_problem(url, timeout):
    """Why the ``ssh`` command cannot reach the engine at ``url`` (an
    ``ssh://`` URL with use_ssh_client): what ssh (or the remote shell) said
    last on its standard error, or None when it works. The SDK leaves that
    output on the module's standard error, where nobody reads it, and sees
    only a connection closed without an answer."""
    parsed = urlparse(url)
    args = ['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=%d' % max(1, int(timeout))]
    if parsed.username:
        args += ['-l', parsed.username]
    if parsed.port:
        args += ['-p', str(parsed.port)]
    args += ['--', parsed.hostname or '', 'docker system dial-stdio']
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        return 'the ssh command is not installed where the module runs (use_ssh_client needs it)'
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in proc.stderr.decode('utf-8', 'replace').splitlines() if line.strip()]
    return lines[-1] if lines else 'ssh ended with status %d' % proc.returncode


def ssh_host_key_problem(client):
    """Through the Python SSH library: None when the host key the engine's
    host showed is the one ~/.ssh/known_hosts has for it, else what is wrong.
    Docker SDKs before 6.0 (Debian 12 ships 5.0.3) only warn about a host
    missing from known_hosts and go on; this refuses it, as later SDKs do."""
    adapter = getattr(client, '_custom_adapter', None)
    ssh = getattr(adapter, 'ssh_client', None)
    transport = ssh.get_transport() if ssh is not None and paramiko is not None else None
    if transport is None:
        return None
    params = getattr(adapter, 'ssh_params', None) or {}
    port = int(params.get('port') or 22)
    name = params.get('hostname') if port == 22 else '[%s]:%d' % (params.get('hostname'), port)
    known = paramiko.HostKeys()
    path = os.path.expanduser('~/.ssh/known_hosts')
    if os.path.isfile(path):
        known.load(path)
    key = transport.get_remote_server_key()
    entry = known.lookup(name) or {}
    if key.get_name() not in entry:
        return UNKNOWN_HOST_KEY
    return None if entry[key.get_name()] == key else CHANGED_HOST_KEY


def _client_class():
    """docker.APIClient, except that the TLS verification it was set up with
    wins over REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE: requests otherwise lets
    those environment variables replace the client's CA (or its verify=False)
    on every request, so validate_certs would check against another CA and
    tls would verify after all."""

    class Client(docker.APIClient):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None:
                settings['verify'] = self.verify
            return settings

    return Client


class Engine:
    """One Docker engine. Methods map 1:1 to Engine API requests."""

    def __init__(self, params, label='engine'):
        self.label = label
        self.calls = []
        kwargs = connection_params(params)
        self.url = params.get('docker_host') or DEFAULT_DOCKER_HOST
        self.timeout = kwargs['timeout']
        self.ssh_client = bool(kwargs.get('use_ssh_client')) and self.url.startswith('ssh://')
        if self.url.startswith('ssh://'):
            load_ssh_transport()
        tls = kwargs.pop('tls')
        if tls is not None:
            if sdk_version() >= (7, 0, 0):
                tls.pop('assert_hostname', None)
            elif not tls.get('assert_hostname'):
                tls.pop('assert_hostname', None)
            try:
                kwargs['tls'] = docker.tls.TLSConfig(**tls)
            except TLSParameterError as exc:
                raise ValueError('TLS settings for %s: %s' % (self.url, exc))
        try:
            self.api = _client_class()(**kwargs)
            api_version = self.api.api_version
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # the SDK wraps whatever failed (socket, TLS, HTTP) when it asks
            # for the engine's version: say what it was in words
            raise EngineError('cannot reach the Docker engine at %s: %s' % (self.url, self.describe(exc)))
        problem = ssh_host_key_problem(self.api) if self.url.startswith('ssh://') else None
        if problem:
            self.api.close()
            raise EngineError('cannot reach the Docker engine at %s: %s' % (self.url, problem))
        if kwargs['version'] == 'auto':
            self.calls.append('GET /version')
        if version_tuple(api_version) < MIN_API_VERSION:
            raise EngineError('the Docker engine at %s speaks API %s; this collection needs %s or later'
                              % (self.url, api_version, '.'.join(map(str, MIN_API_VERSION))))

    def describe(self, exc):
        """``exc`` in words; through the ssh command, what ssh says."""
        if self.ssh_client:
            problem = ssh_command_problem(self.url, self.timeout)
            if problem:
                return 'the ssh command failed: %s' % problem
        return describe_error(exc, self.timeout)

    def _request(self, method, path, params=None, body=None, json=True):
        self.calls.append('%s %s' % (method.upper(), path))
        try:
            url = self.api._url(path)
            if method == 'get':
                response = self.api._get(url, params=params)
            elif method == 'delete':
                response = self.api._delete(url, params=params)
            else:
                response = self.api._post_json(url, data=body, params=params)
            self.api._raise_for_status(response)
        except APIError as exc:
            detail = exc.explanation or str(exc)
            status = exc.response.status_code if exc.response is not None else None
            if isinstance(detail, bytes):
                detail = detail.decode('utf-8', 'replace')
            raise EngineError('%s %s on %s: %s' % (method.upper(), path, self.url, str(detail).strip()), status)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # anything else from the SDK, requests, urllib3, ssl or the socket
            raise EngineError('cannot reach the Docker engine at %s: %s' % (self.url, self.describe(exc)))
        if not json or not response.content:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise EngineError('%s %s on %s: the answer is not JSON; is this the Docker Engine API?'
                              % (method.upper(), path, self.url))

    # -- engine ---------------------------------------------------------
    def info(self):
        return self._request('get', '/info')

    # -- swarm ----------------------------------------------------------
    def swarm_inspect(self):
        return self._request('get', '/swarm')

    def swarm_init(self, body):
        return self._request('post', '/swarm/init', body=body)

    def swarm_join(self, body):
        return self._request('post', '/swarm/join', body=body, json=False)

    def swarm_leave(self, force=False):
        return self._request('post', '/swarm/leave', params={'force': 'true' if force else 'false'}, json=False)

    def swarm_update(self, version, spec, rotate_worker_token=False, rotate_manager_token=False,
                     rotate_unlock_key=False):
        params = {'version': version,
                  'rotateWorkerToken': 'true' if rotate_worker_token else 'false',
                  'rotateManagerToken': 'true' if rotate_manager_token else 'false',
                  'rotateManagerUnlockKey': 'true' if rotate_unlock_key else 'false'}
        return self._request('post', '/swarm/update', params=params, body=spec, json=False)

    def swarm_unlock(self, key):
        return self._request('post', '/swarm/unlock', body={'UnlockKey': key}, json=False)

    def swarm_unlock_key(self):
        return self._request('get', '/swarm/unlockkey').get('UnlockKey')

    # -- nodes ----------------------------------------------------------
    def nodes(self):
        return self._request('get', '/nodes')

    def node_inspect(self, node_id):
        return self._request('get', '/nodes/%s' % node_id)

    def node_update(self, node_id, version, spec):
        return self._request('post', '/nodes/%s/update' % node_id, params={'version': version}, body=spec, json=False)

    def node_remove(self, node_id, force=False):
        return self._request('delete', '/nodes/%s' % node_id, params={'force': 'true' if force else 'false'}, json=False)

    # -- services and tasks --------------------------------------------
    def services(self, filters=None):
        return self._request('get', '/services', params=_filters(filters))

    def tasks(self, filters=None):
        return self._request('get', '/tasks', params=_filters(filters))


def nodes_unless_leaderless(engine, grace=ELECTION_GRACE):
    """``engine.nodes()``, or None when the swarm has no leader: read again
    for ``grace`` seconds first, so that a leader election (a few seconds
    without a leader) is not taken for lost quorum."""
    deadline = time.time() + grace
    while True:
        try:
            return engine.nodes()
        except EngineError as exc:
            if not exc.no_leader:
                raise
            if time.time() >= deadline:
                return None
        time.sleep(1)


def _filters(filters):
    if not filters:
        return None
    return {'filters': json.dumps(dict((k, v if isinstance(v, list) else [v]) for k, v in filters.items()))}


def new_module(argument_spec, **kwargs):
    """AnsibleModule with the connection options added and the SDK checked."""
    spec = dict(DOCKER_COMMON_ARGS)
    spec.update(argument_spec)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib(
            'Docker SDK for Python >= %s (Debian/Ubuntu: apt install python3-docker; else: pip install docker)'
            % '.'.join(map(str, MIN_SDK_VERSION))), exception=DOCKER_IMPORT_ERROR)
    if sdk_version() < MIN_SDK_VERSION:
        wanted = '.'.join(map(str, MIN_SDK_VERSION))
        module.fail_json(msg='Docker SDK for Python %s is too old on this host; %s or later is needed '
                             '(pip install "docker>=%s")' % (docker.__version__, wanted, wanted))
    return module


def connect(module, params=None, label='engine'):
    """Engine for the module's own connection options (or ``params``);
    a clear failure instead of a traceback when it cannot be reached."""
    try:
        return Engine(params if params is not None else module.params, label=label)
    except (ValueError, EngineError) as exc:
        module.fail_json(msg='%s: %s' % (label, exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg='%s: cannot set up the connection: %s' % (label, describe_error(exc)),
                         exception=traceback.format_exc())


def _module_exit(exc):
    """Whether ``exc`` was raised by the module's own fail_json or exit_json
    (they end the process; a test harness may make them raise instead)."""
    return any(frame.f_code.co_name.endswith(('fail_json', 'exit_json'))
               for frame, _line in traceback.walk_tb(exc.__traceback__))


def exit_with(module, work, failures=()):
    """Run ``work()`` and exit with its result; an engine error or one of the
    ``failures`` (exceptions whose message says what to fix) becomes a
    clean failed result, never a traceback."""
    try:
        result = work()
    except EngineError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    except failures as exc:  # pylint: disable=catching-non-exception
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if _module_exit(exc):
            raise
        # a defect of the module itself: a clean failure all the same; the
        # traceback goes to the 'exception' key (shown with -vvv)
        module.fail_json(msg='the module failed unexpectedly (an internal %s); nothing was changed after that '
                             'point. The traceback is in the result\'s "exception" (shown with -vvv): please '
                             'report it' % type(exc).__name__,
                         exception=traceback.format_exc())
    module.exit_json(**result)
