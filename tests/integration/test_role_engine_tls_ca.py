"""Where the engine role's TLS CA lives, on host-kind lab nodes (Debian,
systemd, their own dockerd) reached like remote hosts:

* the default CA directory is stable: two runs from two different playbook
  (and inventory) directories, as AWX makes one per job, use one CA, and the
  second changes nothing (no file on a node, no dockerd restart);
* a CA directory without the CA, while the nodes carry certificates of
  another one, stops the play before anything changes and says which hosts,
  which fingerprint and how to point the role to the CA (or re-key);
* the CA given as PEM variables (engine_tls_ca_cert / engine_tls_ca_key):
  the engines accept a client certificate signed by that CA, a second run
  changes nothing, and the key shows nowhere in a -vvv run.

Truth comes from the nodes (their files and dockerd, through the lab's base
dockerd) and from the TLS API itself (docker --tlsverify from here)."""

import base64
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess

import docker
import pytest

from ansible_run import BIN, ENV, changed_count

PLAYBOOK = """---
- name: Engines with the TLS API
  hosts: swarm_managers:swarm_workers
  gather_facts: false
  roles:
    - role: nativeswarm.cluster.engine
      vars:
        engine_tls: true
"""
NODES = ['manager1', 'worker1']
TLS_FILES = ['/etc/docker/tls/ca.pem', '/etc/docker/tls/server-cert.pem', '/etc/docker/tls/server-key.pem',
             '/etc/docker/daemon.json']


@pytest.fixture(scope='module')
def home(tmp_path_factory):
    """The controller user's home for every run of this module (the default
    CA directory is under it)."""
    return str(tmp_path_factory.mktemp('home'))


def job_dir(tmp_path_factory, lab, name):
    """A fresh directory with the playbook and a copy of the inventory, as
    AWX makes for every job."""
    path = tmp_path_factory.mktemp(name)
    (path / 'engine.yml').write_text(PLAYBOOK)
    shutil.copy(lab.inventory, str(path / 'hosts.yml'))
    return str(path)


def run(directory, home, extra_vars=None, verbose=False):
    """ansible-playbook engine.yml from `directory`; (rc, output). With
    verbose: the default callback at -vvv, output is the text."""
    env = dict(ENV, HOME=home)
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'hosts.yml', 'engine.yml']
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    if verbose:
        env['ANSIBLE_STDOUT_CALLBACK'] = 'default'
        cmd.append('-vvv')
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True, timeout=900, check=False)
    if verbose:
        return proc.returncode, proc.stdout + proc.stderr
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('ansible-playbook gave no JSON (rc %d):\n%s\n%s'
                             % (proc.returncode, proc.stdout, proc.stderr))


def failures(output):
    """The messages of the failed tasks (of their failed items for loops)."""
    found = []
    for play in output['plays']:
        for task in play['tasks']:
            for host, result in task['hosts'].items():
                if result.get('failed') or result.get('unreachable'):
                    items = [r for r in result.get('results', []) if r.get('failed') or r.get('unreachable')]
                    found += ['%s: %s' % (host, r.get('msg', '') + ' ' + r.get('stderr', '')) for r in items] or \
                        [result.get('msg', '')]
    return found


def fingerprint(pem):
    der = ssl.PEM_cert_to_DER_cert(pem.strip() + '\n')
    return ':'.join('%02X' % b for b in hashlib.sha256(der).digest())


def node_state(lab):
    """Per node: the TLS files and daemon.json (sha256, or None), and the
    dockerd process (a restart changes it)."""
    base = docker.DockerClient(base_url=lab.base_url)
    state = {}
    for node in NODES:
        container = base.containers.get(lab.container(node))
        files = {}
        for path in TLS_FILES:
            code, out = container.exec_run(['cat', path])
            files[path] = hashlib.sha256(out).hexdigest() if code == 0 else None
        code, pid = container.exec_run(['systemctl', 'show', '--property', 'MainPID', '--value', 'docker'])
        assert code == 0 and pid.strip() not in (b'', b'0'), pid
        state[node] = {'files': files, 'dockerd': pid.strip().decode()}
    return state


