# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for the Flocker control service (flocker-control) for tests.

Flocker is discontinued and cannot be installed; this implements the part of
its documented v1 REST API the collection uses, with its JSON fields, limits,
status codes and configuration tags, and its TLS rule. Standard library only
(runs on any python3 >= 3.7):

- REST port (default 4523): TLS with the control service's certificate
  (control-service.crt/.key of --cert-dir); a client certificate signed by
  the cluster CA (cluster.crt) is required, and its CN must start with
  ``user-``: any other client (a ``node-`` certificate, say) has its
  connection closed right after the handshake, before a request is read.
- agent port (--agent-port, 0 = none): the same TLS, for CNs starting with
  ``node-``; it only accepts and holds the connection (no AMP).

The cluster state (/v1/state/datasets) follows the configuration like
agents would: after --converge-polls reads of it since the last change
(0: at once). Nodes come from --nodes (a JSON list of {host, uuid[, era]}).

With --test-hooks, POST /_standin/before-next-write takes
{"requests": [[method, path, body], ...]}: requests carried out just before
the next configuration write, as another client changing the configuration
meanwhile would; POST /_standin/agents {"converging": false} freezes the
cluster state (agents that stopped reporting), true lets it follow again.

    python3 server.py --cert-dir DIR --nodes '[{"host": "10.0.0.2", "uuid": "..."}]'
"""

import argparse
import hashlib
import json
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler

VERSION = '1.15.0'
MIN_SIZE = 67108864
SCHEMA_ERROR = "The provided JSON doesn't match the required schema."


def is_uuid(value):
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Cluster:
    """Configuration (datasets, leases) and the state that follows it."""

    def __init__(self, nodes, converge_polls):
        self.lock = threading.RLock()
        self.nodes = nodes
        self.datasets = {}  # id -> dataset, in creation order
        self.leases = {}    # dataset id -> {node_uuid, expires_at}
        self.state = []
        self.converge_polls = converge_polls
        self.pending = 0
        self.before_next_write = []
        self.hooks = False
        self.converging = True

    def tag(self):
        self.expire_leases()
        data = json.dumps([list(self.datasets.values()), self.leases], sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def changed(self):
        self.pending = self.converge_polls
        if not self.pending and self.converging:
            self.converge()

    def converge(self):
        self.state = []
        for dataset in self.datasets.values():
            if dataset['deleted']:
                continue
            entry = dict(dataset_id=dataset['dataset_id'], primary=dataset['primary'],
                         path='/flocker/%s' % dataset['dataset_id'])
            if dataset.get('maximum_size') is not None:
                entry['maximum_size'] = dataset['maximum_size']
            self.state.append(entry)

    def read_state(self):
        if self.pending and self.converging:
            self.pending -= 1
            if not self.pending:
                self.converge()
        return list(self.state)

    def expire_leases(self):
        now = time.time()
        for key in [k for k, v in self.leases.items() if v['expires_at'] is not None and v['expires_at'] <= now]:
            del self.leases[key]

    def lease_view(self, dataset_id):
        lease = self.leases[dataset_id]
        expires = None if lease['expires_at'] is None else max(0.0, lease['expires_at'] - time.time())
        return dict(dataset_id=dataset_id, node_uuid=lease['node_uuid'], expires=expires)


def dataset_errors(body, move=False):
    """Schema errors of a dataset request body (the v1 schema's rules)."""
    if not isinstance(body, dict):
        return ['the body must be a JSON object']
    errors = []
    allowed = {'primary'} if move else {'primary', 'dataset_id', 'maximum_size', 'metadata', 'deleted'}
    for key in sorted(set(body) - allowed):
        errors.append('Additional properties are not allowed (%r was unexpected)' % key)
    if 'primary' not in body:
        errors.append("'primary' is a required property")
    elif not is_uuid(body['primary']):
        errors.append('%r is not valid under any of the given schemas (primary: a UUID)' % (body['primary'],))
    if 'dataset_id' in body and not is_uuid(body['dataset_id']):
        errors.append('%r is not valid under any of the given schemas (dataset_id: a UUID)' % (body['dataset_id'],))
    if 'deleted' in body and body['deleted'] is not False:
        errors.append('%r is not one of [False] (deleted)' % (body['deleted'],))
    if 'maximum_size' in body and body['maximum_size'] is not None:
        size = body['maximum_size']
        if not isinstance(size, int) or isinstance(size, bool):
            errors.append('%r is not of type integer (maximum_size)' % (size,))
        elif size < MIN_SIZE:
            errors.append('%d is less than the minimum of %d (maximum_size)' % (size, MIN_SIZE))
        elif size % 1024:
            errors.append('%d is not a multiple of 1024 (maximum_size)' % size)
    if 'metadata' in body:
        metadata = body['metadata']
        if not isinstance(metadata, dict):
            errors.append('%r is not of type object (metadata)' % (metadata,))
        else:
            if len(metadata) > 16:
                errors.append('metadata has more than 16 properties')
            for key, value in metadata.items():
                if not 1 <= len(key) <= 256:
                    errors.append('metadata key %r is not 1 to 256 characters long' % key[:40])
                if not isinstance(value, str):
                    errors.append('%r is not of type string (metadata %s)' % (value, key))
                elif len(value) > 256:
                    errors.append('metadata %s is longer than 256 characters' % key)
    return errors


def lease_errors(body):
    if not isinstance(body, dict):
        return ['the body must be a JSON object']
    errors = []
    for key in sorted(set(body) - {'dataset_id', 'node_uuid', 'expires'}):
        errors.append('Additional properties are not allowed (%r was unexpected)' % key)
    for key in ('dataset_id', 'node_uuid', 'expires'):
        if key not in body:
            errors.append('%r is a required property' % key)
    for key in ('dataset_id', 'node_uuid'):
        if key in body and not is_uuid(body[key]):
            errors.append('%r is not a UUID (%s)' % (body[key], key))
    expires = body.get('expires')
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float)) or expires < 0):
        errors.append('%r is not a number of seconds or null (expires)' % (expires,))
    return errors


