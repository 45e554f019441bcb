"""flocker_volume, flocker_info and flocker_ca against the control-service
stand-in (tests/standins/flocker_control/server.py), which implements
Flocker's documented v1 REST API and its TLS rule.

The stand-in runs with certificates made by flocker_ca (the flocker role's
generator), so generator and modules are proven together: the `user-plugin`
certificate gets in, a `node-...` certificate of the same cluster and a
certificate of another cluster do not. Assertions read the stand-in's own
view through the API with the operator's certificate (`user-admin`), not the
modules' output. One stand-in and one set of certificates for the whole file."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from ansible_run import ENV, ROOT, module

STANDIN = os.path.join(ROOT, 'tests', 'standins', 'flocker_control', 'server.py')
N1 = '11111111-1111-4111-8111-111111111111'  # at 127.0.0.1: "localhost" resolves to it
N2 = '22222222-2222-4222-8222-222222222222'
N3 = '33333333-3333-4333-8333-333333333333'
GIB = 1024 ** 3


def run(module_name, check=False, diff=False, **args):
    """The module's own code run directly (as AnsiballZ runs it, without
    packing it first): a fraction of a second instead of an ansible run."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'plugins', 'modules', module_name + '.py')],
                          input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), capture_output=True, text=True,
                          env=dict(ENV, PYTHONPATH=ENV['ANSIBLE_COLLECTIONS_PATH']), timeout=120, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('%s gave no JSON (rc %d):\n%s\n%s' % (module_name, proc.returncode, proc.stdout, proc.stderr))


class Control:
    """The stand-in, and an independent client of it (the truth)."""

    def __init__(self, certs, port, process):
        self.certs, self.port, self.process = certs, port, process

    def params(self, user='plugin', **args):
        base = dict(control_host='127.0.0.1', control_port=self.port, ca_path=os.path.join(self.certs, 'cluster.crt'),
                    client_cert=os.path.join(self.certs, 'users', user + '.crt'),
                    client_key=os.path.join(self.certs, 'users', user + '.key'), timeout=10)
        base.update(args)
        return base

    def call(self, method, path, body=None, headers=None):
        context = ssl.create_default_context(cafile=os.path.join(self.certs, 'cluster.crt'))
        context.load_cert_chain(os.path.join(self.certs, 'users', 'admin.crt'),
                                os.path.join(self.certs, 'users', 'admin.key'))
        sock = socket.create_connection(('127.0.0.1', self.port), 10)
        conn = http.client.HTTPSConnection('127.0.0.1', self.port, timeout=10)
        conn.sock = context.wrap_socket(sock, server_hostname='control-service')
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=dict(headers or {}, **({'Content-Type': 'application/json'} if body is not None else {})))
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), json.loads(data or 'null')

    def get(self, path):
        return self.call('GET', path)[2]

    def dataset(self, name):
        found = [d for d in self.get('/v1/configuration/datasets')
                 if d['metadata'].get('name') == name and not d['deleted']]
        assert len(found) <= 1, found
        return found[0] if found else None

    def state(self, dataset_id):
        found = [s for s in self.get('/v1/state/datasets') if s['dataset_id'] == dataset_id]
        return found[0] if found else None

    def lease(self, dataset_id):
        found = [lease for lease in self.get('/v1/configuration/leases') if lease['dataset_id'] == dataset_id]
        return found[0] if found else None


@pytest.fixture(scope='module')
def control(tmp_path_factory):
    base = tmp_path_factory.mktemp('flocker')
    certs = str(base / 'ca')
    made = run('flocker_ca', path=certs, cluster_name='standin', control_names=['127.0.0.1', 'localhost'],
               nodes=['n1'], api_users=['plugin', 'admin'], key_size=2048)
    assert not made.get('failed'), made
    other = run('flocker_ca', path=str(base / 'other'), cluster_name='other', api_users=['plugin'],
                key_size=2048)
    assert not other.get('failed'), other
    log = open(str(base / 'standin.log'), 'w')
    process = subprocess.Popen([sys.executable, STANDIN, '--cert-dir', certs, '--bind', '127.0.0.1', '--port', '0',
                                '--test-hooks', '--nodes', json.dumps([dict(host='127.0.0.1', uuid=N1),
                                                                       dict(host='192.0.2.2', uuid=N2)])],
                               stdout=log, stderr=log)
    port = None
    for _attempt in range(100):
        with open(str(base / 'standin.log')) as handle:
            for line in handle:
                if line.startswith('listening on '):
                    port = int(line.rsplit(':', 1)[1])
        if port or process.poll() is not None:
            break
        time.sleep(0.1)
    try:
        assert port, open(str(base / 'standin.log')).read()
        stand_in = Control(certs, port, process)
        stand_in.base, stand_in.node_uuid = str(base), made['node_uuids']['n1']
        yield stand_in
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


# ----------------------------------------------------------------- TLS rule

