# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_swarm_cluster's argument handling and its run through main().

The argument spec agrees with DOCUMENTATION; bad input ends in a clean
failure before any engine is contacted; per-node connections take the
module's values as defaults. Runs go against a small in-memory imitation
of the Engine API (docker.APIClient replaced), which is enough to check
what is asked of which engine, in which order, and that join tokens never
show up in a result or message. Real engines: tests/integration."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nativeswarm.cluster.plugins.module_utils import _client
from ansible_collections.nativeswarm.cluster.plugins.modules import docker_swarm_cluster
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules import documented
from ansible_collections.nativeswarm.cluster.tests.unit.plugins.modules.documented import documented_options, view

from docker.errors import APIError
from requests.exceptions import ConnectionError as RequestsConnectionError


# ============================================================== the argument spec

def module_spec(monkeypatch):
    return documented.module_spec(monkeypatch, docker_swarm_cluster)


def test_argument_spec_matches_documentation(monkeypatch):
    spec, _kwargs = module_spec(monkeypatch)
    documented, actual = view(documented_options(docker_swarm_cluster)), view(spec, 'options')
    assert sorted(actual) == sorted(documented)
    for option in documented:
        assert actual[option] == documented[option], option


def test_node_connection_options_are_the_shared_ones_without_defaults(monkeypatch):
    spec, _kwargs = module_spec(monkeypatch)
    for where in ('managers', 'workers'):
        node = spec[where]['options']
        for option, shared in _client.CONNECTION_SUBOPTIONS.items():
            assert node[option]['type'] == shared['type'] and 'default' not in node[option], option
            assert node[option].get('aliases') == shared.get('aliases'), option
        assert node['use_ssh_client'] == dict(type='bool')


def test_check_mode_and_no_secret_options(monkeypatch):
    spec, kwargs = module_spec(monkeypatch)
    assert kwargs.get('supports_check_mode') is True
    # the only secret it takes is the signing CA's key; the join tokens it reads are kept out of results
    assert [o for o, opt in spec.items() if opt.get('no_log')] == ['signing_ca_key']


def test_every_example_uses_only_documented_options():
    doc = yaml.safe_load(docker_swarm_cluster.DOCUMENTATION)
    options = set(documented_options(docker_swarm_cluster))
    node_options = set(doc['options']['managers']['suboptions'])
    tasks = [t for t in yaml.safe_load(docker_swarm_cluster.EXAMPLES)
             if 'nativeswarm.cluster.docker_swarm_cluster' in t]
    assert len(tasks) == 2
    for task in tasks:
        args = task['nativeswarm.cluster.docker_swarm_cluster']
        assert set(args) <= options
        for node in args['managers'] + args.get('workers', []):
            assert set(node) <= node_options


# ============================================================== an imitation of the Engine API

TOKENS = {'Worker': 'SWMTKN-1-digestdigestdigest-workersecretworkersecret',
          'Manager': 'SWMTKN-1-digestdigestdigest-managersecretmanagersecret'}


class Response:
    def __init__(self, status, body):
        self.status_code = status
        self.body = body
        self.content = json.dumps(body).encode() if body is not None else b''
        self.text = self.content.decode()

    def json(self):
        return self.body


