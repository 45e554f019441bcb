"""The flocker role's molecule scenario (roles/flocker/molecule/default) on one
host-kind lab node that is both the control host and an agent: prepare (a
local APT repository of stand-in packages named as Flocker's, whose
flocker-control is the control-service stand-in), converge with
playbooks/storage.yml, idempotence (changed=0), verify (the certificates'
subjects, extensions, key usages and sizes, modes on controller and node,
agent.yml, packages, services, the control service reached with the installed
plugin certificate and not with the node certificate, the stop without a
package repository), destroy.

Flocker's own packages exist nowhere reachable, so the package installation
is exercised with stand-in packages from a local repository. The node image
has no python3-apt (which ansible's apt modules need); the test fetches it
once with `apt-get download` into the lab's cache and skips, with the reason,
when it cannot."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from labkit import lab_name, lab_skip_reason, reap_stale_labs, run_lab  # noqa: E402

ROLE = os.path.join(ROOT, 'roles', 'flocker')
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, '.ansible', 'collections')
DEBS = '/var/cache/nslab/flocker-debs'
PYTHON_APT = ('python3-apt', 'python-apt-common', 'distro-info-data')


def _molecule_missing():
    if not os.path.exists(os.path.join(BIN, 'molecule')):
        return 'molecule is not installed next to %s' % sys.executable
    try:
        import molecule_plugins  # noqa: F401
    except ImportError:
        return 'molecule-plugins[docker] is not installed'
    return None


def _python_apt_debs():
    """The node image's missing python3-apt (Debian bookworm, as the image),
    fetched once; None, or the reason it cannot be had."""
    if all(glob.glob(os.path.join(DEBS, '%s_*.deb' % name)) for name in PYTHON_APT):
        return None
    os.makedirs(DEBS, exist_ok=True)
    proc = subprocess.run(['apt-get', 'download'] + list(PYTHON_APT), cwd=DEBS, capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        return 'python3-apt for the node image cannot be fetched (apt-get download: %s)' % proc.stderr.strip()[-300:]
    return None


def test_flocker_role_molecule():
    reason = lab_skip_reason('host') or _molecule_missing() or _python_apt_debs()
    if reason:
        pytest.skip(reason)
    reap_stale_labs()
    name = lab_name('rf')
    try:
        image = run_lab('image', '--json', name=name, timeout=900)
        env = dict(os.environ,
                   DOCKER_HOST='unix:///run/nslab/%s/base/docker.sock' % name,
                   PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
                   ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   FLOCKER_TEST_DEBS=DEBS,
                   ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', ANSIBLE_NOCOLOR='1')
        env.pop('DOCKER_TLS_VERIFY', None)
        env.pop('DOCKER_CERT_PATH', None)
        proc = subprocess.run([os.path.join(BIN, 'molecule'), 'test'], cwd=ROLE, env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, 'molecule test failed (rc %d), image %s:\n%s' % (
            proc.returncode, image.stdout, output[-20000:])
        for step in ('prepare', 'converge', 'idempotence', 'verify'):
            assert 'default > %s: Executed: Successful' % step in output, output[-5000:]
    finally:
        run_lab('down', name=name, check=False, timeout=600)
