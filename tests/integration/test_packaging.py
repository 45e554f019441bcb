"""The built collection: it installs offline, ansible-doc renders every
module and filter from that install, it carries no test or CI files, and
ansible-builder reads its execution-environment dependencies."""

import glob
import json
import os
import subprocess
import sys
import tarfile

import pytest

from ansible_run import ROOT

BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))
                 if not os.path.basename(p).startswith('_'))
# the modules that talk to Docker engines share the connection options
DOCKER_MODULES = [m for m in MODULES if m.startswith('docker_swarm')]
FILTERS = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, 'plugins', 'filter', '*.yml')))


def run(*cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, '%s failed (%d):\n%s\n%s' % (' '.join(cmd), proc.returncode, proc.stdout,
                                                              proc.stderr)
    return proc.stdout


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp('build')
    run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out), ROOT)
    tarball = glob.glob(str(out / 'nativeswarm-cluster-*.tar.gz'))
    assert len(tarball) == 1
    collections = str(tmp_path_factory.mktemp('collections'))
    # only this path: a copy of the collection elsewhere must not count as installed
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections)
    run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', collections,
        tarball[0], env=env)
    return tarball[0], collections


def test_the_tarball_carries_no_tests_ci_or_lab_state(installed):
    with tarfile.open(installed[0]) as tar:
        names = tar.getnames()
    assert 'plugins/modules/docker_swarm.py' in names and 'meta/runtime.yml' in names
    assert not [n for n in names if n.startswith(('tests/', '.ci/', '.venv/', 'build/', '.ansible/'))]


def test_ansible_doc_renders_every_module_from_the_install(installed):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=installed[1])
    docs = json.loads(run(os.path.join(BIN, 'ansible-doc'), '--json', '-t', 'module',
                          *['nativeswarm.cluster.%s' % m for m in MODULES], env=env))
    assert sorted(docs) == ['nativeswarm.cluster.%s' % m for m in MODULES]
    for module in MODULES:
        doc = docs['nativeswarm.cluster.%s' % module]
        assert doc['examples'].strip().startswith('---')
        assert doc['return']
        if module in DOCKER_MODULES:
            assert doc['doc']['options']['docker_host']['default'] == 'unix:///var/run/docker.sock'
    filters = json.loads(run(os.path.join(BIN, 'ansible-doc'), '--json', '-t', 'filter',
                             *['nativeswarm.cluster.%s' % f for f in FILTERS], env=env))
    assert sorted(filters) == ['nativeswarm.cluster.%s' % f for f in FILTERS] and len(FILTERS) == 2
    assert all(f['doc']['description'] and f['examples'] for f in filters.values())
    text = run(os.path.join(BIN, 'ansible-doc'), 'nativeswarm.cluster.docker_swarm', env=env)
    assert 'quorum' in text and 'EXAMPLES' in text


def test_ansible_builder_reads_the_dependencies(installed, tmp_path):
    out = run(os.path.join(BIN, 'ansible-builder'), 'introspect', '--sanitize', installed[1])
    assert 'docker>=5.0.0' in out and 'openssl' in out


def test_ansible_builder_creates_an_execution_environment_context(installed, tmp_path):
    definition = tmp_path / 'execution-environment.yml'
    definition.write_text(EE_DEFINITION % installed[0])
    run(os.path.join(BIN, 'ansible-builder'), 'create', '-f', str(definition), '-c', str(tmp_path / 'context'))
    assert (tmp_path / 'context' / 'Dockerfile').is_file()
    assert 'nativeswarm-cluster' in (tmp_path / 'context' / '_build' / 'requirements.yml').read_text()


# the definition the README shows AWX/Tower users
EE_DEFINITION = """---
version: 3
images:
  base_image:
    name: quay.io/ansible/awx-ee:latest
dependencies:
  galaxy:
    collections:
      - name: %s
        type: file
"""