def node_file(lab, node, path):
    base = docker.DockerClient(base_url=lab.base_url)
    code, out = base.containers.get(lab.container(node)).exec_run(['cat', path])
    assert code == 0, out
    return out.decode()


def tls_info(lab, node, cert_dir):
    """docker --tlsverify to the node's TLS API with the CA and client
    certificate of cert_dir (the DOCKER_CERT_PATH layout); the node's name
    when the engine and this client accept each other."""
    env = dict(os.environ, DOCKER_CERT_PATH=cert_dir, DOCKER_TLS_VERIFY='1')
    env.pop('DOCKER_HOST', None)
    proc = subprocess.run(['docker', '-H', 'tcp://%s:2376' % lab.node(node)['address'], 'info', '--format', '{{.Name}}'],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else 'rc %d: %s' % (proc.returncode, proc.stderr)


def default_ca_dir(home):
    return os.path.join(home, '.local', 'share', 'nativeswarm', 'engine-ca', 'default')


def listing(directory):
    """File names and contents of a directory (None if there is none)."""
    if not os.path.isdir(directory):
        return None
    found = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), 'rb') as f:
            found[name] = hashlib.sha256(f.read()).hexdigest()
    return found


def use_home_ca(tmp_path_factory, lab, home):
    """Nodes with certificates of the default CA under `home`, whatever an
    earlier test left (rekey switches them over; a no-op otherwise)."""
    rc, out = run(job_dir(tmp_path_factory, lab, 'setup'), home, {'engine_tls_rekey': True})
    assert rc == 0, failures(out)
    return default_ca_dir(home)


def make_ca(directory, name):
    """A CA and a client certificate signed by it, made with openssl."""
    os.makedirs(directory)

    def ossl(*args):
        subprocess.run(['openssl'] + list(args), cwd=directory, check=True, capture_output=True)

    ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'ca-key.pem')
    ossl('req', '-x509', '-new', '-sha256', '-days', '30', '-subj', '/CN=%s' % name, '-key', 'ca-key.pem',
         '-out', 'ca.pem')
    ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'key.pem')
    ossl('req', '-new', '-subj', '/CN=client', '-key', 'key.pem', '-out', 'client.csr')
    with open(os.path.join(directory, 'client.ext'), 'w') as f:
        f.write('extendedKeyUsage = clientAuth\n')
    ossl('x509', '-req', '-sha256', '-days', '30', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem',
         '-set_serial', '0x%s' % os.urandom(8).hex(), '-extfile', 'client.ext', '-out', 'cert.pem')
    return directory


def pem_body_lines(pem):
    """The base64 lines of a PEM block (what a leak would show)."""
    return [line for line in pem.splitlines() if line and not line.startswith('-----')]


def test_two_job_directories_share_one_ca_and_the_second_run_changes_nothing(lab_host, home, tmp_path_factory):
    first_dir = job_dir(tmp_path_factory, lab_host, 'job1')
    second_dir = job_dir(tmp_path_factory, lab_host, 'job2')
    rc, first = run(first_dir, home)
    assert rc == 0, failures(first)
    after_first = node_state(lab_host)
    ca_pem = {n: node_file(lab_host, n, '/etc/docker/tls/ca.pem') for n in NODES}

    rc, second = run(second_dir, home)
    assert rc == 0, failures(second)
    assert changed_count(second) == 0, second['stats']
    assert node_state(lab_host) == after_first      # no file rewritten, no dockerd restarted
    for node in NODES:
        assert fingerprint(node_file(lab_host, node, '/etc/docker/tls/ca.pem')) == fingerprint(ca_pem[node])

    # the CA is in the documented default place, not in either job directory,
    # and the engines serve certificates of it and take its client certificate
    ca_dir = default_ca_dir(home)
    with open(os.path.join(ca_dir, 'ca.pem')) as f:
        ca_fp = fingerprint(f.read())
    assert {fingerprint(pem) for pem in ca_pem.values()} == {ca_fp}
    for directory in (first_dir, second_dir):
        assert sorted(os.listdir(directory)) == ['engine.yml', 'hosts.yml'], os.listdir(directory)
    assert oct(os.stat(os.path.join(ca_dir, 'ca-key.pem')).st_mode & 0o777) == '0o600'
    for node in NODES:
        assert tls_info(lab_host, node, ca_dir) == node