class World:
    """Engines by URL and at most one swarm."""

    def __init__(self):
        self.engines = {}
        self.swarm = None
        self.down = set()
        self.log = []
        self.join_error = None
        self.leaderless = False
        # engines whose join API gives up (its own 20 s) while the join completes in the background
        self.joins_late = set()

    def engine(self, url, name):
        self.engines[url] = dict(name=name, state='inactive', node_id='', manager=False, availability=None)

    def nodes(self):
        result = []
        for url, engine in sorted(self.engines.items()):
            if engine['state'] != 'active':
                continue
            node = dict(ID=engine['node_id'], Version=dict(Index=engine.setdefault('version', 1)),
                        Spec=dict(Role='manager' if engine['manager'] else 'worker',
                                  Availability=engine['availability'] or 'active',
                                  Labels=engine.setdefault('labels', {})),
                        Description=dict(Hostname=engine['name']), Status=dict(State='ready', Addr='10.0.0.1'))
            if engine['manager']:
                node['ManagerStatus'] = dict(Reachability='reachable', Addr='%s:2377' % engine['name'],
                                             Leader=engine.get('leader', False))
            result.append(node)
        return result

    def by_node(self, node_id):
        return [e for e in self.engines.values() if e['node_id'] == node_id][0]

    def handle(self, url, method, path, params, body):
        engine = self.engines[url]
        self.log.append((engine['name'], method, path))
        if path == '/version':
            return 200, {'ApiVersion': '1.45'}
        if path == '/info':
            if engine.get('completes'):  # a join going on in the background: read pending once, then done
                if engine.pop('seen_pending', False):
                    engine.update(engine.pop('completes'))
                else:
                    engine['seen_pending'] = True
            swarm = dict(LocalNodeState=engine['state'], NodeID=engine['node_id'], ControlAvailable=engine['manager'],
                         Error='', RemoteManagers=[dict(NodeID='x', Addr='%s:2377' % e['name'])
                                                   for e in self.engines.values() if e['manager']])
            if engine['manager']:
                swarm['Cluster'] = dict(ID='cluster1')
            return 200, dict(ID='engine-' + engine['name'], Name=engine['name'], Swarm=swarm)
        if path == '/swarm/init':
            self.swarm = dict(ID='cluster1', Version=dict(Index=1), Spec=body['Spec'], JoinTokens=dict(TOKENS))
            engine.update(state='active', node_id='node-' + engine['name'], manager=True, leader=True,
                          availability=body.get('Availability'))
            return 200, 'node-' + engine['name']
        if path == '/swarm/join':
            role = [r for r, t in TOKENS.items() if t == body['JoinToken']]
            if self.join_error:
                return 500, {'message': self.join_error % body['JoinToken']}
            if not role:
                return 400, {'message': 'invalid join token'}
            done = dict(state='active', node_id='node-' + engine['name'], manager=role[0] == 'Manager',
                        availability=body.get('Availability'))
            if engine['name'] in self.joins_late:
                engine.update(state='pending', completes=done)
                return 503, {'message': 'Timeout was reached before node joined. The attempt to join the swarm '
                                        'will continue in the background.'}
            engine.update(done)
            return 200, None
        if path == '/swarm' and method == 'get':
            return (200, self.swarm) if engine['manager'] else (503, {'message': 'not a manager'})
        if path == '/swarm/update':
            self.swarm['Spec'] = body
            self.swarm['Version']['Index'] += 1
            return 200, None
        if self.leaderless and (path.startswith('/nodes') or path.startswith('/swarm')):
            return 503, {'message': 'rpc error: code = Unknown desc = The swarm does not have a leader. '
                                    "It's possible that too few managers are online."}
        if path == '/nodes':
            return 200, self.nodes()
        if path.startswith('/nodes/'):
            node_id = path.split('/')[2]
            target = self.by_node(node_id)
            if method == 'get':
                return 200, [n for n in self.nodes() if n['ID'] == node_id][0]
            if method == 'delete':
                target.update(state='inactive', node_id='', manager=False)
                return 200, None
            if int(params['version']) != target.get('version', 1):
                return 500, {'message': 'update out of sequence'}
            target.update(version=target.get('version', 1) + 1, manager=body['Role'] == 'manager',
                          availability=body['Availability'], labels=body.get('Labels') or {})
            return 200, None
        if path == '/tasks':
            return 200, []
        raise AssertionError('unexpected request %s %s' % (method, path))


WORLD = World()


