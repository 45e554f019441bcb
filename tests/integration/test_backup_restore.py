"""Raft backup, disaster recovery and the recovery of one broken manager, on
full hosts (systemd, the engines really stopped and started): 3 managers + 1
worker of the lab's host kind, one lab for the whole module, the tests in
order. The swarm holds a service using a secret, a config and an overlay
network, labels on every node.

backup.yml refuses at fault tolerance 0 and changes nothing; a backup from a
non-leader manager; then the disaster: every manager's engine stopped, two of
them lose their swarm directory, the third keeps its (stale) one; restore.yml
onto the backed-up host, site.yml for the other managers; everything is
compared with before through the Engine API: cluster ID, services (IDs and
specs), secrets, configs, overlay networks, labels, the worker's node ID.
recover_manager.yml then brings back a manager whose Raft log was destroyed.
No join token appears in the -vvv output of any of these playbooks."""

import json
import os
import subprocess

import pytest

from ansible_run import BIN, ENV, ROOT
from labkit import wait_for

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
MANAGERS = ['manager1', 'manager2', 'manager3']

pytestmark = pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 1}], indirect=True)


def run(name, lab, *extra, verbose=True):
    """ansible-playbook [-vvv] playbooks/<name> on the lab; (rc, whole output)."""
    cmd = [os.path.join(BIN, 'ansible-playbook')] + (['-vvv'] if verbose else []) + [
        os.path.join(PLAYBOOKS, name), '-i', lab.inventory,
        '-e', json.dumps(dict({'swarm_form_from_controller': False}, **dict(extra)))]
    env = dict(ENV, ANSIBLE_STDOUT_CALLBACK='default')
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def on_nodes(lab, names, script):
    """Run a shell script on several nodes at once; their outputs."""
    procs = [subprocess.Popen(['docker', '-H', lab.base_url, 'exec', lab.container(node), 'sh', '-c', script],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for node in names]
    outs = [p.communicate()[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return outs


def on_node(lab, node, script):
    return on_nodes(lab, [node], script)[0]


def api(lab, node):
    return lab.client(node).api


def nodes(lab, via):
    return dict((n['Description']['Hostname'], n) for n in api(lab, via).nodes())


def reachable(lab, via):
    return sorted(h for h, n in nodes(lab, via).items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable' and n['Status']['State'] == 'ready')


def leader(lab, via):
    return [h for h, n in nodes(lab, via).items() if (n.get('ManagerStatus') or {}).get('Leader')][0]


def secrets_in(text, lab, via):
    tokens = api(lab, via).inspect_swarm()['JoinTokens']
    return [s for s in ('SWMTKN-', 'SWMKEY-', tokens['Worker'], tokens['Manager']) if s in text]


def everything(lab, via, labelled):
    """The swarm as the engine has it: what a restore must give back."""
    c = api(lab, via)
    all_nodes = nodes(lab, via)
    return dict(
        cluster_id=c.inspect_swarm()['ID'],
        services=sorted((s['ID'], json.dumps(s['Spec'], sort_keys=True)) for s in c.services()),
        secrets=sorted((s['ID'], json.dumps(s['Spec'], sort_keys=True)) for s in c.secrets()),
        configs=sorted((s['ID'], json.dumps(s['Spec'], sort_keys=True)) for s in c.configs()),
        networks=sorted((n['Id'], n['Name'], n['Driver'], json.dumps(n.get('Labels'), sort_keys=True))
                        for n in c.networks() if n.get('Scope') == 'swarm'),
        labels=dict((h, all_nodes[h]['Spec'].get('Labels') or {}) for h in labelled),
        worker=all_nodes['worker1']['ID'])


def running(lab, via, service_id):
    return len([t for t in api(lab, via).tasks({'service': service_id}) if t['Status']['State'] == 'running'])


@pytest.fixture(scope='module')
def formed(lab_host):
    """The swarm formed by site.yml, with a service that uses a secret, a
    config and an overlay network, and labels on every node."""
    rc, out = run('site.yml', lab_host, verbose=False)
    assert rc == 0, out[-3000:]
    import docker  # pylint: disable=import-outside-toplevel
    client = lab_host.client('manager1')
    secret = client.secrets.create(name='db-password', data=b'not-in-any-output', labels={'app': 'web'})
    config = client.configs.create(name='web-conf', data=b'listen 80\n', labels={'app': 'web'})
    client.networks.create('backend', driver='overlay', attachable=True, labels={'tier': 'back'})
    service = client.services.create(
        lab_host.test_image, name='web', networks=['backend'], mode=docker.types.ServiceMode('replicated', replicas=2),
        secrets=[docker.types.SecretReference(secret.id, 'db-password')],
        configs=[docker.types.ConfigReference(config.id, 'web-conf')], labels={'app': 'web'})
    for name, labels in [('worker1', {'zone': 'a', 'disk': 'ssd'})] + [(m, {'name': m}) for m in MANAGERS]:
        node = client.nodes.get(name)
        node.update(dict(node.attrs['Spec'], Labels=labels))
    wait_for('web runs 2 tasks', lambda: running(lab_host, 'manager1', service.id) == 2, timeout=60)
    return dict(service=service.id, dest=None)


@pytest.fixture
def swarm(lab_host, formed):
    """That swarm healthy again before each test: an earlier test stopped a
    manager's engine, and the playbooks refuse to act on a swarm whose
    service has not yet restarted the task that ran there (the health gate)."""
    via = formed.get('host', 'manager1')
    wait_for('every manager reachable', lambda: reachable(lab_host, via) == MANAGERS, timeout=120)
    wait_for('web runs 2 tasks', lambda: running(lab_host, via, formed['service']) == 2, timeout=120)
    return formed


def test_backup_refuses_when_the_swarm_cannot_lose_a_manager(lab_host, swarm, tmp_path):
    on_node(lab_host, 'manager3', 'systemctl stop docker.socket docker.service')
    try:
        wait_for('manager3 unreachable', lambda: 'manager3' not in reachable(lab_host, 'manager1'), timeout=60)
        rc, out = run('backup.yml', lab_host, ('backup_dest', str(tmp_path / 'b')))
        assert rc != 0
        assert 'quorum at risk: fault tolerance 0 (2 of 3 managers reachable' in out, out[-3000:]
        assert 'backup_allow_quorum_loss=true' in out
        assert not (tmp_path / 'b').exists()
        assert reachable(lab_host, 'manager1') == ['manager1', 'manager2']  # nobody else was stopped
    finally:
        on_node(lab_host, 'manager3', 'systemctl start docker.service docker.socket')
    wait_for('manager3 back', lambda: reachable(lab_host, 'manager1') == MANAGERS, timeout=90)


def test_a_failed_archive_still_starts_the_engine_again(lab_host, swarm, tmp_path):
    started = dict((m, api(lab_host, m).info()['Swarm']['NodeID']) for m in MANAGERS)
    rc, out = run('backup.yml', lab_host, ('backup_dest', str(tmp_path / 'f')),
                  ('backup_swarm_dir', '/var/lib/docker/no-such-swarm'))
    assert rc != 0
    assert 'The backup failed:' in out and 'engine was started again; it is a reachable manager again' in out, out[-3000:]
    assert not list((tmp_path / 'f').iterdir())
    assert reachable(lab_host, 'manager1') == MANAGERS
    assert dict((m, api(lab_host, m).info()['Swarm']['NodeID']) for m in MANAGERS) == started


def test_backup_disaster_restore_loses_nothing(lab_host, swarm, tmp_path):
    lead = leader(lab_host, 'manager1')
    dest = tmp_path / 'backups'
    rc, out = run('backup.yml', lab_host, ('backup_dest', str(dest)))
    assert rc == 0, out[-4000:]
    assert not secrets_in(out, lab_host, 'manager1')
    archives = sorted(p.name for p in dest.iterdir())
    assert len(archives) == 2 and archives[1] == archives[0] + '.json', archives
    archive = dest / archives[0]
    manifest = json.loads((dest / archives[1]).read_text())
    host = manifest['host']
    assert host in MANAGERS and host != lead, (host, lead)   # a follower was backed up
    assert archive.name.startswith('swarm-%s-' % host) and archive.name.endswith('Z.tar.gz')
    assert oct(archive.stat().st_mode & 0o777) == '0o600' and oct(dest.stat().st_mode & 0o777) == '0o700'
    assert reachable(lab_host, lead) == MANAGERS  # back after its backup

    # the restored manager keeps its node identity, and with it its labels; the others rejoin as new nodes
    before = everything(lab_host, lead, ['worker1', host])
    assert manifest['cluster_id'] == before['cluster_id']

    # the disaster: every manager stopped; two lose their swarm directory, the third keeps a stale one
    others = [m for m in MANAGERS if m != host]
    on_nodes(lab_host, MANAGERS, 'systemctl stop docker.socket docker.service')
    on_nodes(lab_host, [host, others[0]], 'rm -rf /var/lib/docker/swarm && systemctl start docker.service docker.socket')
    assert 'raft' in on_node(lab_host, others[1], 'ls /var/lib/docker/swarm')

    rc, out = run('restore.yml', lab_host, ('restore_archive', str(archive)))
    assert rc == 0, out[-4000:]
    assert not secrets_in(out, lab_host, host)
    # the stale manager's state was removed: it is in no swarm, its engine runs
    assert api(lab_host, others[1]).info()['Swarm']['LocalNodeState'] == 'inactive'
    assert sorted(nodes(lab_host, host)) == sorted([host, 'worker1'])   # the old managers' entries are gone

    rc, out = run('site.yml', lab_host)
    assert rc == 0, out[-4000:]
    assert not secrets_in(out, lab_host, host)
    wait_for('3 reachable managers', lambda: reachable(lab_host, host) == MANAGERS, timeout=90)
    after = everything(lab_host, host, ['worker1', host])
    assert after == before
    assert after['labels'][host] == {'name': host}
    assert sorted(nodes(lab_host, host)) == MANAGERS + ['worker1']
    wait_for('web runs 2 tasks again', lambda: running(lab_host, host, swarm['service']) == 2, timeout=90)
    swarm['host'] = host


def test_recover_one_broken_manager(lab_host, swarm):
    via = swarm.get('host', 'manager1')
    broken = [m for m in MANAGERS if m != via][0]
    old_id = nodes(lab_host, via)[broken]['ID']
    client = lab_host.client(via)
    node = client.nodes.get(old_id)
    node.update(dict(node.attrs['Spec'], Labels={'rack': '7'}))
    # its Raft log destroyed: the engine cannot come back as a manager of this swarm
    on_node(lab_host, broken, 'systemctl stop docker.socket docker.service && rm -rf /var/lib/docker/swarm/raft')
    rc, out = run('recover_manager.yml', lab_host, ('node', broken))
    assert rc == 0, out[-4000:]
    assert not secrets_in(out, lab_host, via)
    now = nodes(lab_host, via)
    assert sorted(now) == MANAGERS + ['worker1']
    assert now[broken]['ID'] != old_id and old_id not in [n['ID'] for n in api(lab_host, via).nodes()]
    assert now[broken]['Spec']['Labels'] == {'rack': '7'} and now[broken]['Spec']['Role'] == 'manager'
    assert reachable(lab_host, via) == MANAGERS


def test_an_autolocked_swarm_needs_its_key_and_the_key_is_never_printed(lab_host, swarm, tmp_path):
    via = swarm.get('host', 'manager1')
    lab_host.client(via).swarm.update(autolock_managers=True)
    key = api(lab_host, via).get_unlock_key()['UnlockKey']
    assert key.startswith('SWMKEY-')
    dest = tmp_path / 'locked'
    # without the key: refused before anything is stopped
    rc, out = run('backup.yml', lab_host, ('backup_dest', str(dest)))
    assert rc != 0 and 'autolock is on: give the swarm' in out and 'nothing was changed' in out, out[-3000:]
    assert not dest.exists() and reachable(lab_host, via) == MANAGERS
    # with it (and asked to write it): the stopped manager comes back locked and is unlocked
    rc, out = run('backup.yml', lab_host, ('backup_dest', str(dest)), ('backup_unlock_key', key),
                  ('backup_write_unlock_key', True))
    assert rc == 0, out[-4000:]
    assert key not in out and not secrets_in(out, lab_host, via)
    assert 'WARNING: AUTOLOCK IS ON' in out
    archive = [p for p in dest.iterdir() if p.name.endswith('.tar.gz')][0]
    written = dest / (archive.name + '.unlock-key')
    assert written.read_text() == key + '\n' and oct(written.stat().st_mode & 0o777) == '0o600'
    assert json.loads((dest / (archive.name + '.json')).read_text())['autolock'] is True
    assert reachable(lab_host, via) == MANAGERS
    # restore.yml refuses such an archive before anything changes
    rc, out = run('restore.yml', lab_host, ('restore_archive', str(archive)))
    assert rc != 0 and 'The archive is of an autolocked swarm' in out, out[-3000:]
    assert reachable(lab_host, via) == MANAGERS
