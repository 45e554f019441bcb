# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTPS client of the Flocker control service's v1 REST API (private: may
change). Standard library only: the client certificate of an API user
(CN ``user-<name>``), the cluster CA, and the server's certificate checked
against the name ``control-service`` whatever address is dialled, as
Flocker's own clients do."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl

from ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker import api_error

DEFAULT_PORT = 4523
SERVER_NAME = 'control-service'

# the connection options every Flocker module shares
CONNECTION_SPEC = dict(
    control_host=dict(type='str', required=True, aliases=['control_service']),
    control_port=dict(type='int', default=DEFAULT_PORT),
    ca_path=dict(type='path', required=True, aliases=['cluster_cert']),
    client_cert=dict(type='path', required=True, aliases=['user_cert']),
    client_key=dict(type='path', required=True, aliases=['user_key'], no_log=False),
    timeout=dict(type='int', default=30),
)


class FlockerError(Exception):
    """The control service could not be reached or answered an error; the
    message says what happened in words, never as a Python exception."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection to ``host`` whose certificate is checked against
    ``server_name`` (the address dialled is not the name checked)."""

    def __init__(self, host, port, context, server_name, timeout):
        super().__init__(host, port, timeout=timeout, context=context)
        self._flocker_context = context
        self._server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        try:
            self.sock = self._flocker_context.wrap_socket(sock, server_hostname=self._server_name)
        except BaseException:
            sock.close()
            raise


def _tls_reason(exc):
    return getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or 'TLS failure'


class ControlService:
    """One control service; every request returns the decoded JSON body and
    remembers the calls made (``calls``)."""

    def __init__(self, params):
        self.host, self.port = params['control_host'], params['control_port']
        self.timeout = params['timeout']
        self.url = 'https://%s:%d' % (self.host, self.port)
        self.calls = []
        if not 1 <= self.port <= 65535:
            raise FlockerError('control_port must be a TCP port (1-65535), not %d' % self.port)
        if self.timeout <= 0:
            raise FlockerError('timeout must be more than 0 seconds (got %d)' % self.timeout)
        for option in ('ca_path', 'client_cert', 'client_key'):
            if not os.path.isfile(params[option]):
                raise FlockerError('%s %s is not a readable file on the host this module runs on'
                                   % (option, params[option]))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(cafile=params['ca_path'])
        except (ssl.SSLError, OSError, ValueError):
            raise FlockerError('ca_path %s holds no PEM certificate (the cluster CA, cluster.crt)'
                               % params['ca_path']) from None
        try:
            context.load_cert_chain(params['client_cert'], params['client_key'])
        except (ssl.SSLError, OSError, ValueError):
            raise FlockerError('client_cert %s and client_key %s are not a PEM certificate and its unencrypted key'
                               % (params['client_cert'], params['client_key'])) from None
        self.context = context

    def request(self, method, path, body=None, tag=None, ok=(200, 201)):
        """``(status, headers, data)``; an answer not in ``ok`` raises
        FlockerError with a message made for the user."""
        request = '%s %s' % (method, path)
        self.calls.append(request)
        headers = {'Accept': 'application/json'}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        if tag is not None:
            headers['X-If-Configuration-Matches'] = tag
        connection = _Connection(self.host, self.port, self.context, SERVER_NAME, self.timeout)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status, answer_headers = response.status, dict((k.lower(), v) for k, v in response.getheaders())
        except ssl.SSLCertVerificationError as exc:
            raise FlockerError('the server at %s is not the control service of this cluster: its certificate '
                               'fails the check against the cluster CA (%s) for the name "%s" (%s)'
                               % (self.url, 'ca_path', SERVER_NAME, _tls_reason(exc))) from None
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
            raise FlockerError('the control service at %s refused the TLS connection (%s): the client certificate '
                               'must be an API certificate of this cluster (CN user-<name>, signed by its CA); node '
                               'certificates (CN node-...) are only for the agent port 4524'
                               % (self.url, _tls_reason(exc) if isinstance(exc, ssl.SSLError)
                                  else 'connection closed')) from None
        except socket.timeout:
            raise FlockerError('the control service at %s did not answer %s within %d seconds'
                               % (self.url, request, self.timeout)) from None
        except (socket.gaierror, UnicodeError):
            raise FlockerError('control_host %s cannot be resolved on the host this module runs on'
                               % self.host) from None
        except ConnectionRefusedError:
            raise FlockerError('nothing listens at %s (connection refused): is flocker-control running there, and '
                               'is the port open?' % self.url) from None
        except (OSError, http.client.HTTPException) as exc:
            raise FlockerError('the control service at %s cannot be reached (%s)'
                               % (self.url, getattr(exc, 'strerror', None) or type(exc).__name__)) from None
        finally:
            connection.close()
        try:
            data = json.loads(raw.decode('utf-8')) if raw else None
        except ValueError:
            data = None
            if status in ok:
                raise FlockerError('%s at %s answered %d with a body that is not JSON: is this a Flocker control '
                                   'service?' % (request, self.url, status), status=status) from None
        if status not in ok:
            raise FlockerError(api_error(status, data, request), status=status)
        return status, answer_headers, data

    def get(self, path):
        return self.request('GET', path)[2]

    # -- the v1 API -----------------------------------------------------------
    def version(self):
        return self.get('/v1/version')

    def datasets(self):
        """``(datasets, configuration tag)``."""
        _status, headers, data = self.request('GET', '/v1/configuration/datasets')
        return data or [], headers.get('x-configuration-tag')

    def state_datasets(self):
        return self.get('/v1/state/datasets') or []

    def nodes(self):
        return self.get('/v1/state/nodes') or []

    def leases(self):
        return self.get('/v1/configuration/leases') or []

    def create(self, body, tag=None):
        return self.request('POST', '/v1/configuration/datasets', body, tag=tag)[2]

    def move(self, dataset_id, primary, tag=None):
        return self.request('POST', '/v1/configuration/datasets/%s' % dataset_id, {'primary': primary}, tag=tag)[2]

    def delete(self, dataset_id, tag=None):
        return self.request('DELETE', '/v1/configuration/datasets/%s' % dataset_id, tag=tag)[2]

    def acquire_lease(self, body):
        return self.request('POST', '/v1/configuration/leases', body)[2]

    def release_lease(self, dataset_id):
        return self.request('DELETE', '/v1/configuration/leases/%s' % dataset_id)[2]
