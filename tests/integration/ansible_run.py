"""Run the collection's modules and playbooks the way users do, and read
their JSON results (the json stdout callback)."""

import json
import os
import subprocess
import sys

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


def playbook(path, inventories, check=False, diff=False, extra_vars=None):
    """Run a playbook with one or more inventories; return (rc, parsed json output)."""
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
