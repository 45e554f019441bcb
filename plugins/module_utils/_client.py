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

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    import docker
    from docker.errors import APIError, DockerException, TLSParameterError
    from requests.exceptions import RequestException
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

    class RequestException(Exception):
        pass

MIN_SDK_VERSION = (5, 0, 0)
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
    result = dict(base_url=host, version=params.get('api_version') or 'auto',
                  timeout=params.get('timeout') or 60, tls=None)
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


class Engine:
    """One Docker engine. Methods map 1:1 to Engine API requests."""

    def __init__(self, params, label='engine'):
        self.label = label
        self.calls = []
        kwargs = connection_params(params)
        self.url = params.get('docker_host') or DEFAULT_DOCKER_HOST
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
            self.api = docker.APIClient(**kwargs)
        except DockerException as exc:
            raise EngineError('cannot reach the Docker engine at %s: %s' % (self.url, exc))
        if kwargs['version'] == 'auto':
            self.calls.append('GET /version')
        if version_tuple(self.api.api_version) < MIN_API_VERSION:
            raise EngineError('the Docker engine at %s speaks API %s; this collection needs %s or later'
                              % (self.url, self.api.api_version, '.'.join(map(str, MIN_API_VERSION))))

    def _request(self, method, path, params=None, body=None, json=True):
        self.calls.append('%s %s' % (method.upper(), path))
        url = self.api._url(path)
        try:
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
            raise EngineError('%s %s on %s: %s' % (method.upper(), path, self.url, detail), status)
        except RequestException as exc:
            raise EngineError('cannot reach the Docker engine at %s: %s' % (self.url, exc))
        if json and response.content:
            return response.json()
        return response.text

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
    module.exit_json(**result)