class FakeAPIClient:
    api_version = '1.45'
    built = []

    def __init__(self, base_url, version, timeout, **kwargs):
        FakeAPIClient.built.append(dict(base_url=base_url, version=version, timeout=timeout, **kwargs))
        self.base_url = base_url

    def _url(self, path):
        return path

    def _call(self, method, path, params=None, body=None):
        if self.base_url in WORLD.down:
            raise RequestsConnectionError('Connection refused')
        status, answer = WORLD.handle(self.base_url, method, path, params or {}, body)
        return Response(status, answer)

    def _get(self, url, params=None):
        return self._call('get', url, params)

    def _delete(self, url, params=None):
        return self._call('delete', url, params)

    def _post_json(self, url, data=None, params=None):
        return self._call('post', url, params, data)

    def _raise_for_status(self, response):
        if response.status_code >= 400:
            raise APIError('error', response=response, explanation=response.body['message'])


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    global WORLD
    WORLD = World()
    for var in ('DOCKER_HOST', 'DOCKER_CERT_PATH', 'DOCKER_TLS', 'DOCKER_TLS_VERIFY', 'DOCKER_TLS_HOSTNAME',
                'DOCKER_API_VERSION', 'DOCKER_TIMEOUT'):
        monkeypatch.delenv(var, raising=False)
    FakeAPIClient.built = []
    monkeypatch.setattr(_client.docker, 'APIClient', FakeAPIClient)
    monkeypatch.setattr(docker_swarm_cluster, 'POLL', 0)

    def exit_json(self, **kwargs):
        kwargs.setdefault('changed', False)
        raise ExitJson(self.remove_values_for_test(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs.update(failed=True, msg=msg)
        raise FailJson(self.remove_values_for_test(kwargs))

    def remove_values_for_test(self, kwargs):
        return basic.remove_values(kwargs, self.no_log_values)

    monkeypatch.setattr(AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(AnsibleModule, 'remove_values_for_test', remove_values_for_test, raising=False)

    def _run(args, check=False):
        args = dict(args)
        if check:
            args['_ansible_check_mode'] = True
        monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args}).encode())
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)  # ansible-core 2.19+
        with pytest.raises((FailJson, ExitJson)) as outcome:
            docker_swarm_cluster.main()
        return outcome.type, outcome.value.args[0]
    return _run


def lab(managers=('m1', 'm2', 'm3'), workers=('w1', 'w2'), **per_node):
    """Register bare engines; return the module arguments listing them."""
    for name in managers + workers:
        WORLD.engine('unix:///run/%s.sock' % name, name)
    return listing(managers, workers, **per_node)


def listing(managers=('m1', 'm2', 'm3'), workers=('w1', 'w2'), **per_node):
    def entry(name):
        return dict(dict(name=name, docker_host='unix:///run/%s.sock' % name), **per_node.get(name, {}))
    return dict(managers=[entry(n) for n in managers], workers=[entry(n) for n in workers], debug=True)


# ============================================================== bad input: a clean failure, no engine contacted

@pytest.mark.parametrize('args, words', [
    ({}, ['missing required arguments: managers']),
    ({'managers': [{'docker_host': 'unix:///x'}]}, ['missing required arguments: name', 'managers']),
    ({'managers': [{'name': 'm1', 'role': 'boss'}]}, ['role', 'Unsupported parameters']),
    ({'managers': [{'name': 'm1', 'availability': 'gone'}]}, ['availability', 'gone']),
    ({'managers': [{'name': 'm1'}], 'max_parallel': 'many'}, ['max_parallel']),
    ({'managers': [], 'workers': [{'name': 'w1'}]}, ['at least one manager']),
    ({'managers': [{'name': 'm1', 'docker_host': 'unix:///a'}], 'workers': [{'name': 'm1', 'docker_host': 'unix:///b'}]},
     ['m1 is listed twice']),
    ({'managers': [{'name': 'm1'}, {'name': 'm2'}, {'name': 'm3'}]},
     ['m1 and m2 have the same docker_host unix:///var/run/docker.sock']),
    ({'managers': [{'name': 'm1', 'docker_host': 'unix:///a'}, {'name': 'm2', 'docker_host': 'unix:///b'}]},
     ['2 managers listed', 'allow_even_managers']),
    ({'managers': [{'name': 'm1', 'labels': {'ssd': True}}]}, ['m1', "label 'ssd'"]),
    ({'managers': [{'name': 'm1', 'docker_host': 'ssh://admin@h1', 'tls': True}]}, ['m1', 'ssh://', 'TLS']),
    ({'managers': [{'name': 'm1'}], 'snapshot_interval': -3}, ['snapshot_interval must be 0 or more, not -3']),
])
def test_bad_input_fails_cleanly_before_any_engine_is_built(run, args, words):
    kind, result = run(args)
    assert kind is FailJson, result
    for word in words:
        assert word in result['msg'], result['msg']
    assert FakeAPIClient.built == []