def test_plugin_certificate_gets_in_node_and_foreign_certificates_do_not(control):
    info = module('flocker_info', **control.params())  # once through ansible itself
    assert info.get('failed') is not True, info
    assert info['version'] == '1.15.0'
    assert sorted(n['uuid'] for n in info['nodes']) == [N1, N2]

    node = run('flocker_info', **control.params(client_cert=os.path.join(control.certs, 'nodes', 'n1.crt'),
                                                client_key=os.path.join(control.certs, 'nodes', 'n1.key')))
    assert node['failed'] and 'refused the TLS connection' in node['msg'], node
    assert 'Traceback' not in node['msg']

    other = os.path.join(control.base, 'other')
    foreign = run('flocker_info', **control.params(client_cert=os.path.join(other, 'users', 'plugin.crt'),
                                                   client_key=os.path.join(other, 'users', 'plugin.key')))
    assert foreign['failed'] and 'refused the TLS connection' in foreign['msg'], foreign

    wrong_ca = run('flocker_info', **control.params(ca_path=os.path.join(other, 'cluster.crt')))
    assert wrong_ca['failed'] and 'is not the control service of this cluster' in wrong_ca['msg'], wrong_ca


def test_node_certificate_refused_at_the_handshake_by_the_stand_in_itself(control):
    """The TLS rule as a plain TLS client sees it (no module in between)."""
    context = ssl.create_default_context(cafile=os.path.join(control.certs, 'cluster.crt'))
    context.load_cert_chain(os.path.join(control.certs, 'nodes', 'n1.crt'),
                            os.path.join(control.certs, 'nodes', 'n1.key'))
    with socket.create_connection(('127.0.0.1', control.port), 10) as sock:
        with context.wrap_socket(sock, server_hostname='control-service') as tls:
            tls.sendall(b'GET /v1/version HTTP/1.1\r\nHost: control-service\r\n\r\n')
            try:
                answer = tls.recv(100)
            except (ssl.SSLError, ConnectionResetError):
                answer = b''
    assert answer == b''
    assert control.get('/v1/version') == {'flocker': '1.15.0'}


# ---------------------------------------------------------------- lifecycle

def test_create_check_mode_then_create_and_wait(control):
    args = control.params(name='pgdata', maximum_size='75G', profile='bronze', primary=N2)
    planned = run('flocker_volume', check=True, diff=True, **args)
    assert planned['changed'] and planned['actions'][0].startswith('create pgdata on %s' % N2), planned
    assert control.dataset('pgdata') is None

    created = run('flocker_volume', wait=True, wait_timeout=30, **args)
    assert created['changed'], created
    truth = control.dataset('pgdata')
    assert truth['primary'] == N2 and truth['maximum_size'] == 75 * GIB
    assert truth['metadata'] == {'name': 'pgdata', 'clusterhq:flocker:profile': 'bronze'}
    assert control.state(truth['dataset_id'])['primary'] == N2

    again = run('flocker_volume', **args)
    assert again['changed'] is False and again['actions'] == [], again
    assert [d['dataset_id'] for d in control.get('/v1/configuration/datasets')] == [truth['dataset_id']]


def test_move_by_host_name_with_diff(control):
    before = control.dataset('pgdata')
    planned = run('flocker_volume', check=True, **control.params(name='pgdata', primary='localhost'))
    assert planned['changed'] and control.dataset('pgdata')['primary'] == N2

    moved = run('flocker_volume', diff=True, **control.params(name='pgdata', primary='localhost', wait=True))
    assert moved['changed'] and moved['diff']['before']['primary'] == N2 and moved['diff']['after']['primary'] == N1
    truth = control.dataset('pgdata')
    assert truth['dataset_id'] == before['dataset_id'] and truth['primary'] == N1
    assert control.state(truth['dataset_id'])['primary'] == N1


def test_size_and_metadata_differences_refused_unchanged(control):
    before = control.get('/v1/configuration/datasets')
    for extra in (dict(maximum_size='80G'), dict(profile='gold')):
        refused = run('flocker_volume', **control.params(name='pgdata', primary=N1, **extra))
        assert refused['failed'] and 'cannot resize a dataset or edit its metadata' in refused['msg'], refused
    assert control.get('/v1/configuration/datasets') == before


def test_bad_input_refused_before_any_request(control):
    for extra, fragment in ((dict(maximum_size='63M'), 'at least 64 MiB'),
                            (dict(maximum_size='67109000'), 'multiple of 1024'),
                            (dict(primary='nowhere.invalid'), 'no node of the control service is nowhere.invalid'),
                            (dict(dataset_id='123'), 'is not a UUID')):
        args = dict(dict(name='other', primary=N1), **extra)
        refused = run('flocker_volume', **control.params(**args))
        assert refused['failed'] and fragment in refused['msg'], refused
    assert control.dataset('other') is None