class ApiError(Exception):
    def __init__(self, status, description, errors=None):
        super().__init__(description)
        self.status, self.body = status, dict(description=description)
        if errors:
            self.body['errors'] = errors


def handle(cluster, method, path, body, headers):
    """``(status, data, extra headers)`` of one API request."""
    with cluster.lock:
        cluster.expire_leases()
        parts = [p for p in path.split('?')[0].split('/') if p]
        if parts[:1] != ['v1'] and parts[:1] != ['_standin']:
            raise ApiError(404, 'Not found.')
        if parts == ['v1', 'version'] and method == 'GET':
            return 200, {'flocker': VERSION}, {}
        if parts == ['v1', 'state', 'nodes'] and method == 'GET':
            return 200, [dict(host=n['host'], uuid=n['uuid']) for n in cluster.nodes], {}
        if parts[:4] == ['v1', 'state', 'nodes', 'by_era'] and len(parts) == 5 and method == 'GET':
            for node in cluster.nodes:
                if node.get('era') == parts[4]:
                    return 200, {'uuid': node['uuid']}, {}
            raise ApiError(404, 'No node found with given era.')
        if parts == ['v1', 'state', 'datasets'] and method == 'GET':
            return 200, cluster.read_state(), {}
        if parts == ['_standin', 'before-next-write'] and method == 'POST' and cluster.hooks:
            cluster.before_next_write = list(body.get('requests') or [])
            return 200, {'queued': len(cluster.before_next_write)}, {}
        if parts == ['_standin', 'agents'] and method == 'POST' and cluster.hooks:
            cluster.converging = bool(body.get('converging'))
            if cluster.converging and not cluster.pending:
                cluster.converge()
            return 200, {'converging': cluster.converging}, {}
        if parts[:3] == ['v1', 'configuration', 'datasets']:
            return datasets(cluster, method, parts[3:], body, headers)
        if parts[:3] == ['v1', 'configuration', 'leases']:
            return leases(cluster, method, parts[3:], body)
        raise ApiError(404 if method == 'GET' else 405, 'Not found.' if method == 'GET' else 'Method not allowed.')