@pytest.mark.parametrize('has_paramiko', [False, True])
def test_ssh_engines_need_paramiko_said_before_anything_is_contacted(run, monkeypatch, has_paramiko):
    monkeypatch.setattr(docker_swarm_cluster, 'load_ssh_transport', lambda: object() if has_paramiko else None)
    args = lab(managers=('m1',), workers=('w1',))
    args['workers'][0].update(docker_host='ssh://admin@192.0.2.7', use_ssh_client=True)
    WORLD.engine('ssh://admin@192.0.2.7', 'w1')
    kind, result = run(args, check=True)
    if has_paramiko:
        assert kind is ExitJson, result
        assert dict(base_url='ssh://admin@192.0.2.7', version='auto', timeout=60,
                    use_ssh_client=True) in FakeAPIClient.built
    else:
        assert kind is FailJson
        assert result['msg'].startswith('w1: the Docker SDK for Python reaches ssh:// engines only with')
        assert 'paramiko' in result['msg'] and FakeAPIClient.built == []


def test_a_bad_tls_file_names_the_node_and_nothing_is_contacted(run, tmp_path):
    missing = str(tmp_path / 'ca.pem')
    args = lab()
    args['workers'][1].update(validate_certs=True, ca_path=missing)
    kind, result = run(args)
    assert kind is FailJson
    assert result['msg'] == 'w2: ca_path: no such file %s' % missing
    assert FakeAPIClient.built == []


