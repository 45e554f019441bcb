"""docker_machine and playbooks/provision.yml against the docker-machine
command line, with engines that really answer.

No docker-machine binary can be installed here (no package in Debian, PyPI
or npm), so every test runs against the stand-in
(tests/standins/docker-machine, the 0.16.2 contract), and again against a
real ``docker-machine`` when one is on PATH (skipped otherwise, with the
reason). Tests run in order and share one storage path per binary.

* TLS: a real dockerd started here listens on 127.0.0.1 with
  ``--tlsverify``, its server certificate signed by the CA that
  docker-machine made in the storage path (``certs/ca-key.pem``), as
  docker-machine's provisioning leaves an engine. The machine's returned
  connection facts are used as they are by docker_swarm_info and by the
  Docker SDK, and the engine refuses a client without its certificate.
* Lifecycle: the stand-in's simulated virtualbox driver; truth is what
  the command itself says (``status``, ``inspect``, the storage path).
* Provision: 3 lab engines (engine kind) as ``none``-driver machines on
  their sockets (plain, not TLS), a swarm formed by the playbook; truth is
  the engines' own node list through the SDK.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import docker
import pytest
import yaml

from ansible_run import BIN, ENV, ROOT, changed_count, failed, ok

pytestmark = pytest.mark.lab_shape(managers=1, workers=2)

STANDINS = os.path.join(ROOT, 'tests', 'standins')
REAL = shutil.which('docker-machine', path=os.environ.get('PATH', ''))
if REAL and os.path.dirname(os.path.abspath(REAL)) == STANDINS:
    REAL = None
SECRET = 'dop_v1_0123456789abcdefSECRET'


@pytest.fixture(scope='module', params=['stand-in', 'real'])
def dm(request, tmp_path_factory):
    """The docker-machine to test: its path, whether it is the stand-in,
    the environment to run it in, and a storage path of its own."""
    if request.param == 'real' and not REAL:
        pytest.skip('no docker-machine on PATH: the same tests ran against the stand-in '
                    '(tests/standins/docker-machine); put docker-machine 0.16.x on PATH to run them against it')
    standin = request.param == 'stand-in'
    path = os.path.join(STANDINS, 'docker-machine') if standin else REAL
    env = dict(ENV)
    if standin:  # the stand-in's virtualbox driver wants VBoxManage, as the real one
        env['PATH'] = STANDINS + os.pathsep + env.get('PATH', '')
    return dict(path=path, standin=standin, env=env, storage=str(tmp_path_factory.mktemp('machine-storage')))


def cli(dm, *args, check=True):
    proc = subprocess.run([dm['path'], '--storage-path', dm['storage']] + list(args), env=dm['env'],
                          capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError('docker-machine %s: %s' % (' '.join(args), proc.stderr))
    return proc


def module(dm, module_name, check=False, diff=False, **args):
    """nativeswarm.cluster.<name> once, run as Ansible runs a module (its
    arguments in a JSON file): the result it prints."""
    args.update(_ansible_check_mode=check, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict(dm['env'], PYTHONPATH=os.path.join(ROOT, '.ansible', 'collections'))
    try:
        proc = subprocess.run([os.path.join(BIN, 'python'), '-m',
                               'ansible_collections.nativeswarm.cluster.plugins.modules.%s' % module_name, handle.name],
                              env=env, capture_output=True, text=True, check=False, timeout=300)
    finally:
        os.remove(handle.name)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError('no JSON result (rc %d):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))


def run(dm, check=False, diff=False, **args):
    """docker_machine with this binary and storage path."""
    args.setdefault('storage_path', dm['storage'])
    args.setdefault('docker_machine_path', dm['path'])
    return module(dm, 'docker_machine', check=check, diff=diff, **args)


def playbook_vvv(dm, tasks):
    """Tasks of docker_machine at -vvv with the default output, as a user
    sees them; the whole text."""
    for task in tasks:
        task['nativeswarm.cluster.docker_machine'].update(storage_path=dm['storage'], docker_machine_path=dm['path'])
        task['ignore_errors'] = True
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        yaml.safe_dump(play, handle)
    try:
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-vvv', '-i', 'localhost,', '-c', 'local',
                               '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'), handle.name],
                              env=dict(dm['env'], ANSIBLE_STDOUT_CALLBACK='default'), capture_output=True,
                              text=True, check=False, timeout=300)
    finally:
        os.remove(handle.name)
    return proc.stdout + proc.stderr


def failures(output):
    """The messages of the failed tasks of a playbook run (json callback)."""
    if not isinstance(output, dict):
        return output
    return ['%s: %s' % (task['task']['name'], result.get('msg'))
            for play in output['plays'] for task in play['tasks']
            for result in task['hosts'].values() if result.get('failed')]


def plain(data):
    """ansible-inventory's JSON without its markers of unsafe text."""
    if isinstance(data, dict):
        if set(data) == {'__ansible_unsafe'}:
            return data['__ansible_unsafe']
        return dict((k, plain(v)) for k, v in data.items())
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data


