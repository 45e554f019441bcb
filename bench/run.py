"""Running the things measured: a timed command, ansible-playbook from the
venv with the json callback, the Python that runs the modules."""

import json
import os
import subprocess
import sys
import tempfile
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
    """One timed command: seconds, whether it worked, what it changed, the
    CPU seconds of its processes (``cpu``, see timed); for a playbook also
    its task rounds: ``tasks`` started, ``ran`` (not skipped on every host)."""

    def __init__(self, seconds, ok, changed=None, error='', tasks=None, ran=None, cpu=None):
        self.seconds, self.ok, self.changed, self.error = seconds, ok, changed, error
        self.tasks, self.ran, self.cpu = tasks, ran, cpu
        self.extra = {}

    def as_dict(self):
        out = {'seconds': round(self.seconds, 3), 'ok': self.ok, 'changed': self.changed, 'error': self.error}
        if self.cpu is not None:
            out['cpu_seconds'] = round(self.cpu, 2)
        if self.tasks is not None:
            out.update(tasks=self.tasks, ran=self.ran)
        out.update(self.extra)
        return out


def timed(cmd, env=None, stdin=None):
    """Run ``cmd``; return (seconds, CompletedProcess, cpu): ``cpu`` is the
    user + system seconds of the command and of every process under it that
    was waited for (os.wait4's resource usage: for ansible-playbook, its
    workers and the modules they ran; not the engines they talked to)."""
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        start = time.monotonic()
        child = subprocess.Popen(cmd, env=env, text=True, stdout=out, stderr=err,
                                 stdin=subprocess.PIPE if stdin is not None else None)
        if stdin is not None:
            child.stdin.write(stdin)
            child.stdin.close()
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
    return seconds, proc, usage.ru_utime + usage.ru_stime


def task_rounds(plays):
    """(tasks, ran) of the json callback's plays: every task the run started,
    and those that ran on at least one host (not skipped on all of them)."""
    tasks = [task for play in plays for task in play.get('tasks', [])]
    ran = [task for task in tasks
           if any(not result.get('skipped') for result in task.get('hosts', {}).values())]
    return len(tasks), len(ran)


def playbook(path, inventories, forks, extra_vars=None):
    """ansible-playbook from the venv with the json callback; the recap's
    changed count summed over the hosts, and the run's task rounds."""
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), path, '--forks', str(forks)]
    for inventory in inventories:
        cmd += ['-i', inventory]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    seconds, proc, cpu = timed(cmd, env=ANSIBLE_ENV)
    try:
        output = json.loads(proc.stdout)
        stats = output['stats']
        tasks, ran = task_rounds(output.get('plays', []))
    except (ValueError, KeyError, AttributeError, TypeError):
        return Run(seconds, False, error='no JSON from ansible-playbook (rc %d): %s'
                   % (proc.returncode, (proc.stderr or proc.stdout)[-1500:]), cpu=cpu)
    changed = sum(s.get('changed', 0) for s in stats.values())
    failed = [h for h, s in stats.items() if s.get('failures') or s.get('unreachable')]
    error = ''
    if failed or proc.returncode:
        error = 'failed on %s: %s' % (', '.join(sorted(failed)), failure_messages(output.get('plays', []))[-1500:])
    return Run(seconds, not error, changed, error, tasks, ran, cpu)


def failure_messages(plays):
    """What the failed tasks said (the json callback's per-host results)."""
    return '; '.join('%s on %s: %s' % (task.get('task', {}).get('name', '?'), host, result.get('msg', '?'))
                     for play in plays for task in play.get('tasks', [])
                     for host, result in task.get('hosts', {}).items()
                     if result.get('failed') or result.get('unreachable'))


def python():
    """The Python that runs the modules: the venv's (as the lab inventory says)."""
    candidate = os.path.join(VENV_BIN, 'python')
    return candidate if os.path.exists(candidate) else sys.executable