def test_lease_held_blocks_a_move_then_released(control):
    dataset_id = control.dataset('pgdata')['dataset_id']
    held = run('flocker_volume', **control.params(name='pgdata', primary=N1, lease='held'))
    assert held['changed'], held
    assert control.lease(dataset_id) == dict(dataset_id=dataset_id, node_uuid=N1, expires=None)
    assert run('flocker_volume', **control.params(name='pgdata', primary=N1, lease='held'))['changed'] is False

    blocked = run('flocker_volume', **control.params(name='pgdata', primary=N2))
    assert blocked['failed'] and 'leased to node %s' % N1 in blocked['msg'], blocked
    assert control.dataset('pgdata')['primary'] == N1

    released = run('flocker_volume', **control.params(name='pgdata', primary=N1, lease='released'))
    assert released['changed'] and control.lease(dataset_id) is None


def test_lease_taken_meanwhile_by_another_node_is_a_clear_409(control):
    dataset_id = control.dataset('pgdata')['dataset_id']
    control.call('POST', '/_standin/before-next-write', {'requests': [
        ['POST', '/v1/configuration/leases', dict(dataset_id=dataset_id, node_uuid=N2, expires=None)]]})
    try:
        taken = run('flocker_volume', **control.params(name='pgdata', primary=N1, lease='held',
                                                       lease_expires=600))
    finally:
        control.call('DELETE', '/v1/configuration/leases/%s' % dataset_id)
    # leases carry no configuration tag: the control service's 409 is what stops it
    assert taken['failed'] and 'leased to another node' in taken['msg'] and taken['status'] == 409, taken


def test_configuration_changed_meanwhile_is_a_clear_412(control):
    before = control.dataset('pgdata')
    control.call('POST', '/_standin/before-next-write', {'requests': [
        ['POST', '/v1/configuration/datasets', dict(primary=N2, metadata={'name': 'intruder'})]]})
    stale = run('flocker_volume', **control.params(name='pgdata', primary=N2))
    assert stale['failed'] and stale['status'] == 412 and 'configuration changed while this task ran' in stale['msg']
    assert control.dataset('pgdata')['primary'] == before['primary']
    assert control.dataset('intruder') is not None


def test_wait_times_out_while_the_agents_do_not_converge(control):
    control.call('POST', '/_standin/agents', {'converging': False})
    try:
        waited = run('flocker_volume', **control.params(name='frozen', primary=N1, wait=True, wait_timeout=2))
    finally:
        control.call('POST', '/_standin/agents', {'converging': True})
    assert waited['failed'] and 'timed out after 2s waiting for the dataset to be attached' in waited['msg'], waited
    assert control.dataset('frozen') is not None


def test_delete_check_mode_then_delete_and_wait_then_no_change(control):
    dataset_id = control.dataset('pgdata')['dataset_id']
    planned = run('flocker_volume', check=True, **control.params(name='pgdata', state='absent'))
    assert planned['changed'] and control.dataset('pgdata') is not None
    deleted = run('flocker_volume', **control.params(name='pgdata', state='absent', wait=True))
    assert deleted['changed'], deleted
    truth = [d for d in control.get('/v1/configuration/datasets') if d['dataset_id'] == dataset_id][0]
    assert truth['deleted'] is True and control.state(dataset_id) is None
    again = run('flocker_volume', **control.params(name='pgdata', state='absent'))
    assert again['changed'] is False, again


def test_modules_run_under_debian_python(control):
    python = '/usr/bin/python3'
    if not os.path.exists(python):
        pytest.skip('no %s here' % python)
    info = module('flocker_info', python=python, **control.params(user='admin'))
    assert info.get('failed') is not True and info['version'] == '1.15.0', info


# -------------------------------------------- the stand-in's API semantics

def test_stand_in_answers_with_the_documented_status_codes(control):
    """The statuses the modules map to messages, as the stand-in gives them
    (a module never sends these requests: it refuses them first)."""
    status, headers, created = control.call('POST', '/v1/configuration/datasets',
                                            dict(primary=N1, maximum_size=64 * 1024 ** 2, metadata={'name': 'codes'}))
    assert status == 201 and 'x-configuration-tag' not in headers
    dataset_id = created['dataset_id']
    assert control.call('POST', '/v1/configuration/datasets', dict(primary=N1, dataset_id=dataset_id.upper()))[0] \
        == 409
    status, _headers, body = control.call('POST', '/v1/configuration/datasets', dict(maximum_size=1024))
    assert status == 400 and body['description'] == "The provided JSON doesn't match the required schema."
    assert len(body['errors']) == 2
    assert control.call('POST', '/v1/configuration/datasets/%s' % N3, dict(primary=N1))[0] == 404
    assert control.call('DELETE', '/v1/configuration/datasets/%s' % dataset_id)[0] == 200
    assert control.call('POST', '/v1/configuration/datasets/%s' % dataset_id, dict(primary=N2))[0] == 405
    _status, headers, _body = control.call('GET', '/v1/configuration/datasets')
    tag = headers['x-configuration-tag']
    assert control.call('POST', '/v1/configuration/datasets', dict(primary=N1),
                        {'X-If-Configuration-Matches': 'stale'})[0] == 412
    assert control.call('POST', '/v1/configuration/datasets', dict(primary=N1),
                        {'X-If-Configuration-Matches': tag})[0] == 201
    assert control.call('DELETE', '/v1/configuration/leases/%s' % dataset_id)[0] == 404
