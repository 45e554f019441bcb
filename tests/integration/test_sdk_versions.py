"""The modules on the Docker SDK a distribution ships (Debian 12's
python3-docker 5.0.3 under /usr/bin/python3), and a clear message where the
SDK is missing."""

import subprocess

import pytest

from ansible_run import module

pytestmark = pytest.mark.lab_shape(managers=1, workers=1)

DEBIAN_PYTHON = '/usr/bin/python3'


def sdk_version(python):
    proc = subprocess.run([python, '-c', 'import docker; print(docker.__version__)'], capture_output=True,
                          text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def test_the_modules_work_with_debians_python3_docker(lab):
    version = sdk_version(DEBIAN_PYTHON)
    if version is None:
        pytest.skip('no Docker SDK for %s (apt install python3-docker)' % DEBIAN_PYTHON)
    assert version.startswith('5.'), 'expected the distribution SDK 5.x, found %s' % version
    manager, worker = lab.node('manager1'), lab.node('worker1')
    result = module('docker_swarm', python=DEBIAN_PYTHON, docker_host=manager['docker_host'])
    assert result['actions'] == ['init'], result
    result = module('docker_swarm', python=DEBIAN_PYTHON, docker_host=worker['docker_host'], state='join',
                    manager={'docker_host': manager['docker_host']})
    assert result['actions'] == ['join'], result
    result = module('docker_swarm_node', python=DEBIAN_PYTHON, docker_host=manager['docker_host'],
                    name='worker1', labels={'sdk': version})
    assert result['changed'], result
    info = module('docker_swarm_info', python=DEBIAN_PYTHON, docker_host=manager['docker_host'])
    assert sorted(n['hostname'] for n in info['nodes']) == ['manager1', 'worker1']
    nodes = dict((n['Description']['Hostname'], n) for n in lab.client('manager1').api.nodes())
    assert nodes['worker1']['Spec']['Labels'] == {'sdk': version}


def test_a_missing_sdk_is_a_clear_failure(lab, tmp_path):
    venv = tmp_path / 'bare'
    subprocess.run(['python3', '-m', 'venv', '--without-pip', str(venv)], check=True)
    result = module('docker_swarm_info', python=str(venv / 'bin' / 'python'),
                    docker_host=lab.node('manager1')['docker_host'])
    assert result.get('failed') and 'module_stderr' not in result, result
    assert 'Docker SDK for Python' in result['msg'] and 'python3-docker' in result['msg']
    assert 'pip install docker' in result['msg']