def run_hooks(cluster):
    queued, cluster.before_next_write = cluster.before_next_write, []
    for method, path, body in queued:
        try:
            handle(cluster, method, path, body, {})
        except ApiError:
            pass


def check_tag(cluster, headers):
    wanted = headers.get('x-if-configuration-matches')
    if wanted is not None and wanted != cluster.tag():
        raise ApiError(412, 'The current configuration does not match the supplied tag.')


def datasets(cluster, method, rest, body, headers):
    if not rest and method == 'GET':
        return 200, list(cluster.datasets.values()), {'X-Configuration-Tag': cluster.tag()}
    if method in ('POST', 'DELETE'):
        run_hooks(cluster)
    if not rest and method == 'POST':
        errors = dataset_errors(body)
        if errors:
            raise ApiError(400, SCHEMA_ERROR, errors)
        check_tag(cluster, headers)
        dataset_id = (body.get('dataset_id') or str(uuid.uuid4())).lower()
        if dataset_id in cluster.datasets:
            raise ApiError(409, 'The provided dataset_id is already in use.')
        dataset = dict(dataset_id=dataset_id, primary=body['primary'], deleted=False,
                       metadata=body.get('metadata') or {})
        if body.get('maximum_size') is not None:
            dataset['maximum_size'] = body['maximum_size']
        cluster.datasets[dataset_id] = dataset
        cluster.changed()
        return 201, dataset, {}
    if len(rest) == 1 and method in ('POST', 'DELETE'):
        dataset_id = rest[0].lower()
        if method == 'POST':
            errors = dataset_errors(body, move=True)
            if errors:
                raise ApiError(400, SCHEMA_ERROR, errors)
        check_tag(cluster, headers)
        dataset = cluster.datasets.get(dataset_id)
        if dataset is None:
            raise ApiError(404, 'Dataset not found.')
        if method == 'POST':
            if dataset['deleted']:
                raise ApiError(405, 'The dataset has been deleted.')
            dataset['primary'] = body['primary']
        else:
            dataset['deleted'] = True
        cluster.changed()
        return 200, dataset, {}
    raise ApiError(405, 'Method not allowed.')


def leases(cluster, method, rest, body):
    if not rest and method == 'GET':
        return 200, [cluster.lease_view(k) for k in cluster.leases], {}
    if method in ('POST', 'DELETE'):
        run_hooks(cluster)
    if not rest and method == 'POST':
        errors = lease_errors(body)
        if errors:
            raise ApiError(400, SCHEMA_ERROR, errors)
        dataset_id = body['dataset_id'].lower()
        current = cluster.leases.get(dataset_id)
        if current is not None and current['node_uuid'] != body['node_uuid']:
            raise ApiError(409, 'Lease already held by another node.')
        cluster.leases[dataset_id] = dict(
            node_uuid=body['node_uuid'],
            expires_at=None if body['expires'] is None else time.time() + body['expires'])
        return (200 if current else 201), cluster.lease_view(dataset_id), {}
    if len(rest) == 1 and method == 'DELETE':
        dataset_id = rest[0].lower()
        if dataset_id not in cluster.leases:
            raise ApiError(404, 'Lease not found.')
        view = cluster.lease_view(dataset_id)
        del cluster.leases[dataset_id]
        return 200, view, {}
    raise ApiError(405, 'Method not allowed.')


def peer_common_name(sock):
    cert = sock.getpeercert() or {}
    for rdn in cert.get('subject', ()):
        for key, value in rdn:
            if key == 'commonName':
                return value
    return ''


