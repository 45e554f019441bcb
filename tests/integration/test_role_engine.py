"""The engine role's molecule scenario (roles/engine/molecule/default) on
host-kind lab nodes: converge, idempotence (changed=0), verify (daemon.json,
the running dockerd's settings, sysctls, package holds, the TLS API from the
controller with and without a client certificate, key modes, no restart of a
swarm node unless allowed), destroy.

The scenario's instances are made by a host-kind lab's base dockerd (a lab of
its own, with no nodes: `lab image`), which molecule reaches through
DOCKER_HOST; the lab is always taken down (`down`, the image cache stays)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from labkit import lab_name, lab_skip_reason, reap_stale_labs, run_lab  # noqa: E402

ROLE = os.path.join(ROOT, 'roles', 'engine')
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, '.ansible', 'collections')


def _molecule_missing():
    if not os.path.exists(os.path.join(BIN, 'molecule')):
        return 'molecule is not installed next to %s' % sys.executable
    try:
        import molecule_plugins  # noqa: F401
    except ImportError:
        return 'molecule-plugins[docker] is not installed'
    return None


def _link_collection():
    """What `make link` does: the working tree as nativeswarm.cluster."""
    link = os.path.join(COLLECTIONS, 'ansible_collections', 'nativeswarm', 'cluster')
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink('../../../..', link)


def test_engine_role_molecule():
    reason = lab_skip_reason('host') or _molecule_missing()
    if reason:
        pytest.skip(reason)
    reap_stale_labs()
    _link_collection()
    name = lab_name('re')
    try:
        image = run_lab('image', '--json', name=name, timeout=900)
        env = dict(os.environ,
                   DOCKER_HOST='unix:///run/nslab/%s/base/docker.sock' % name,
                   PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
                   ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', ANSIBLE_NOCOLOR='1')
        env.pop('DOCKER_TLS_VERIFY', None)
        env.pop('DOCKER_CERT_PATH', None)
        proc = subprocess.run([os.path.join(BIN, 'molecule'), 'test'], cwd=ROLE, env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, 'molecule test failed (rc %d), image %s:\n%s' % (
            proc.returncode, image.stdout, output[-20000:])
        for step in ('converge', 'idempotence', 'verify'):
            assert 'default > %s: Executed: Successful' % step in output, output[-5000:]
    finally:
        run_lab('down', name=name, check=False, timeout=600)
