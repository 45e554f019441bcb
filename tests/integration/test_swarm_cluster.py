"""docker_swarm_cluster on real engines: the whole swarm from one call.

One lab of 3 + 4 bare engines (engine kind) for the whole file; the tests
run in order and each leaves the cluster in the state the next expects.
Every assertion about the cluster reads the engines' own view (/info of
each engine, /nodes and /swarm of a manager, through the Docker SDK), not
only the module's result.
"""

import json
import os
import subprocess

import pytest
import yaml

import ansible_run
from ansible_run import BIN, ENV, ROOT, failed, module, ok, playbook

pytestmark = pytest.mark.lab_shape(managers=3, workers=4)

M1, M2, M3 = 'manager1', 'manager2', 'manager3'
W1, W2, W3, W4 = 'worker1', 'worker2', 'worker3', 'worker4'


class Lab(ansible_run.LabEngines):
    def truth(self, via=M1):
        """{hostname: node} of the nodes a manager lists."""
        return dict((n['Description']['Hostname'], n) for n in self.api(via).nodes())

    def managers(self, via=M1):
        return sorted(h for h, n in self.truth(via).items() if n['Spec']['Role'] == 'manager')

    def reachable(self, via=M1):
        return sorted(h for h, n in self.truth(via).items()
                      if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable')

    def listing(self, managers, workers=(), **per_node):
        """Module arguments listing these lab nodes, each through its own socket."""
        def entry(name):
            return dict(dict(name=name, docker_host=self.host(name)), **per_node.get(name, {}))
        return dict(managers=[entry(n) for n in managers], workers=[entry(n) for n in workers])

    def converge(self, managers, workers=(), check=False, diff=False, per_node=None, **args):
        args.update(self.listing(managers, workers, **(per_node or {})))
        return module('docker_swarm_cluster', check=check, diff=diff, **args)

    def reset(self, names=None):
        """Make engines bare again (swarm leave --force on each)."""
        for name in names or sorted(self.nodes):
            if self.local(name)['LocalNodeState'] != 'inactive':
                self.api(name).leave_swarm(force=True)
            self.wait('%s is bare' % name, lambda n=name: self.local(n)['LocalNodeState'] == 'inactive')

    def states(self):
        return dict((name, self.local(name)['LocalNodeState']) for name in sorted(self.nodes))


@pytest.fixture(scope='module')
def cl(lab):
    return Lab(lab)


FIRST = dict(managers=(M1, M2, M3), workers=(W1, W2),
             per_node={M1: {'availability': 'drain'}, W1: {'labels': {'zone': 'a', 'rack': 7}}},
             snapshot_interval=5000)


def test_check_mode_on_bare_engines_changes_nothing(cl):
    result = ok(cl.converge(check=True, diff=True, **FIRST))
    assert result['changed']
    assert result['actions'] == ['manager1: init', 'manager2: join as manager', 'manager3: join as manager',
                                 'worker1: join as worker', 'worker2: join as worker', 'worker1: update']
    assert result['diff']['after']['nodes'][W1] == dict(membership='member', role='worker', availability='active',
                                                        labels={'zone': 'a', 'rack': '7'})
    assert result['diff']['before']['nodes'][M1]['membership'] == 'absent'
    assert set(cl.states().values()) == {'inactive'}


def test_a_3_plus_2_swarm_in_one_call_from_bare_engines(cl):
    result = ok(cl.converge(debug=True, **FIRST))
    assert result['changed'] and result['actions'][0] == 'manager1: init'
    truth = cl.truth()
    assert sorted(truth) == [M1, M2, M3, W1, W2]
    assert all(n['Status']['State'] == 'ready' for n in truth.values())
    assert cl.managers() == cl.reachable() == [M1, M2, M3]
    assert truth[M1]['Spec']['Availability'] == 'drain'
    assert truth[M2]['Spec']['Availability'] == 'active'
    assert truth[W1]['Spec']['Labels'] == {'zone': 'a', 'rack': '7'}
    assert truth[W2]['Spec']['Role'] == 'worker'
    assert cl.api(M1).inspect_swarm()['Spec']['Raft']['SnapshotInterval'] == 5000
    for name in (M1, M2, M3, W1, W2):
        local = cl.local(name)
        assert local['LocalNodeState'] == 'active'
        assert local['ControlAvailable'] == (name in (M1, M2, M3))
    assert set(cl.states()[n] for n in (W3, W4)) == {'inactive'}
    # the result's table is the engines' table
    assert sorted((n['hostname'], n['role'], n['availability']) for n in result['nodes']) == sorted(
        (h, n['Spec']['Role'], n['Spec']['Availability']) for h, n in truth.items())
    assert (result['managers'], result['reachable_managers'], result['quorum'], result['fault_tolerance']) == \
        (3, 3, 2, 1)
    # the managers joined one at a time: each was reachable (asked of manager1) before the next joined
    calls = result['api_calls']
    for name in (M2, M3):
        join = calls.index('%s: POST /swarm/join' % name)
        node_id = cl.local(name)['NodeID']
        assert '%s: GET /nodes/%s' % (M1, node_id) in calls[join:]
    assert calls.index('manager3: POST /swarm/join') > max(i for i, c in enumerate(calls)
                                                           if c.startswith('manager1: GET /nodes/%s'
                                                                           % cl.local(M2)['NodeID']))


def test_again_changes_nothing_with_the_fewest_requests(cl):
    result = ok(cl.converge(debug=True, **FIRST))
    assert not result['changed'] and result['actions'] == []
    requests = [c for c in result['api_calls'] if not c.endswith('GET /version')]
    assert sorted(requests) == sorted(['%s: GET /info' % n for n in (M1, M2, M3, W1, W2)]
                                      + ['manager1: GET /nodes', 'manager1: GET /swarm'])
    assert not ok(cl.converge(check=True, **FIRST))['changed']


def verbose_run(cl, args):
    """The module at -vvv with the default output, as a user sees it."""
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{
        'name': 'Converge', 'nativeswarm.cluster.docker_swarm_cluster': args}]}]
    env = dict(ENV, ANSIBLE_STDOUT_CALLBACK='default')
    path = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'cluster-vvv-%d.yml' % os.getpid())
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    try:
        return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-vvv', '-i', 'localhost,', '-c', 'local',
                               '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'), path],
                              env=env, capture_output=True, text=True, check=False)
    finally:
        os.remove(path)


