"""playbooks/upgrade.yml on full hosts: 3 managers + 2 workers of the lab's
host kind (systemd, apt, their own dockerd), with a local APT repository
(tests/integration/upgrade_ground.py): the nodes start on containerd
CONTAINERD_OLD, installed and held before the swarm
forms (as the engine role leaves them with that version pinned).

* A real package upgrade under load: containerd moved to CONTAINERD_NEW on
  every node while a client task on the service's overlay network sends
  requests to a 3-replica dnsrr service (one retry on the next address);
  0 failed requests, a majority of the managers' engines up at every poll,
  a leader named at the end; dpkg's truth on every node (new version,
  held); every node Ready, active, reachable (managers), no upgrade label
  left; the leader last.
* A re-run skips every node (changed=0, no node updated: the nodes'
  versions in the Raft store are unchanged), and prints no join token with
  -vvv.
* A fault mid-upgrade, with a daemon.json change that needs a restart (the
  second case): one manager's dockerd cannot start with its settings; the
  play stops at that node, the managers before it carry the change, those
  after it are untouched, quorum holds and the service keeps answering.
  Repaired in the inventory, the re-run skips the node already done and
  finishes the rest (workers two at a time, the manager that is up through
  the demote -> maintain -> promote flow); every running engine has the
  new setting.

One module-scoped lab; the numbers are printed (pytest -s) and kept in
build/upgrade-proof.json."""

import json
import os
import subprocess

import pytest
import yaml

from ansible_run import BIN, ENV, ROOT, changed_count
import upgrade_ground as ground

UPGRADE = os.path.join(ROOT, 'playbooks', 'upgrade.yml')
PROOF = os.path.join(ROOT, 'build', 'upgrade-proof.json')
LABEL = 'nativeswarm.test.upgrade=2'
BASE_OPTIONS = {'storage-driver': 'overlay2'}   # what the lab's nodes have in daemon.json

pytestmark = pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)

NUMBERS = {}


def run(inventories, extra_vars, verbose=False):
    """upgrade.yml with the lab's inventory and ours; (rc, json output, raw text)."""
    cmd = [os.path.join(BIN, 'ansible-playbook'), UPGRADE]
    for inventory in inventories:
        cmd += ['-i', inventory]
    cmd += ['-e', json.dumps(extra_vars)]
    if verbose:
        cmd.append('-vvv')
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    text = proc.stdout
    start = text.find('\n{\n') + 1 if verbose else 0
    try:
        return proc.returncode, json.loads(text[start:]), proc.stdout + proc.stderr
    except ValueError:
        raise AssertionError('ansible-playbook gave no JSON (rc %d):\n%s\n%s' % (proc.returncode, text[-5000:], proc.stderr))


def messages(output):
    """Every debug message of the run, in order."""
    found = []
    for play in output['plays']:
        for task in play['tasks']:
            for result in task['hosts'].values():
                msg = result.get('msg')
                if task['task']['name'].startswith('Say') and isinstance(msg, str):
                    found.append(msg)
    return found


def story(output):
    """The run's debug messages, then what each failed task said (for an assertion's message)."""
    failed = ['%s failed %r: %s' % (host, task['task']['name'], result.get('msg'))
              for play in output['plays'] for task in play['tasks']
              for host, result in task['hosts'].items() if result.get('failed')]
    return messages(output)[-10:] + failed


def failed_hosts(output):
    return sorted(h for h, s in output['stats'].items() if s.get('failures') or s.get('unreachable'))


def inventory_file(tmp_path, name, host_options):
    """An inventory that gives each host its engine_daemon_options."""
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        yaml.safe_dump({'all': {'hosts': dict((h, {'engine_daemon_options': o}) for h, o in host_options.items())}}, f)
    return path


def cluster(lab):
    api = lab.client('manager1').api
    return dict((n['Description']['Hostname'], n) for n in api.nodes())


def assert_healthy(lab):
    nodes = cluster(lab)
    assert sorted(nodes) == sorted(lab.names())
    for name, n in nodes.items():
        assert n['Status']['State'] == 'ready', (name, n['Status'])
        assert n['Spec']['Availability'] == 'active', (name, n['Spec'])
        assert not [k for k in n['Spec'].get('Labels') or {} if k.startswith('nativeswarm.upgrade.')], n['Spec']
        if name.startswith('manager'):
            assert n['ManagerStatus']['Reachability'] == 'reachable', (name, n['ManagerStatus'])
    return nodes


def leader(nodes):
    return [h for h, n in nodes.items() if (n.get('ManagerStatus') or {}).get('Leader')][0]


def order_of(lab, nodes):
    managers = lab.names('swarm_managers')
    lead = leader(nodes)
    return [m for m in managers if m != lead] + [lead] + lab.names('swarm_workers')


@pytest.fixture(scope='module')
def ground_ready(lab_host, tmp_path_factory):
    """The repository on the nodes, containerd CONTAINERD_OLD held, the swarm."""
    reason = ground.fetch_debs()
    if reason:
        pytest.skip(reason)
    ground.install_repo(lab_host)
    tmp = tmp_path_factory.mktemp('upgrade')
    base = inventory_file(tmp, 'base.yml', dict((h, BASE_OPTIONS) for h in lab_host.names()))
    ground.form_swarm(lab_host)
    return {'tmp': tmp, 'base': base}


