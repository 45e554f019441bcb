"""health.yml and rotate.yml on one real 3-manager + 2-worker lab (engine kind).

health.yml passes on a healthy cluster and fails with the right line for a
stopped manager engine, a service no node can run, an even manager count and
lost quorum; the lab is put back after each case. rotate.yml: an unlock key
rotation without autolock is refused before anything changes; after a token
rotation (selected by tags) the old worker token no longer joins and the new
one does; a CA rotation with a new certificate validity leaves every node
ready on the new root with certificates of that validity; an unlock key
rotation gives a key that unlocks a restarted manager where the old one no
longer does; -vvv output shows no token or key. The tests run in order, each
leaving the cluster as the next one expects. Truth comes from the engines."""

import datetime
import json
import os
import ssl
import subprocess

import docker
import pytest

from ansible_run import BIN, ENV, ROOT, playbook
from labkit import wait_for

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
SITE = os.path.join(PLAYBOOKS, 'site.yml')
HEALTH = os.path.join(PLAYBOOKS, 'health.yml')
ROTATE = os.path.join(PLAYBOOKS, 'rotate.yml')
MANAGERS = ('manager1', 'manager2', 'manager3')

pytestmark = pytest.mark.lab_shape(managers=3, workers=2)


# ---------------------------------------------------------------- helpers

def problem_lines(output):
    """The message of every failed task result (each failed loop item)."""
    lines = []
    for play in output['plays']:
        for task in play['tasks']:
            for result in task['hosts'].values():
                items = result.get('results') or []
                failed = [r for r in items if r.get('failed')] if items else ([result] if result.get('failed') else [])
                lines += [r.get('msg', '') for r in failed]
    return lines


def verbose(path, inventory, *args):
    """ansible-playbook -vvv with the default output; (rc, all output)."""
    env = dict(ENV, ANSIBLE_STDOUT_CALLBACK='default')
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-vvv', path, '-i', inventory] + list(args),
                          env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def api(lab, via='manager1'):
    return lab.client(via).api


def nodes(lab, via='manager1'):
    return dict((n['Description']['Hostname'], n) for n in api(lab, via).nodes())