def test_a_missing_ca_with_certificates_of_another_on_the_nodes_stops_before_any_change(lab_host, home,
                                                                                        tmp_path_factory):
    ca_dir = use_home_ca(tmp_path_factory, lab_host, home)
    with open(os.path.join(ca_dir, 'ca.pem')) as f:
        nodes_fp = fingerprint(f.read())
    before = node_state(lab_host)
    empty = str(tmp_path_factory.mktemp('elsewhere') / 'engine-ca')

    rc, out = run(job_dir(tmp_path_factory, lab_host, 'job3'), home, {'engine_tls_ca_dir': empty})
    assert rc != 0
    assert changed_count(out) == 0, out['stats']
    msgs = failures(out)
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    for text in ('manager1, worker1', nodes_fp, empty, 'engine_tls_ca_dir', 'engine_tls_ca_cert',
                 'engine_tls_rekey=true', 'nothing was changed'):
        assert text in msg, (text, msg)
    assert not os.path.exists(empty)                 # no new CA made
    assert node_state(lab_host) == before           # nothing written, nothing restarted
    for node in NODES:
        assert tls_info(lab_host, node, ca_dir) == node


def test_a_ca_given_as_pem_variables_signs_the_engines_and_never_shows(lab_host, home, tmp_path_factory):
    ca_dir = make_ca(str(tmp_path_factory.mktemp('pem') / 'ca'), 'vault engine CA')
    with open(os.path.join(ca_dir, 'ca.pem')) as f:
        ca_cert = f.read()
    with open(os.path.join(ca_dir, 'ca-key.pem')) as f:
        ca_key = f.read()
    pem_vars = {'engine_tls_ca_cert': ca_cert, 'engine_tls_ca_key': ca_key}
    controller_ca_dir = listing(default_ca_dir(home))

    # the nodes may carry certificates of the earlier tests' CA: rekey (the
    # stop without it is the test above)
    rc, text = run(job_dir(tmp_path_factory, lab_host, 'job4'), home, dict(pem_vars, engine_tls_rekey=True),
                   verbose=True)
    assert rc == 0, text[-5000:]
    recap = re.findall(r'^(manager1|worker1)\s+: ok=\d+\s+changed=(\d+)', text, re.M)
    assert sorted(h for h, changed in recap if int(changed) > 0) == NODES, recap
    for node in NODES:
        assert fingerprint(node_file(lab_host, node, '/etc/docker/tls/ca.pem')) == fingerprint(ca_cert)
        assert tls_info(lab_host, node, ca_dir) == node
        # neither the CA key nor a server key shows at -vvv
        server_key = node_file(lab_host, node, '/etc/docker/tls/server-key.pem')
        for line in pem_body_lines(ca_key) + pem_body_lines(server_key):
            assert line not in text, 'a private key shows in the -vvv output'
    assert base64.b64decode(''.join(pem_body_lines(ca_key)))   # the check above looked at real key lines
    assert listing(default_ca_dir(home)) == controller_ca_dir   # nothing written on the controller

    after = node_state(lab_host)
    rc, again = run(job_dir(tmp_path_factory, lab_host, 'job5'), home, pem_vars)
    assert rc == 0, failures(again)
    assert changed_count(again) == 0, again['stats']
    assert node_state(lab_host) == after