def test_containerd_upgrade_under_load_loses_no_request(lab_host, ground_ready):
    for name in lab_host.names():
        found, held = ground.versions(lab_host, name)
        assert found['containerd'] == ground.CONTAINERD_OLD and 'containerd' in held, (name, found, held)
    before = assert_healthy(lab_host)
    order = order_of(lab_host, before)
    load = ground.Load(lab_host)
    load.start()
    with ground.ManagerPoll(lab_host) as poll:
        rc, out, _text = run([lab_host.inventory, ground_ready['base']], {'engine_containerd_version': ground.CONTAINERD_NEW})
        result = load.stop(at_least=1000)
    poll_summary = poll.summary()
    NUMBERS['containerd upgrade'] = dict(result, **poll_summary)
    print('\ncontainerd upgrade: %s' % json.dumps(NUMBERS['containerd upgrade']))
    assert rc == 0, story(out)
    assert result['failed'] == 0 and result['total'] >= 1000, result
    assert poll_summary['majority_up_at_every_poll'] and poll_summary['leader_at_end'], poll_summary
    # one node at a time, in the order: the managers, the leader last, then the workers
    progress = [m.split(': ', 1)[0] for m in messages(out) if 'checking the cluster before it' in m]
    assert progress == ['node %d of 5 (%s)' % (i + 1, h) for i, h in enumerate(order)], progress
    for name in lab_host.names():
        found, held = ground.versions(lab_host, name)
        assert found['containerd'] == ground.CONTAINERD_NEW and 'containerd' in held, (name, found, held)
    assert_healthy(lab_host)
    ground.Load(lab_host).wait_running(ground.SERVICE, 3)


def test_rerun_skips_every_node_and_prints_no_token(lab_host, ground_ready):
    before = dict((h, n['Version']['Index']) for h, n in assert_healthy(lab_host).items())
    tokens = lab_host.client('manager1').api.inspect_swarm()['JoinTokens']
    rc, out, text = run([lab_host.inventory, ground_ready['base']], {'engine_containerd_version': ground.CONTAINERD_NEW},
                        verbose=True)
    assert rc == 0 and changed_count(out) == 0, story(out)
    skipped = [m for m in messages(out) if m.startswith('node ') and 'already at the target' in m]
    assert len(skipped) == 5, messages(out)
    after = dict((h, n['Version']['Index']) for h, n in assert_healthy(lab_host).items())
    assert after == before   # no node was drained, nor changed in any way
    assert tokens['Worker'] not in text and tokens['Manager'] not in text


def test_fault_mid_upgrade_stops_keeps_quorum_and_service_then_resumes(lab_host, ground_ready):
    tmp = ground_ready['tmp']
    order = order_of(lab_host, assert_healthy(lab_host))
    faulty = order[1]      # a manager that is not the leader, after another one
    new = dict(BASE_OPTIONS, labels=[LABEL])
    broken = inventory_file(tmp, 'broken.yml', dict((h, dict(new, **{'log-level': 'nonsense'}) if h == faulty else new)
                                                    for h in lab_host.names()))
    load = ground.Load(lab_host)
    load.start()
    with ground.ManagerPoll(lab_host) as poll:
        rc, out, _text = run([lab_host.inventory, ground_ready['base'], broken], {})
        assert rc != 0 and failed_hosts(out) == [faulty], (failed_hosts(out), story(out))
        # stopped at that node: the one before it has the new setting, the ones after it are untouched
        nodes = cluster(lab_host)
        assert ground.node_sh(lab_host, faulty, 'systemctl is-active docker', check=False).strip() != 'active'
        assert 'nonsense' in ground.node_sh(lab_host, faulty, 'cat /etc/docker/daemon.json')
        assert LABEL in lab_host.client(order[0]).info()['Labels']
        for name in order[2:]:
            assert LABEL not in lab_host.client(name).info()['Labels'], name
            assert nodes[name]['Spec']['Availability'] == 'active'
        # quorum and service
        assert nodes[order[2]]['ManagerStatus']['Reachability'] == 'reachable'
        ground.Load(lab_host).wait_running(ground.SERVICE, 3)
        during = load.result()
        assert during['failed'] == 0, during

        repaired = inventory_file(tmp, 'repaired.yml', dict((h, new) for h in lab_host.names()))
        # the repair run takes the managers through the book's demote -> maintain -> promote flow
        rc, again, _text = run([lab_host.inventory, ground_ready['base'], repaired],
                               {'upgrade_worker_serial': 2, 'upgrade_demote_managers': True})
        result = load.stop(at_least=1000)
    poll_summary = poll.summary()
    NUMBERS['fault, then daemon.json change'] = dict(result, **poll_summary)
    print('\nfault + daemon.json change: %s' % json.dumps(NUMBERS['fault, then daemon.json change']))
    os.makedirs(os.path.dirname(PROOF), exist_ok=True)
    ground.write_json(PROOF, NUMBERS)
    assert rc == 0, story(again)
    # the node that failed first (it is down), the one done before it skipped
    assert [m.split(': ')[0] for m in messages(again) if m.startswith('node ') and 'already at the target' in m] == [
        'node 2 of 5 (%s)' % order[0]]
    assert [m.split(': ')[0] for m in messages(again) if 'checking the cluster before it' in m][0] == 'node 1 of 5 (%s)' % faulty
    # the manager that was up went through the demotion (the one that was down cannot be demoted)
    assert [m.split(': ')[0] for m in messages(again) if 'demoting it' in m] == ['node 3 of 5 (%s)' % order[2]], \
        messages(again)
    assert result['failed'] == 0, result
    assert poll_summary['majority_up_at_every_poll'] and poll_summary['leader_at_end'], poll_summary
    assert_healthy(lab_host)
    for name in lab_host.names():
        assert LABEL in lab_host.client(name).info()['Labels'], name
