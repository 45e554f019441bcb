"""site.yml end to end on full hosts: 3 managers + 2 workers of the lab's
host kind (Debian bookworm, systemd, its own dockerd), reached over the
community.docker.docker connection like any remote host; the modules run
on the nodes with the distribution's python3-docker. Then the same nodes
over ssh:// (their sshd, a key made by the test): docker_swarm_cluster and
docker_swarm_info on the controller, through the ssh command and through the
SDK's Python SSH library, and their clean failures. Truth from the engines."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_run import BIN, ENV, ROOT, changed_count, playbook
from labkit import wait_for

SITE = os.path.join(ROOT, 'playbooks', 'site.yml')


@pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)
def test_site_on_host_nodes_forms_the_swarm_and_reruns_without_change(lab_host):
    rc, first = playbook(SITE, lab_host.inventory)
    assert rc == 0, first
    assert changed_count(first) > 0
    nodes = dict((n['Description']['Hostname'], n) for n in lab_host.client('manager1').api.nodes())
    assert sorted(nodes) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
    assert all(n['Status']['State'] == 'ready' for n in nodes.values())
    assert sorted(h for h, n in nodes.items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable') == ['manager1', 'manager2',
                                                                                            'manager3']
    rc, again = playbook(SITE, lab_host.inventory)
    assert rc == 0 and changed_count(again) == 0, again


# --------------------------------------------------------------------------
# ssh:// on the same host nodes: docker_swarm_cluster and docker_swarm_info on
# the controller reach every node's engine through its sshd (root, a key made
# here), through the ssh command (use_ssh_client) and through the SDK's
# Python SSH library (paramiko). Truth from the lab's own engine sockets.

TEST_LABEL = 'nativeswarm.test.ssh'
SSH_CONFIG = """{identities}
Host *
    IdentitiesOnly yes
    UserKnownHostsFile {home}/.ssh/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
"""
# OpenSSH takes ~/.ssh/config from the user's passwd entry, not from HOME: the
# controller's ssh command gets the test's config through this wrapper first on PATH.
SSH_WRAPPER = '#!/bin/sh\nexec %s -F "$HOME/.ssh/config" "$@"\n'


def _sh(*cmd, stdin=None):
    proc = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, '%s: %s%s' % (' '.join(cmd), proc.stdout, proc.stderr)
    return proc.stdout


def _ssh_home(path, keys, known_hosts):
    """A HOME for the module process: a key per host ({address: key file}),
    known hosts, a config that never prompts."""
    os.makedirs(os.path.join(path, '.ssh'), mode=0o700)
    os.makedirs(os.path.join(path, 'bin'))
    with open(os.path.join(path, '.ssh', 'known_hosts'), 'w') as f:
        f.write(known_hosts)
    with open(os.path.join(path, '.ssh', 'config'), 'w') as f:
        f.write(SSH_CONFIG.format(home=path, identities=''.join(
            'Host %s\n    IdentityFile %s\n' % (addr, key) for addr, key in sorted(keys.items()))))
    wrapper = os.path.join(path, 'bin', 'ssh')
    with open(wrapper, 'w') as f:
        f.write(SSH_WRAPPER % shutil.which('ssh'))
    os.chmod(wrapper, 0o755)
    return path


class SSHAccess:
    """The host nodes reachable over ssh:// from this controller."""

    def __init__(self, lab, tmp):
        self.lab = lab
        self.names = lab.names()
        self.addrs = dict((n, lab.node(n)['address']) for n in self.names)
        key = str(tmp / 'id_ed25519')
        _sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'nativeswarm-test', '-f', key)
        stranger = str(tmp / 'stranger_ed25519')
        _sh('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'not-authorized', '-f', stranger)
        with open(key + '.pub') as f:
            public = f.read()
        docker = shutil.which('docker')
        for name in self.names:
            _sh(docker, '-H', lab.base_url, 'exec', '-i', lab.container(name), 'sh', '-c',
                'umask 077 && mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys', stdin=public)
        known = wait_for('sshd on every node', self.keyscan, timeout=60)
        self.home = _ssh_home(str(tmp / 'home'), dict((a, key) for a in self.addrs.values()), known)
        # manager1 missing from known_hosts, worker1 offered a key it does not know
        self.broken_home = _ssh_home(
            str(tmp / 'broken'), dict((a, stranger if n == 'worker1' else key) for n, a in self.addrs.items()),
            ''.join(line for line in known.splitlines(True) if not line.startswith(self.addrs['manager1'] + ' ')))

    def keyscan(self):
        proc = subprocess.run(['ssh-keyscan', '-T', '5'] + [self.addrs[n] for n in self.names],
                              capture_output=True, text=True, check=False)
        scanned = set(line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith('#'))
        return proc.stdout if scanned == set(self.addrs.values()) else None

    def node(self, name, **extra):
        return dict(name=name, docker_host='ssh://root@%s' % self.addrs[name], **extra)

    def run(self, module_name, args, home=None, verbose=False, python=sys.executable):
        """The module once on the controller (connection local), with an ssh
        HOME; returns (result, whole output)."""
        home = home or self.home
        env = dict(ENV, HOME=home, PATH='%s/bin%s%s' % (home, os.pathsep, os.environ.get('PATH', '')))
        env.pop('SSH_AUTH_SOCK', None)
        cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % python,
               '-m', 'nativeswarm.cluster.%s' % module_name, '-a', json.dumps(args)]
        if verbose:
            cmd.append('-vvv')
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        lines = proc.stdout.splitlines(True)
        for i, line in enumerate(lines):   # -vvv: the JSON document comes after the chatter
            if line.rstrip() == '{':
                try:
                    out = json.loads(''.join(lines[i:]))
                    return out['plays'][0]['tasks'][0]['hosts']['localhost'], proc.stdout + proc.stderr
                except (ValueError, KeyError, IndexError):
                    continue
        raise AssertionError('ansible gave no JSON result (rc %d):\n%s\n%s'
                             % (proc.returncode, proc.stdout, proc.stderr))


