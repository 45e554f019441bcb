"""Run the collection's modules and playbooks the way users do, and read
their JSON results (the json stdout callback)."""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ,
           ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.ansible', 'collections'),
           ANSIBLE_STDOUT_CALLBACK='json',
           ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
           ANSIBLE_HOST_KEY_CHECKING='0',
           ANSIBLE_NOCOLOR='1',
           ANSIBLE_RETRY_FILES_ENABLED='0')


def module(module_name, check=False, diff=False, python=sys.executable, **args):
    """Run nativeswarm.cluster.<module_name> once on localhost with the
    given Python (the tests' own by default); return its result."""
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % python,
           '-m', 'nativeswarm.cluster.%s' % module_name, '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    try:
        out = json.loads(proc.stdout)
        return out['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        raise AssertionError('ansible gave no JSON result (rc %d):\n%s\n%s'
                             % (proc.returncode, proc.stdout, proc.stderr))


def playbook(path, inventories, check=False, diff=False, extra_vars=None, path_from_inventory=False):
    """Run a playbook with one or more inventories; return (rc, parsed json output).

    site.yml takes its role path unless ``extra_vars`` ask for the
    controller path (``swarm_form_from_controller: true``, which the engine
    lab's inventory sets for ``make demo``): a test names the path it tests,
    or, with ``path_from_inventory``, leaves the choice to the inventories."""
    extra_vars = dict({} if path_from_inventory else {'swarm_form_from_controller': False}, **(extra_vars or {}))
    cmd = [os.path.join(BIN, 'ansible-playbook'), path]
    for inventory in [inventories] if isinstance(inventories, str) else inventories:
        cmd += ['-i', inventory]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('ansible-playbook gave no JSON (rc %d):\n%s\n%s'
                             % (proc.returncode, proc.stdout, proc.stderr))


def changed_count(output):
    """Sum of changed tasks over all hosts, as the recap counts them."""
    return sum(stats.get('changed', 0) for stats in output['stats'].values())


def ok(result):
    """A module result that did not fail; a failure shows its message."""
    assert not result.get('failed'), result.get('msg', result)
    return result


def failed(result, *words):
    """A clean fail_json naming each of ``words``, not a crash (a crash has
    module_stderr, 'MODULE FAILURE' or a traceback)."""
    assert result.get('failed'), 'expected a failure, got %r' % (result,)
    assert 'module_stderr' not in result and 'MODULE FAILURE' not in result['msg'], result
    assert 'Traceback' not in json.dumps(result), result
    for word in words:
        assert word in result['msg'], result['msg']
    return result


def wait(what, predicate, timeout=90):
    """Poll ``predicate`` every half second until it is true; an Engine API
    error (an engine restarting, a manager without a leader for a moment)
    counts as not yet."""
    import docker  # only the lab tests need the SDK here
    deadline = time.time() + timeout
    while True:
        try:
            if predicate():
                return
        except docker.errors.APIError:
            pass
        if time.time() > deadline:
            raise AssertionError('timed out waiting until %s' % what)
        time.sleep(0.5)


class LabEngines:
    """The lab's engines by node name: where each answers, an Engine API
    client for each (engine truth for assertions), and a module run against
    one of them. Test modules subclass it with their own readings."""

    api_timeout = 30

    def __init__(self, lab):
        self.lab = lab
        self.nodes = dict((n['name'], n) for n in lab.nodes)
        self._clients = {}

    def host(self, name):
        return self.nodes[name]['docker_host']

    def addr(self, name):
        return self.nodes[name]['address']

    def api(self, name):
        if name not in self._clients:
            import docker  # only the lab tests need the SDK here
            self._clients[name] = docker.APIClient(base_url=self.host(name), timeout=self.api_timeout)
        return self._clients[name]

    def local(self, name):
        """The swarm part of a node's own /info."""
        return self.api(name).info()['Swarm']

    def run(self, module_name, node, check=False, diff=False, **args):
        return module(module_name, check=check, diff=diff, docker_host=self.host(node), **args)

    wait = staticmethod(wait)


def molecule_test(role, prefix, steps, extra_env=None):
    """`molecule test` of roles/<role>'s default scenario on a host-kind lab
    of its own (named with ``prefix``; `lab image` only, no nodes: molecule
    reaches the lab's base dockerd through DOCKER_HOST); checks that each of
    ``steps`` ran successfully and that `lab down` leaves nothing behind.
    Skips, with the reason, where host-kind labs or molecule are missing."""
    import pytest
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))
    from labkit import lab_leftovers, lab_name, lab_skip_reason, reap_stale_labs, run_lab
    reason = lab_skip_reason('host')
    if not reason and not os.path.exists(os.path.join(BIN, 'molecule')):
        reason = 'molecule is not installed next to %s' % sys.executable
    if not reason:
        try:
            import molecule_plugins  # noqa: F401 pylint: disable=unused-import
        except ImportError:
            reason = 'molecule-plugins[docker] is not installed'
    if reason:
        pytest.skip(reason)
    reap_stale_labs()
    name = lab_name(prefix)
    base = 'unix:///run/nslab/%s/base/docker.sock' % name
    try:
        image = run_lab('image', '--json', name=name, timeout=900)
        env = dict(ENV, DOCKER_HOST=base, NSLAB_MOLECULE_DOCKER_HOST=base,
                   PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
                   ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', **(extra_env or {}))
        for variable in ('ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_LOAD_CALLBACK_PLUGINS', 'DOCKER_TLS_VERIFY',
                         'DOCKER_CERT_PATH'):
            env.pop(variable, None)
        proc = subprocess.run([os.path.join(BIN, 'molecule'), 'test'], cwd=os.path.join(ROOT, 'roles', role),
                              env=env, capture_output=True, text=True, timeout=1200, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, 'molecule test failed (rc %d), image %s:\n%s' % (
            proc.returncode, image.stdout, output[-20000:])
        for step in steps:
            assert 'default > %s: Executed: Successful' % step in output, output[-5000:]
    finally:
        down = run_lab('down', name=name, check=False, timeout=600)
    assert down.returncode == 0 and not lab_leftovers(name), (down.stdout, down.stderr, lab_leftovers(name))