def test_nodes_take_the_module_connection_values_as_defaults(run, tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('-----BEGIN CERTIFICATE-----\n')
    args = lab(managers=('m1',), workers=('w1',))
    args.update(timeout=7, api_version='1.44', use_ssh_client=True)
    args['workers'][0].update(timeout=9, use_ssh_client=False)
    kind, result = run(args, check=True)
    assert kind is ExitJson, result
    built = dict((b['base_url'], b) for b in FakeAPIClient.built)
    assert built['unix:///run/m1.sock'] == dict(base_url='unix:///run/m1.sock', version='1.44', timeout=7,
                                                use_ssh_client=True)
    assert built['unix:///run/w1.sock'] == dict(base_url='unix:///run/w1.sock', version='1.44', timeout=9)


# ============================================================== runs

def calls(result, name=None):
    return [c.split(': ', 1)[1] if name else c for c in result['api_calls'] if name is None or c.startswith(name + ':')]


def test_check_mode_on_bare_engines_plans_everything_and_changes_nothing(run):
    kind, result = run(lab(w1={'labels': {'zone': 'a'}}), check=True)
    assert kind is ExitJson and result['changed']
    assert result['actions'] == ['m1: init', 'm2: join as manager', 'm3: join as manager', 'w1: join as worker',
                                 'w2: join as worker', 'w1: update']
    assert result['diff']['after']['nodes']['w1']['labels'] == {'zone': 'a'}
    assert all(e['state'] == 'inactive' for e in WORLD.engines.values())
    assert set(c for c in result['api_calls']) == set('%s: %s' % (n, c) for n in ('m1', 'm2', 'm3', 'w1', 'w2')
                                                      for c in ('GET /version', 'GET /info'))
    assert result['nodes'] == [] and result['managers'] == 0


def test_a_fresh_cluster_then_a_run_that_changes_nothing_with_the_fewest_calls(run):
    args = lab(m1={'availability': 'drain'}, w1={'labels': {'zone': 'a'}})
    args['snapshot_interval'] = 5000
    kind, result = run(args)
    assert kind is ExitJson, result
    assert result['actions'] == ['m1: init', 'm2: join as manager', 'm3: join as manager', 'w1: join as worker',
                                 'w2: join as worker', 'w1: update']
    assert WORLD.swarm['Spec']['Raft']['SnapshotInterval'] == 5000
    assert [(n['hostname'], n['role'], n['availability'], n['labels']) for n in result['nodes']] == [
        ('m1', 'manager', 'drain', {}), ('m2', 'manager', 'active', {}), ('m3', 'manager', 'active', {}),
        ('w1', 'worker', 'active', {'zone': 'a'}), ('w2', 'worker', 'active', {})]
    assert (result['managers'], result['quorum'], result['fault_tolerance']) == (3, 2, 1)
    # manager joins went to the engines one by one, each followed by the reachability check
    joins = [(n, p) for n, m, p in WORLD.log if p in ('/swarm/join', '/swarm/init')]
    assert joins[:3] == [('m1', '/swarm/init'), ('m2', '/swarm/join'), ('m3', '/swarm/join')]

    WORLD.log = []
    kind, again = run(args)
    assert kind is ExitJson and not again['changed'] and again['actions'] == []
    assert sorted(calls(again)) == sorted(['%s: %s' % (n, c) for n in ('m1', 'm2', 'm3', 'w1', 'w2')
                                           for c in ('GET /version', 'GET /info')] + ['m1: GET /nodes',
                                                                                      'm1: GET /swarm'])
    args.pop('snapshot_interval')
    kind, again = run(args)
    assert 'm1: GET /swarm' not in again['api_calls'] and 'm1: GET /nodes' in again['api_calls']


def test_an_engine_that_does_not_answer_is_named_and_nothing_changes(run):
    args = lab()
    WORLD.down.add('unix:///run/w2.sock')
    kind, result = run(args)
    assert kind is FailJson
    assert result['msg'].startswith('not every listed engine answered, so nothing was changed: '
                                    'w2 (unix:///run/w2.sock): cannot reach the Docker engine at unix:///run/w2.sock')
    assert result['actions'] == [] and not result['changed']
    assert all(e['state'] == 'inactive' for e in WORLD.engines.values())


def test_a_failed_join_says_what_was_done_and_never_shows_a_token(run):
    args = lab()
    WORLD.join_error = 'could not join with %s: connection reset'
    kind, result = run(args)
    assert kind is FailJson
    assert result['msg'].startswith('m2: join as manager failed: POST /swarm/join on unix:///run/m2.sock')
    assert 'done before: m1: init' in result['msg']
    assert result['actions'] == ['m1: init'] and result['changed']
    text = json.dumps(result)
    assert not any(token in text for token in TOKENS.values())


def test_joins_the_engines_complete_in_the_background_are_waited_for(run):
    WORLD.joins_late = {'m2', 'w1'}
    kind, result = run(lab())
    assert kind is ExitJson, result
    assert sorted(e['name'] for e in WORLD.engines.values() if e['state'] == 'active') == ['m1', 'm2', 'm3', 'w1', 'w2']
    assert [e['manager'] for e in WORLD.engines.values() if e['name'] == 'm2'] == [True]


def test_tokens_never_appear_in_a_result(run):
    kind, result = run(lab())
    assert kind is ExitJson
    text = json.dumps(result)
    assert 'SWMTKN' not in text


def test_a_stale_node_version_is_retried(run):
    kind, result = run(lab())
    original = WORLD.handle
    bumped = []

    def racing(url, method, path, params, body):
        if method == 'post' and path.endswith('/update') and not bumped:
            target = WORLD.by_node(path.split('/')[2])
            target['version'] = target.get('version', 1) + 1  # its status settled meanwhile
            bumped.append(path)
        return original(url, method, path, params, body)
    WORLD.handle = racing
    kind, result = run(listing(w1={'labels': {'zone': 'b'}}))
    assert kind is ExitJson, result
    assert result['actions'] == ['w1: update'] and bumped
    assert WORLD.by_node('node-w1')['labels'] == {'zone': 'b'}


def test_a_swarm_without_a_leader_is_said_so_and_nothing_changes(run, monkeypatch):
    kind, result = run(lab(workers=('w1',)))
    WORLD.engine('unix:///run/w2.sock', 'w2')
    WORLD.leaderless = True
    original = docker_swarm_cluster.nodes_unless_leaderless
    monkeypatch.setattr(docker_swarm_cluster, 'nodes_unless_leaderless', lambda engine: original(engine, grace=0))
    kind, result = run(listing())
    assert kind is FailJson
    assert result['msg'].startswith('m1: quorum lost: the swarm has no leader')
    assert result['msg'].endswith('nothing was changed')
    assert WORLD.engines['unix:///run/w2.sock']['state'] == 'inactive'