def swarm_truth(lab):
    """The swarm as manager1's engine (the lab's socket) has it."""
    api = lab.client('manager1').api
    swarm = api.inspect_swarm()
    nodes = dict((n['Description']['Hostname'], dict(role=n['Spec']['Role'], availability=n['Spec']['Availability'],
                                                     labels=n['Spec'].get('Labels') or {}, state=n['Status']['State']))
                 for n in api.nodes())
    return dict(cluster_id=swarm['ID'], spec=swarm['Spec'], nodes=nodes)


def as_listed(ssh, truth, labels_of=None):
    """The cluster request that describes ``truth`` (with other labels where asked)."""
    labels_of = labels_of or {}
    listed = dict(managers=[], workers=[])
    for name in ssh.names:
        node = truth['nodes'][name]
        listed['managers' if node['role'] == 'manager' else 'workers'].append(ssh.node(
            name, availability=node['availability'], labels=labels_of.get(name, node['labels'])))
    return listed


@pytest.fixture(scope='module')
def ssh(lab_host, tmp_path_factory):
    """SSH access to the nodes; the swarm's labels as found are put back at the end."""
    access = SSHAccess(lab_host, tmp_path_factory.mktemp('ssh'))
    access.found = swarm_truth(lab_host)
    yield access
    api = lab_host.client('manager1').api
    for node in api.nodes():
        wanted = access.found['nodes'].get(node['Description']['Hostname'], {}).get('labels')
        if wanted is not None and (node['Spec'].get('Labels') or {}) != wanted:
            api.update_node(node['ID'], node['Version']['Index'], dict(node['Spec'], Labels=wanted))
    assert swarm_truth(lab_host) == access.found


@pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)
def test_cluster_over_the_ssh_command_joins_a_worker_and_updates_a_node(lab_host, ssh):
    found = ssh.found
    assert sorted(found['nodes']) == ssh.names and all(n['state'] == 'ready' for n in found['nodes'].values())
    # worker2 leaves (the lab's socket) and its entry goes: the run must join it again, with a token
    lab_host.client('worker2').api.leave_swarm()
    manager = lab_host.client('manager1').api
    for node in manager.nodes():
        if node['Description']['Hostname'] == 'worker2':
            manager.remove_node(node['ID'], force=True)
    tokens = manager.inspect_swarm()['JoinTokens']
    labels = dict(found['nodes']['worker1']['labels'], **{TEST_LABEL: 'ssh-command'})
    args = dict(as_listed(ssh, found, {'worker1': labels}), use_ssh_client=True)

    result, output = ssh.run('docker_swarm_cluster', args, verbose=True)
    assert not result.get('failed') and result['changed'], result
    assert sorted(result['actions']) == ['worker1: update', 'worker2: join as worker'], result['actions']
    truth = swarm_truth(lab_host)
    assert truth['cluster_id'] == found['cluster_id']
    assert truth['nodes'] == dict(found['nodes'], worker1=dict(found['nodes']['worker1'], labels=labels)), truth
    assert lab_host.client('worker2').api.info()['Swarm']['NodeID']
    assert tokens['Worker'] not in output and tokens['Manager'] not in output

    again, _unused = ssh.run('docker_swarm_cluster', args)
    assert not again.get('failed') and not again['changed'] and again['actions'] == [], again


@pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)
def test_info_and_cluster_over_the_python_ssh_library(lab_host, ssh):
    info, _unused = ssh.run('docker_swarm_info', dict(docker_host=ssh.node('manager1')['docker_host']))
    assert not info.get('failed'), info
    manager = lab_host.client('manager1').api
    assert info['cluster_id'] == manager.inspect_swarm()['ID']
    assert sorted(n['id'] for n in info['nodes']) == sorted(n['ID'] for n in manager.nodes())

    labels = dict(ssh.found['nodes']['worker1']['labels'], **{TEST_LABEL: 'python-ssh'})
    args = dict(as_listed(ssh, ssh.found, {'worker1': labels}), use_ssh_client=False, labels_state='replace')
    result, _unused = ssh.run('docker_swarm_cluster', args)
    assert not result.get('failed') and result['changed'] and result['actions'] == ['worker1: update'], result
    assert swarm_truth(lab_host)['nodes']['worker1']['labels'] == labels


DEBIAN_PYTHON = '/usr/bin/python3'


def debian_sdk_with_paramiko():
    """Whether Debian's python3-docker (5.0.3 on Debian 12) and python3-paramiko are there."""
    return subprocess.run([DEBIAN_PYTHON, '-c', 'import docker, paramiko'], capture_output=True,
                          check=False).returncode == 0 if os.path.exists(DEBIAN_PYTHON) else False


@pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)
@pytest.mark.parametrize('use_ssh_client, python', [
    (True, sys.executable), (False, sys.executable),
    # SDKs before 6.0 only warn about a host missing from known_hosts: the collection refuses it
    pytest.param(False, DEBIAN_PYTHON, marks=pytest.mark.skipif(
        not debian_sdk_with_paramiko(), reason='needs python3-docker and python3-paramiko (Debian)'))],
    ids=['ssh-command', 'python-ssh', 'python-ssh-debian-sdk'])
def test_an_unknown_host_or_a_refused_key_fails_cleanly_changing_nothing(lab_host, ssh, use_ssh_client, python):
    before = swarm_truth(lab_host)
    labels = dict(before['nodes']['worker1']['labels'], **{TEST_LABEL: 'never'})
    args = dict(as_listed(ssh, before, {'worker1': labels}), use_ssh_client=use_ssh_client)
    if use_ssh_client:
        unknown_host = 'the ssh command failed: Host key verification failed.'
        refused_key = 'the ssh command failed: root@%s: Permission denied (publickey' % ssh.addrs['worker1']
    else:
        unknown_host = 'the SSH host key of that host is unknown: check it and add it to ~/.ssh/known_hosts'
        refused_key = 'SSH authentication failed: the host accepted none of the keys offered'
    result, _unused = ssh.run('docker_swarm_cluster', args, home=ssh.broken_home, python=python)
    assert result.get('failed') and not result['changed'] and not result['actions'], result
    msg = result['msg']
    assert msg.startswith('not every listed engine answered, so nothing was changed: '), msg
    for name, problem in (('manager1', unknown_host), ('worker1', refused_key)):
        url = ssh.node(name)['docker_host']
        assert '%s (%s): cannot reach the Docker engine at %s: %s' % (name, url, url, problem) in msg, msg
    for name in ('manager2', 'manager3', 'worker2'):
        assert '%s (' % name not in msg, msg
    assert 'Traceback' not in msg and 'Error(' not in msg and 'Exception' not in msg, msg
    assert swarm_truth(lab_host) == before
