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

import pytest

from ansible_run import molecule_test

DEBS = '/var/cache/nslab/flocker-debs'
PYTHON_APT = ('python3-apt', 'python-apt-common', 'distro-info-data')


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
    reason = _python_apt_debs()
    if reason:
        pytest.skip(reason)
    molecule_test('flocker', 'rf', ('prepare', 'converge', 'idempotence', 'verify'), {'FLOCKER_TEST_DEBS': DEBS})