# ------------------------------------------------------------------ a TLS engine

def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, capture_output=True)


class TlsEngine:
    """A real dockerd on 127.0.0.1:<port> with --tlsverify, its server
    certificate signed by the CA of a docker-machine storage path."""

    def __init__(self, storage, workdir):
        self.port = free_port()
        self.url = 'tcp://127.0.0.1:%d' % self.port
        self.storage = storage
        self.dir = workdir
        self.proc = None

    def start(self):
        certs = os.path.join(self.storage, 'certs')
        key, cert, csr = (os.path.join(self.dir, n) for n in ('server-key.pem', 'server.pem', 'server.csr'))
        ext = os.path.join(self.dir, 'ext.cnf')
        with open(ext, 'w') as handle:
            handle.write('subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
        openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
                '-out', csr, '-subj', '/O=engine')
        openssl('x509', '-req', '-in', csr, '-CA', os.path.join(certs, 'ca.pem'), '-CAkey',
                os.path.join(certs, 'ca-key.pem'), '-set_serial', '7', '-days', '2', '-extfile', ext, '-out', cert)
        self.run = tempfile.mkdtemp(prefix='nsdm', dir='/tmp')
        config = os.path.join(self.dir, 'daemon.json')
        with open(config, 'w') as handle:
            handle.write('{}\n')
        self.sock = os.path.join(self.run, 'd.sock')
        cmd = ['dockerd', '--config-file', config, '--data-root', os.path.join(self.dir, 'data'),
               '--exec-root', os.path.join(self.run, 'x'), '--pidfile', os.path.join(self.run, 'pid'),
               '-H', 'unix://' + self.sock, '-H', 'tcp://127.0.0.1:%d' % self.port,
               '--tlsverify', '--tlscacert', os.path.join(certs, 'ca.pem'), '--tlscert', cert, '--tlskey', key,
               '--bridge', 'none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
               '--storage-driver', 'vfs', '--userland-proxy=false']
        self.log = open(os.path.join(self.dir, 'dockerd.log'), 'w')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                docker.APIClient(base_url='unix://' + self.sock, timeout=2).ping()
                return
            except Exception:  # pylint: disable=broad-exception-caught
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError('the TLS dockerd did not come up; see %s' % self.log.name)
                time.sleep(0.2)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
            shutil.rmtree(self.run, ignore_errors=True)
            subprocess.run(['rm', '-rf', os.path.join(self.dir, 'data')], check=False)


