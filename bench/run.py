"""Running the things measured: a timed command, ansible-playbook from the
venv with the json callback, the Python that runs the modules."""

import json
import os
import subprocess
import sys
import time

from bench.lab import ROOT

VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
COLLECTIONS = os.path.join(ROOT, '.ansible', 'collections')
SITE = os.path.join(ROOT, 'playbooks', 'site.yml')
PEER_PLAYBOOK = os.path.join(ROOT, 'bench', 'peer_swarm.yml')
FLOOR_SCRIPT = os.path.join(ROOT, 'bench', 'floor_swarm.sh')
ANSIBLE_ENV = dict(os.environ,
                   ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   ANSIBLE_STDOUT_CALLBACK='json',
                   ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                   ANSIBLE_HOST_KEY_CHECKING='0',
                   ANSIBLE_NOCOLOR='1',
                   ANSIBLE_RETRY_FILES_ENABLED='0')


class Run:
    """One timed command: seconds, whether it worked, what it changed."""

    def __init__(self, seconds, ok, changed=None, error=''):
        self.seconds, self.ok, self.changed, self.error = seconds, ok, changed, error

    def as_dict(self):
        return {'seconds': round(self.seconds, 3), 'ok': self.ok, 'changed': self.changed, 'error': self.error}


def timed(cmd, env=None, stdin=None):
    """Run ``cmd``; return (seconds, CompletedProcess)."""
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True, check=False)
    return time.monotonic() - start, proc


def playbook(path, inventories, forks):
    """ansible-playbook from the venv with the json callback; the recap's
    changed count summed over the hosts."""
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), path, '--forks', str(forks)]
    for inventory in inventories:
        cmd += ['-i', inventory]
    seconds, proc = timed(cmd, env=ANSIBLE_ENV)
    try:
        stats = json.loads(proc.stdout)['stats']
    except (ValueError, KeyError):
        return Run(seconds, False, error='no JSON from ansible-playbook (rc %d): %s'
                   % (proc.returncode, (proc.stderr or proc.stdout)[-1500:]))
    changed = sum(s.get('changed', 0) for s in stats.values())
    failed = [h for h, s in stats.items() if s.get('failures') or s.get('unreachable')]
    error = 'failed on %s' % ', '.join(sorted(failed)) if failed or proc.returncode else ''
    return Run(seconds, not error, changed, error)


def python():
    """The Python that runs the modules: the venv's (as the lab inventory says)."""
    candidate = os.path.join(VENV_BIN, 'python')
    return candidate if os.path.exists(candidate) else sys.executable