def test_adding_workers_shows_no_token_even_at_vvv(cl):
    tokens = cl.api(M1).inspect_swarm()['JoinTokens']
    args = cl.listing((M1, M2, M3), (W1, W2, W3, W4), **{W3: {'labels': {'zone': 'b'}}, W4: {'availability': 'pause'}})
    proc = verbose_run(cl, args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert 'worker3: join as worker' in output and 'worker4: join as worker' in output
    for token in tokens.values():
        assert token not in output
    assert 'SWMTKN-' not in output
    truth = cl.truth()
    assert sorted(truth) == [M1, M2, M3, W1, W2, W3, W4]
    assert truth[W3]['Spec']['Labels'] == {'zone': 'b'}
    assert truth[W4]['Spec']['Availability'] == 'pause'
    assert truth[W1]['Spec']['Labels'] == {'zone': 'a', 'rack': '7'}
    assert cl.managers() == [M1, M2, M3]


def test_a_role_change_promotes_before_it_demotes(cl):
    result = ok(cl.converge((M1, M2, W1), (M3, W2, W3, W4), diff=True))
    assert result['actions'] == ['worker1: promote', 'manager3: demote']
    assert result['diff']['before']['nodes'][W1]['role'] == 'worker'
    assert result['diff']['after']['nodes'][M3]['role'] == 'worker'
    assert cl.managers() == cl.reachable() == [M1, M2, W1]
    assert not cl.local(M3)['ControlAvailable'] and cl.local(W1)['ControlAvailable']
    assert cl.truth()[W1]['Spec']['Labels'] == {'zone': 'a', 'rack': '7'}
    assert not ok(cl.converge((M1, M2, W1), (M3, W2, W3, W4)))['changed']


def test_remove_absent_removes_unlisted_nodes_the_safe_way(cl):
    # worker4 left (a down entry stays); worker2 was promoted by hand: 4 managers
    cl.api(W4).leave_swarm(force=False)
    cl.wait('worker4 is down', lambda: cl.truth()[W4]['Status']['State'] == 'down')
    node = cl.api(M1).inspect_node(cl.truth()[W2]['ID'])
    cl.api(M1).update_node(node['ID'], node['Version']['Index'], dict(node['Spec'], Role='manager'))
    cl.wait('worker2 is a reachable manager', lambda: W2 in cl.reachable())
    assert ok(cl.converge((M1, M2, W1), (M3,), check=True, remove_absent=True))['changed']
    assert sorted(cl.truth()) == [M1, M2, M3, W1, W2, W3, W4]
    result = ok(cl.converge((M1, M2, W1), (M3,), remove_absent=True))
    assert result['actions'] == [
        'worker4: remove',
        'worker3: drain', 'worker3: wait_drained', 'worker3: remove',
        'worker2: drain', 'worker2: wait_drained', 'worker2: demote', 'worker2: remove']
    assert sorted(cl.truth()) == [M1, M2, M3, W1]
    assert cl.managers() == cl.reachable() == [M1, M2, W1]
    assert not ok(cl.converge((M1, M2, W1), (M3,), remove_absent=True))['changed']
    cl.reset([W2, W3, W4])


def test_a_listed_engine_that_is_down_is_named_and_nothing_changes(cl):
    cl.lab.stop(W3)
    try:
        result = failed(cl.converge((M1, M2, W1), (M3, W3), per_node={M3: {'labels': {'new': 'label'}}}),
                        'nothing was changed', 'worker3 (%s)' % cl.host(W3))
        assert result['actions'] == [] and not result['changed']
        assert 'new' not in (cl.truth()[M3]['Spec'].get('Labels') or {})
    finally:
        cl.lab.start(W3)
    cl.nodes = dict((n['name'], n) for n in cl.lab.nodes)
    assert cl.local(W3)['LocalNodeState'] == 'inactive'


def test_the_quorum_guard_refuses_a_demotion_with_a_manager_down(cl):
    # worker1 (a manager, not listed here) goes down: demoting manager2 would
    # leave 1 reachable manager of 2
    cl.lab.stop(W1)
    try:
        cl.wait('worker1 is unreachable', lambda: W1 not in cl.reachable())
        failed(cl.converge((M1,), (M2, M3), allow_even_managers=True), 'refusing to remove or demote manager2',
               '2 of 3 managers are reachable', 'quorum')
        assert cl.managers() == [M1, M2, W1]
        assert cl.local(M2)['ControlAvailable']
    finally:
        cl.lab.start(W1)
    cl.wait('all three managers are reachable', lambda: cl.reachable() == [M1, M2, W1])


def test_nodes_of_another_swarm_are_refused(cl):
    # a second swarm: worker4 manages it, worker3 works in it
    cl.api(W4).init_swarm()
    token = cl.api(W4).inspect_swarm()['JoinTokens']['Worker']
    cl.api(W3).join_swarm(remote_addrs=['%s:2377' % cl.nodes[W4]['address']], join_token=token)
    try:
        failed(cl.converge((M1, M2, W1), (M3, W3)), 'worker3 is in another swarm than manager1', 'nothing was changed')
        failed(cl.converge((M1, M2, W1), (M3, W4)), '2 different swarms', 'managers worker4',
               'managers manager1, manager2, worker1', 'nothing was changed')
        assert cl.managers() == [M1, M2, W1] and sorted(cl.truth()) == [M1, M2, M3, W1]
        assert cl.local(W4)['ControlAvailable'] and cl.local(W3)['LocalNodeState'] == 'active'
    finally:
        cl.reset([W3, W4])


def lab_example(task, cl):
    """An EXAMPLES task made to run on the lab: each node through its lab
    socket (the examples' names are the lab's), no TLS files."""
    args = dict(task['nativeswarm.cluster.docker_swarm_cluster'])
    for option in ('validate_certs', 'ca_path', 'client_cert', 'client_key'):
        args.pop(option, None)
    for where in ('managers', 'workers'):
        args[where] = [dict(n, docker_host=cl.host(n['name'])) for n in args.get(where, [])]
    return dict(task, **{'nativeswarm.cluster.docker_swarm_cluster': args})


def test_every_example_runs_on_bare_engines(cl, tmp_path):
    cl.reset()
    source = open(os.path.join(ROOT, 'plugins', 'modules', 'docker_swarm_cluster.py')).read()
    tasks = yaml.safe_load(source.split('EXAMPLES = r"""', 1)[1].split('"""', 1)[0])
    tasks = [lab_example(t, cl) if 'nativeswarm.cluster.docker_swarm_cluster' in t else t for t in tasks]
    play = [{'hosts': 'localhost', 'gather_facts': False,
             'vars': {'ansible_python_interpreter': '{{ ansible_playbook_python }}'}, 'tasks': tasks}]
    path = tmp_path / 'examples.yml'
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    rc, output = playbook(str(path), 'localhost,', extra_vars={'ansible_connection': 'local'})
    results = [(t['task']['name'], h) for t in output['plays'][0]['tasks'] for h in t['hosts'].values()]
    assert rc == 0, [(n, h.get('msg')) for n, h in results if h.get('failed')]
    assert [h.get('changed') for _n, h in results] == [True, False, True]
    assert 'SWMTKN-' not in json.dumps(output)
    # the last example keeps exactly 3 managers and worker1
    truth = cl.truth()
    assert sorted(truth) == [M1, M2, M3, W1]
    assert cl.managers() == cl.reachable() == [M1, M2, M3]
    assert truth[M1]['Spec']['Availability'] == 'drain' and truth[W1]['Spec']['Labels'] == {'zone': 'a'}
    assert cl.api(M1).inspect_swarm()['Spec']['Dispatcher']['HeartbeatPeriod'] == 5 * 10 ** 9
