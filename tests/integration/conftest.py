"""Fixtures that give integration tests real Docker engines: tests/lab/lab.

``lab``       one lab per test module (engine kind by default: 3 managers +
              2 workers), its own NSLAB_NAME and inventory path, so a user's
              demo lab is never touched; ``down`` always runs at the end,
              also when tests fail, and the teardown checks that nothing
              named after the lab is left behind.
``lab_host``  the same with host-kind nodes (1 manager + 1 worker): full
              Debian hosts with systemd and their own dockerd.
``lab_factory``  make extra labs inside a test (scaling, down checks); all
              of them are downed at the end of the test.

Lab names are a 2-letter tag + the pytest process id (``te…`` for ``lab``,
``th…`` for ``lab_host``), so concurrent runs never share a lab.  Every lab
records this run as its owner (NSLAB_OWNER: the pytest process, by pid and
start time); a run that was killed leaves labs that the next run takes down
-- those, and never a lab made by hand or by a run still going.

A module that sets ``LAB_SNAPSHOT_FIRST = True`` gets ``lab``/``lab_host``
with ``snapshotter`` and ``before``: a snapshot of the machine taken before
the lab came up, for a last test that takes the lab down and checks that
nothing is left (tests/integration/test_lab.py).

Choosing the shape of ``lab``, first match wins:

* ``@pytest.mark.parametrize("lab", [{"managers": 1, "workers": 1}], indirect=True)``
* a marker on the module (or class, or test):
  ``pytestmark = pytest.mark.lab_shape(managers=3, workers=3, kind="engine")``
* the environment: NSLAB_TEST_MANAGERS, NSLAB_TEST_WORKERS, NSLAB_TEST_KIND
  (and NSLAB_TEST_HOST_MANAGERS / NSLAB_TEST_HOST_WORKERS for ``lab_host``).

The fixture value (a :class:`LabHandle`) carries ``nodes`` (the parsed
``lab status --json`` list), ``caps`` (``lab caps --json``), ``inventory``,
``test_image`` and helpers: ``status()``, ``node(name)``, ``client(name)``,
``up()``, ``stop(node)``, ``start(node)``, ``cli(...)``.

The lab needs root, iproute2, iptables and dockerd (docker.io); the host kind
also debootstrap and the docker CLI.  Without them the tests are skipped with
the reason.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))

from labkit import LabHandle, Snapshotter, lab_leftovers, lab_name, lab_skip_reason, reap_stale_labs  # noqa: E402

DEFAULT_ENGINE_SHAPE = {'managers': 3, 'workers': 2, 'kind': 'engine'}
DEFAULT_HOST_SHAPE = {'managers': 1, 'workers': 1, 'kind': 'host'}


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'lab_shape(managers=3, workers=2, kind="engine"): shape of the `lab` fixture '
                   'for this module (tests/lab/lab)')


# --------------------------------------------------------------------------
# fixtures

def _shape(request, default, env_prefix):
    shape = dict(default)
    for key in ('managers', 'workers'):
        env = os.environ.get('%s_%s' % (env_prefix, key.upper()))
        if env:
            shape[key] = int(env)
    if env_prefix == 'NSLAB_TEST' and os.environ.get('NSLAB_TEST_KIND'):
        shape['kind'] = os.environ['NSLAB_TEST_KIND']
    if env_prefix == 'NSLAB_TEST':
        marker = request.node.get_closest_marker('lab_shape')
        if marker:
            shape.update(marker.kwargs)
    param = getattr(request, 'param', None)
    if isinstance(param, dict):
        shape.update(param)
    return shape


_reaped = False


def _bring_up(name, shape, tmp_path_factory):
    reason = lab_skip_reason(shape['kind'])
    if reason:
        pytest.skip(reason)
    global _reaped
    if not _reaped:
        reap_stale_labs()
        _reaped = True
    inventory = str(tmp_path_factory.mktemp('lab-%s' % name) / 'hosts.yml')
    return LabHandle(name, shape['kind'], shape['managers'], shape['workers'], inventory)


def _teardown(handle):
    proc = handle.down()
    left = lab_leftovers(handle.name)
    if proc.returncode != 0 or left:
        raise AssertionError('lab %s: down failed (%d) or left things behind:\n%s\n%s\n%s'
                             % (handle.name, proc.returncode, '\n'.join(left), proc.stdout, proc.stderr))


def _running_lab(request, tmp_path_factory, prefix, default, env_prefix):
    handle = _bring_up(lab_name(prefix), _shape(request, default, env_prefix), tmp_path_factory)
    try:
        if getattr(request.module, 'LAB_SNAPSHOT_FIRST', False):
            handle.snapshotter = Snapshotter(handle.name)
            handle.before = handle.snapshotter()
        handle.up()
        yield handle
    finally:
        _teardown(handle)


@pytest.fixture(scope='module')
def lab(request, tmp_path_factory):
    """A running lab for this module (see the module docstring for the shape)."""
    yield from _running_lab(request, tmp_path_factory, 'te', DEFAULT_ENGINE_SHAPE, 'NSLAB_TEST')


@pytest.fixture(scope='module')
def lab_host(request, tmp_path_factory):
    """A running host-kind lab (systemd + dockerd per node) for this module."""
    yield from _running_lab(request, tmp_path_factory, 'th', DEFAULT_HOST_SHAPE, 'NSLAB_TEST_HOST')


@pytest.fixture
def lab_factory(tmp_path_factory):
    """make(name, managers, workers, kind='engine', up=True) -> LabHandle;
    every lab made is downed when the test ends."""
    made = []

    def make(tag, managers, workers, kind='engine', up=True):
        """tag: 2 letters, unique among the labs of one test."""
        handle = _bring_up(lab_name(tag), {'managers': managers, 'workers': workers, 'kind': kind},
                           tmp_path_factory)
        made.append(handle)
        if up:
            handle.up()
        return handle

    yield make
    errors = []
    for handle in made:
        try:
            _teardown(handle)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        raise AssertionError('\n'.join(errors))