@pytest.fixture(scope='module')
def engine(dm, tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which('dockerd'):
        pytest.skip('a TLS dockerd needs root and dockerd')
    tls = TlsEngine(dm['storage'], str(tmp_path_factory.mktemp('tls-engine')))
    yield tls
    tls.stop()


def engine_version(facts, with_client_cert=True):
    """GET /version through the Docker SDK with the machine's settings
    (without REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, which requests would let
    replace the CA)."""
    saved = dict((k, os.environ.pop(k)) for k in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE') if k in os.environ)
    try:
        tls = docker.tls.TLSConfig(
            ca_cert=facts['ca_path'], verify=True,
            client_cert=(facts['client_cert'], facts['client_key']) if with_client_cert else None)
        return docker.APIClient(base_url=facts['docker_host'], tls=tls, timeout=10).version()
    finally:
        os.environ.update(saved)


# ------------------------------------------------------------------ tests

def test_check_mode_creates_nothing(dm, engine):
    result = ok(run(dm, check=True, diff=True, name='tls0', driver='none', driver_options={'url': engine.url}))
    assert result['changed'] and result['commands'] == ['create --driver none --url %s tls0' % engine.url]
    assert result['diff']['after'] == {'exists': True, 'driver': 'none', 'state': 'Running'}
    assert not os.path.exists(os.path.join(dm['storage'], 'machines', 'tls0'))
    assert cli(dm, 'ls', '-q').stdout.split() == []


def test_create_bootstraps_the_certificates_and_again_changes_nothing(dm, engine):
    result = ok(run(dm, name='tls0', driver='none', driver_options={'url': engine.url}))
    assert result['changed'] and result['exists']
    assert cli(dm, 'ls', '-q').stdout.split() == ['tls0']
    for name in ('ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem'):
        assert os.path.isfile(os.path.join(dm['storage'], 'certs', name)), name
    # the engine that docker-machine would provision: serving a certificate of that CA
    engine.start()
    again = ok(run(dm, name='tls0', driver='none', driver_options={'url': engine.url}))
    assert not again['changed'] and again['commands'] == []
    assert json.loads(cli(dm, 'inspect', 'tls0').stdout)['DriverName'] == 'none'


def test_the_returned_connection_facts_reach_the_engine_over_verified_tls(dm, engine):
    facts = ok(run(dm, name='tls0'))['machine']
    assert facts['docker_host'] == engine.url and facts['validate_certs'] is True and facts['tls'] is True
    assert facts['ca_path'] == os.path.join(dm['storage'], 'certs', 'ca.pem')
    assert facts['state'] == 'Running'
    # the Docker SDK with exactly these settings
    version = engine_version(facts)
    assert facts['docker_version'].lstrip('v') == version['Version']
    # the engine really demands the client certificate
    with pytest.raises(Exception):
        engine_version(facts, with_client_cert=False)
    # and this collection's module, with the facts as they are
    info = ok(module(dm, 'docker_swarm_info', docker_host=facts['docker_host'],
                     validate_certs=facts['validate_certs'], ca_path=facts['ca_path'],
                     client_cert=facts['client_cert'], client_key=facts['client_key']))
    assert info['local_node_state'] == 'inactive' and info['docker_swarm_active'] is False
    assert docker.APIClient(base_url='unix://' + engine.sock).info()['Swarm']['LocalNodeState'] == 'inactive'


def test_a_generic_machine_gets_server_certificates_of_the_same_ca(dm, engine):
    if not dm['standin']:
        pytest.skip('the generic driver provisions over SSH, which the lab engines do not offer')
    result = ok(run(dm, name='gen0', driver='generic',
                    driver_options={'ip-address': '127.0.0.1', 'engine-port': engine.port, 'ssh-port': engine.port}))
    facts = result['machine']
    assert facts['docker_host'] == engine.url and facts['state'] == 'Running'
    machine_dir = os.path.join(dm['storage'], 'machines', 'gen0')
    assert facts['cert_path'] == machine_dir
    verify = subprocess.run(['openssl', 'verify', '-CAfile', os.path.join(machine_dir, 'ca.pem'),
                             os.path.join(machine_dir, 'server.pem')], capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    assert engine_version(facts)['Version']
    # generic cannot stop machines: refused before anything, and the machine is still running
    failed(run(dm, name='gen0', state='stopped'), 'cannot stop machine gen0', 'generic driver')
    assert cli(dm, 'status', 'gen0').stdout.strip() == 'Running'
    # another driver asked for: a warning, no change
    result = ok(run(dm, name='gen0', driver='virtualbox'))
    assert not result['changed'] and 'exists with driver generic, not virtualbox' in json.dumps(result['warnings'])


def test_none_machines_cannot_be_restarted(dm, engine):
    failed(run(dm, name='tls0', state='restarted'), 'cannot restart machine tls0', 'none driver')
    assert cli(dm, 'ls', '-q').stdout.split().count('tls0') == 1


def test_lifecycle_of_a_virtualbox_machine(dm):
    if not dm['standin']:
        pytest.skip('needs VirtualBox')

    def status():
        return cli(dm, 'status', 'vb0').stdout.strip()

    ok(run(dm, name='vb0', driver='virtualbox', driver_options={'memory': 2048}, engine_label={'zone': 'a'},
           state='started'))
    config = json.loads(cli(dm, 'inspect', 'vb0').stdout)
    assert config['Driver']['Memory'] == 2048 and config['HostOptions']['EngineOptions']['Labels'] == ['zone=a']
    result = ok(run(dm, name='vb0', state='stopped', diff=True))
    assert result['changed'] and result['diff']['before']['state'] == 'Running' and status() == 'Stopped'
    assert result['machine']['state'] == 'Stopped'
    assert not ok(run(dm, name='vb0', state='stopped'))['changed']
    assert ok(run(dm, name='vb0', state='started'))['changed'] and status() == 'Running'
    server = os.path.join(dm['storage'], 'machines', 'vb0', 'server.pem')
    with open(server) as handle:
        before = handle.read()
    result = ok(run(dm, name='vb0', state='restarted', regenerate_certs=True))
    assert result['commands'] == ['regenerate-certs --force vb0', 'restart vb0'] and status() == 'Running'
    with open(server) as handle:
        assert handle.read() != before
    assert ok(run(dm, name='vb0', state='absent'))['changed']
    assert 'vb0' not in cli(dm, 'ls', '-q').stdout.split()
    assert not os.path.exists(os.path.dirname(server))
    assert not ok(run(dm, name='vb0', state='absent'))['changed']


def test_failed_pre_create_check_exit_3_and_a_missing_command(dm, tmp_path):
    result = failed(run(dm, name='bad0', driver='generic',
                        driver_options={'ip-address': '127.0.0.1', 'ssh-key': str(tmp_path / 'no-such-key')}),
                    'pre-create check (exit 3)', 'nothing was created')
    assert result['rc'] == 3
    assert 'bad0' not in cli(dm, 'ls', '-q').stdout.split()
    failed(run(dm, name='bad0', driver='generic', docker_machine_path=str(tmp_path / 'docker-machine')),
           'not an executable file')
    failed(run(dm, name='bad0', driver='generic', docker_machine_path='docker-machine-nowhere'),
           'docker-machine-nowhere was not found in PATH')


def test_secret_driver_options_show_nowhere_even_at_vvv(dm):
    if not dm['standin']:
        pytest.skip('would try to reach DigitalOcean')
    output = playbook_vvv(dm, [
        {'name': 'secret given as a secret', 'nativeswarm.cluster.docker_machine': dict(
            name='do0', driver='digitalocean', driver_options={'region': 'fra1'},
            driver_secrets={'access-token': SECRET})},
        {'name': 'secret given as an option', 'nativeswarm.cluster.docker_machine': dict(
            name='do1', driver='digitalocean', driver_options={'access-token': SECRET})}])
    assert output.count('pre-create check (exit 3)') >= 2, output
    assert '--digitalocean-access-token ********' in output
    assert SECRET not in output


# ------------------------------------------------------------------ provision.yml

def test_provision_playbook_forms_a_swarm_and_again_changes_nothing(dm, lab, tmp_path):
    nodes = dict((n['name'], n) for n in lab.nodes)
    machines = [dict(name='dm-manager1', role='manager', driver_options={'url': nodes['manager1']['docker_host']}),
                dict(name='dm-worker1', role='worker', driver_options={'url': nodes['worker1']['docker_host']},
                     labels={'zone': 'a'}),
                dict(name='dm-worker2', driver_options={'url': nodes['worker2']['docker_host']})]
    extra = dict(provision_machines=machines, provision_driver='none', provision_storage_path=dm['storage'],
                 provision_docker_machine_path=dm['path'])
    varfile = tmp_path / 'machines.yml'
    varfile.write_text(yaml.safe_dump(extra))

    def provision():
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                               '-e', 'ansible_python_interpreter=%s' % os.path.join(BIN, 'python'),
                               '-e', '@%s' % varfile, os.path.join(ROOT, 'playbooks', 'provision.yml')],
                              env=dm['env'], capture_output=True, text=True, check=False, timeout=600)
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.startswith('{') else proc.stdout + proc.stderr

    rc, output = provision()
    assert rc == 0, failures(output)
    manager = docker.APIClient(base_url=nodes['manager1']['docker_host'])
    truth = dict((n['Description']['Hostname'], n) for n in manager.nodes())
    assert sorted(truth) == ['manager1', 'worker1', 'worker2']
    assert [h for h, n in truth.items() if n['Spec']['Role'] == 'manager'] == ['manager1']
    assert truth['worker1']['Spec']['Labels'] == {'zone': 'a'}
    assert all(n['Status']['State'] == 'ready' for n in truth.values())
    labels = json.loads(cli(dm, 'inspect', 'dm-worker2').stdout)['HostOptions']['EngineOptions']['Labels']
    assert labels == ['nativeswarm.role=worker']
    rc, output = provision()
    assert rc == 0 and changed_count(output) == 0, failures(output)

    # day 2: the example inventory finds the same machines in the same groups
    proc = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i',
                           os.path.join(ROOT, 'inventories', 'docker_machine', 'docker_machine.yml'), '--list'],
                          env=dict(dm['env'], MACHINE_STORAGE_PATH=dm['storage'],
                                   PATH=os.path.dirname(dm['path']) + os.pathsep + dm['env']['PATH']),
                          capture_output=True, text=True, check=False, timeout=120)
    inventory = plain(json.loads(proc.stdout))
    assert inventory['swarm_managers']['hosts'] == ['dm-manager1'], proc.stderr
    assert sorted(inventory['swarm_workers']['hosts']) == ['dm-worker1', 'dm-worker2']
    hostvars = inventory['_meta']['hostvars']['dm-worker1']
    assert hostvars['docker_host'] == nodes['worker1']['docker_host']
    assert hostvars['swarm_node_connection']['validate_certs'] is False
    # ... and site.yml's controller path over it finds nothing to change
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i',
                           os.path.join(ROOT, 'inventories', 'docker_machine', 'docker_machine.yml'),
                           '-e', 'swarm_form_from_controller=true', os.path.join(ROOT, 'playbooks', 'site.yml')],
                          env=dict(dm['env'], MACHINE_STORAGE_PATH=dm['storage'],
                                   PATH=os.path.dirname(dm['path']) + os.pathsep + dm['env']['PATH']),
                          capture_output=True, text=True, check=False, timeout=600)
    output = json.loads(proc.stdout) if proc.stdout.startswith('{') else proc.stdout + proc.stderr
    assert proc.returncode == 0 and changed_count(output) == 0, failures(output)