class Handler(BaseHTTPRequestHandler):
    server_version = 'flocker-control-standin'

    def setup(self):
        super().setup()
        self.server.requests_seen.append(peer_common_name(self.connection))

    def _answer(self, status, data, headers=None):
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        body = None
        if raw:
            try:
                body = json.loads(raw.decode('utf-8'))
            except ValueError:
                return self._answer(400, {'description': 'Could not decode the request body as JSON.'})
        elif method == 'POST':
            return self._answer(400, {'description': 'Could not decode the request body as JSON.'})
        headers = dict((k.lower(), v) for k, v in self.headers.items())
        try:
            status, data, extra = handle(self.server.cluster, method, self.path, body, headers)
        except ApiError as exc:
            return self._answer(exc.status, exc.body)
        except Exception:  # pylint: disable=broad-except
            return self._answer(500, {'description': 'Internal server error.'})
        self.server.cluster_log.append('%s %s %d' % (method, self.path, status))
        return self._answer(status, data, extra)

    def do_GET(self):  # noqa: N802
        self._dispatch('GET')

    def do_POST(self):  # noqa: N802
        self._dispatch('POST')

    def do_DELETE(self):  # noqa: N802
        self._dispatch('DELETE')

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        sys.stderr.write('rest: %s\n' % (format % args))


class TLSServer(ThreadingHTTPServer):
    """Only clients whose CN starts with ``prefix`` get past the handshake."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, context, prefix, handler):
        self.context, self.prefix = context, prefix
        self.requests_seen, self.cluster_log = [], []
        super().__init__(address, handler)

    def get_request(self):
        sock, address = self.socket.accept()
        sock.settimeout(30)
        try:
            tls = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            sys.stderr.write('%s: handshake refused: %s\n' % (self.prefix, exc))
            sock.close()
            raise OSError('handshake failed') from None
        common = peer_common_name(tls)
        if not common.startswith(self.prefix):
            sys.stderr.write('%s: refused client %r (CN must start with %s)\n' % (self.prefix, common, self.prefix))
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()
            raise OSError('refused client')
        return tls, address

    def handle_error(self, request, client_address):
        sys.stderr.write('error with %s\n' % (client_address,))


class AgentHandler(BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            self.request.recv(1)
        except OSError:
            pass


def context_for(cert_dir):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile='%s/cluster.crt' % cert_dir)
    context.load_cert_chain('%s/control-service.crt' % cert_dir, '%s/control-service.key' % cert_dir)
    return context


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--cert-dir', default='/etc/flocker')
    parser.add_argument('--bind', default='0.0.0.0')
    parser.add_argument('--port', type=int, default=4523)
    parser.add_argument('--agent-port', type=int, default=0)
    parser.add_argument('--nodes', default='[]', help='JSON list of {host, uuid[, era]}, or @file')
    parser.add_argument('--converge-polls', type=int, default=0)
    parser.add_argument('--test-hooks', action='store_true')
    args = parser.parse_args(argv)
    nodes = args.nodes
    if nodes.startswith('@'):
        with open(nodes[1:]) as handle:
            nodes = handle.read()
    nodes = json.loads(nodes)
    if not all(is_uuid(n.get('uuid')) for n in nodes):
        parser.error('every node needs a uuid')
    cluster = Cluster(nodes, args.converge_polls)
    cluster.hooks = args.test_hooks
    context = context_for(args.cert_dir)
    rest = TLSServer((args.bind, args.port), context, 'user-', Handler)
    rest.cluster = cluster
    if args.agent_port:
        agent = TLSServer((args.bind, args.agent_port), context, 'node-', AgentHandler)
        threading.Thread(target=agent.serve_forever, daemon=True).start()
    sys.stderr.write('listening on %s:%d\n' % (args.bind, rest.server_address[1]))
    sys.stderr.flush()
    rest.serve_forever()


if __name__ == '__main__':
    main()