def reachable(lab, via='manager1'):
    return sorted(h for h, n in nodes(lab, via).items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable')


def all_well(lab, managers=MANAGERS, via='manager1'):
    """Every node ready, exactly `managers` managers (by role and in Raft),
    all reachable, and every service running its tasks."""
    found = nodes(lab, via)
    return (all(n['Status']['State'] == 'ready' for n in found.values())
            and sorted(h for h, n in found.items() if n['Spec']['Role'] == 'manager') == sorted(managers)
            and sorted(h for h, n in found.items() if n.get('ManagerStatus')) == sorted(managers)
            and reachable(lab, via) == sorted(managers) and services_run(lab, via))


def services_run(lab, via='manager1'):
    """Every replicated service runs as many tasks as its replicas."""
    for service in api(lab, via).services():
        running = [t for t in api(lab, via).tasks({'service': service['ID'], 'desired-state': 'running'})
                   if t['Status']['State'] == 'running']
        if len(running) != service['Spec']['Mode'].get('Replicated', {}).get('Replicas', len(running)):
            return False
    return True


def restore(lab, *stopped):
    if stopped:
        lab.start(*stopped)
    try:
        wait_for('every node ready, every manager reachable', lambda: all_well(lab), timeout=120)
    except AssertionError:
        raise AssertionError('the lab did not come back: %s' % [
            (h, n['Spec']['Role'], n['Status']['State'], n.get('ManagerStatus')) for h, n in nodes(lab).items()])


def tokens(lab):
    return api(lab).inspect_swarm()['JoinTokens']


def health(lab, **extra):
    return playbook(HEALTH, lab.inventory, extra_vars=extra or None)


def manager_address(lab, name):
    return '%s:2377' % lab.node(name)['address']


def certificate_days_left(lab, name):
    """Days the node certificate on a manager's swarm port is still valid."""
    from cryptography import x509
    pem = ssl.get_server_certificate((lab.node(name)['address'], 2377))
    cert = x509.load_pem_x509_certificate(pem.encode())
    not_after = getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return (not_after - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


@pytest.fixture(scope='module')
def swarm(lab):
    rc, output = playbook(SITE, lab.inventory, extra_vars={'swarm_form_from_controller': True})
    assert rc == 0, problem_lines(output)
    api(lab).create_service(docker.types.TaskTemplate(docker.types.ContainerSpec(lab.test_image)), name='web',
                            mode=docker.types.ServiceMode('replicated', 2))
    wait_for('web running 2 tasks', lambda: len([t for t in api(lab).tasks({'service': 'web'})
                                                 if t['Status']['State'] == 'running']) == 2, timeout=90)
    restore(lab)
    return lab


# ---------------------------------------------------------------- health.yml

def test_health_passes_on_a_healthy_cluster(swarm):
    rc, output = health(swarm)
    assert rc == 0, problem_lines(output)
    table = [t for p in output['plays'] for t in p['tasks'] if t['task']['name'] == 'Show the cluster']
    shown = table[0]['hosts']['localhost']['msg']
    assert 'managers 3, reachable 3, quorum 2, fault tolerance 1' in ' '.join(shown), shown
    assert 'service web (replicated): 2 of 2 tasks running' in shown and shown[-1] == 'healthy', shown
    assert all_well(swarm)


def test_health_fails_on_a_stopped_manager_engine(swarm):
    swarm.stop('manager3')
    try:
        wait_for('manager3 unreachable', lambda: reachable(swarm) == ['manager1', 'manager2'], timeout=90)
        # (a web task that ran on manager3 is short too: services are not the point here)
        rc, output = health(swarm, health_check_services=False)
        lines = problem_lines(output)
        assert rc != 0
        # its node turns down a few heartbeats after its Raft reachability
        assert lines in (['quorum at risk: fault tolerance 0 (2 of 3 managers reachable, 2 needed)',
                          'manager manager3 unreachable'],
                         ['quorum at risk: fault tolerance 0 (2 of 3 managers reachable, 2 needed)',
                          'manager manager3 unreachable', 'node manager3 down']), lines
    finally:
        restore(swarm, 'manager3')


def test_health_fails_on_a_service_no_node_can_run(swarm):
    api(swarm).create_service(docker.types.TaskTemplate(docker.types.ContainerSpec(swarm.test_image),
                                                        placement=docker.types.Placement(
                                                            constraints=['node.labels.nowhere == yes'])),
                              name='nowhere', mode=docker.types.ServiceMode('replicated', 2))
    try:
        wait_for('2 pending tasks of nowhere', lambda: [t['Status']['State'] for t in
                                                        api(swarm).tasks({'service': 'nowhere'})]
                 == ['pending', 'pending'], timeout=60)
        rc, output = health(swarm)
        assert rc != 0
        assert problem_lines(output) == ['service nowhere: 0 of 2 tasks running']
    finally:
        api(swarm).remove_service('nowhere')


def test_health_fails_when_quorum_is_lost(swarm):
    swarm.stop('manager2', 'manager3')
    try:
        rc, output = health(swarm)
        lines = problem_lines(output)
        assert rc != 0
        assert lines[0].startswith('quorum lost: '), lines
        assert any(line.startswith('manager manager2 unreachable') for line in lines), lines
        assert any(line.startswith('manager manager3 unreachable') for line in lines), lines
        # the engines agree: manager1 alone has no leader
        wait_for('manager1 without a leader', lambda: _no_leader(swarm, 'manager1'), timeout=60)
    finally:
        restore(swarm, 'manager2', 'manager3')


def _no_leader(lab, name):
    try:
        api(lab, name).nodes()
    except docker.errors.APIError as exc:
        return 'does not have a leader' in str(exc)
    return False


def set_role(lab, name, role):
    node = nodes(lab)[name]
    spec = dict(node['Spec'], Role=role)
    api(lab).update_node(node['ID'], node['Version']['Index'], spec)


def test_health_fails_on_an_even_manager_count(swarm):
    set_role(swarm, 'worker1', 'manager')
    try:
        wait_for('4 reachable managers', lambda: all_well(swarm, MANAGERS + ('worker1',)), timeout=90)
        rc, output = health(swarm)
        assert rc != 0
        assert problem_lines(output) == ['even manager count: 4']
    finally:
        set_role(swarm, 'worker1', 'worker')
        wait_for('worker1 no longer acting as a manager',
                 lambda: not swarm.client('worker1').info()['Swarm']['ControlAvailable'], timeout=90)
        restore(swarm)


# ---------------------------------------------------------------- rotate.yml

SECRETS = []  # every token and key seen, for the -vvv check of the last test
OUTPUTS = []


def test_unlock_key_rotation_without_autolock_is_refused_before_anything_changes(swarm, tmp_path):
    before = tokens(swarm)
    key_file = tmp_path / 'unlock.key'
    rc, output = playbook(ROTATE, swarm.inventory, extra_vars={
        'rotate_worker_token': True, 'rotate_unlock_key': True, 'rotate_unlock_key_file': str(key_file)})
    assert rc != 0
    text = '\n'.join(problem_lines(output))
    assert 'Nothing was changed' in text and 'not autolocked' in text, text
    assert tokens(swarm) == before and not key_file.exists()


def test_rotated_worker_token_old_one_no_longer_joins(swarm):
    worker2 = nodes(swarm)['worker2']['ID']
    api(swarm, 'worker2').leave_swarm()
    api(swarm).remove_node(worker2, force=True)
    before = tokens(swarm)
    root = api(swarm).inspect_swarm()['TLSInfo']['TrustRoot']
    rc, text = verbose(ROTATE, swarm.inventory, '--tags', 'worker_token,manager_token')
    OUTPUTS.append(text)
    assert rc == 0, text[-3000:]
    after = tokens(swarm)
    SECRETS.extend(list(before.values()) + list(after.values()))
    assert after['Worker'] != before['Worker'] and after['Manager'] != before['Manager']
    swarm_now = api(swarm).inspect_swarm()
    assert swarm_now['TLSInfo']['TrustRoot'] == root  # only what the tags selected
    addr = [manager_address(swarm, 'manager1')]
    with pytest.raises(docker.errors.APIError):
        api(swarm, 'worker2').join_swarm(addr, before['Worker'])
    if swarm.client('worker2').info()['Swarm']['LocalNodeState'] != 'inactive':
        api(swarm, 'worker2').leave_swarm(force=True)
    api(swarm, 'worker2').join_swarm(addr, after['Worker'])
    restore(swarm)
    assert nodes(swarm)['worker2']['Spec']['Role'] == 'worker'


def test_ca_rotation_with_a_new_validity_leaves_every_node_ready(swarm):
    before = api(swarm).inspect_swarm()
    extra = json.dumps({'rotate_ca': True, 'rotate_node_cert_expiry': 30 * 86400})
    rc, text = verbose(ROTATE, swarm.inventory, '-e', extra)
    OUTPUTS.append(text)
    assert rc == 0, text[-3000:]
    after = api(swarm).inspect_swarm()
    root = after['TLSInfo']['TrustRoot']
    assert root != before['TLSInfo']['TrustRoot'] and not after.get('RootRotationInProgress')
    assert after['Spec']['CAConfig']['NodeCertExpiry'] == 30 * 86400 * 10 ** 9
    assert all_well(swarm)
    assert all(n['Description']['TLSInfo']['TrustRoot'] == root for n in nodes(swarm).values())
    # the managers' new certificates have the new validity (a manager's swarm
    # port may serve its previous certificate for a moment after the rotation) ...
    wait_for('the managers serving certificates of the new validity',
             lambda: all(29 <= certificate_days_left(swarm, m) <= 30 for m in MANAGERS), 90, 2)
    # ... and health.yml sees them expire within 31 days
    rc, output = health(swarm, health_cert_expiry_days=31, health_check_services=False)
    assert rc != 0
    assert problem_lines(output) == ['certificate of node %s expires in 29 days' % m for m in MANAGERS]


def test_unlock_key_rotation_and_no_secret_in_verbose_output(swarm, tmp_path):
    current = api(swarm).inspect_swarm()
    spec = dict(current['Spec'], EncryptionConfig={'AutoLockManagers': True})
    api(swarm).update_swarm(version=current['Version']['Index'], swarm_spec=spec)
    old_key = api(swarm).get_unlock_key()['UnlockKey']
    key_file = tmp_path / 'unlock.key'
    rc, text = verbose(ROTATE, swarm.inventory, '--tags', 'unlock_key', '-e', 'rotate_unlock_key_file=%s' % key_file)
    OUTPUTS.append(text)
    assert rc == 0, text[-3000:]
    new_key = api(swarm).get_unlock_key()['UnlockKey']
    SECRETS.extend([old_key, new_key])
    assert new_key != old_key and key_file.read_text().strip() == new_key
    assert oct(key_file.stat().st_mode & 0o777) == '0o600'
    # a restarted manager (a follower: no election) is locked: the old key no
    # longer opens it, the new one does
    follower = [h for h, n in nodes(swarm).items() if n.get('ManagerStatus') and not n['ManagerStatus'].get('Leader')][0]
    swarm.stop(follower)
    swarm.start(follower)
    wait_for('%s locked' % follower, lambda: swarm.client(follower).info()['Swarm']['LocalNodeState'] == 'locked',
             timeout=60)
    with pytest.raises(docker.errors.APIError):
        api(swarm, follower).unlock_swarm(old_key)
    api(swarm, follower).unlock_swarm(new_key)
    restore(swarm)
    # no token or key, old or new, in any -vvv output
    assert len(OUTPUTS) == 3 and len(SECRETS) == 6
    for text in OUTPUTS:
        assert not [s for s in SECRETS if s in text]
        assert 'SWMTKN-' not in text and 'SWMKEY-' not in text
