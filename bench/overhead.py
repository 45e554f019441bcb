"""Module overhead: one no-op call of each module, run as its own process the
way Ansible runs it on a host (the module file with its arguments), against a
Python process that does the same inspection directly with the docker SDK.
Both include the interpreter start and imports; ``debug: true`` makes the
module return the Engine API requests it made."""

import json
import os

from bench.run import COLLECTIONS, python, timed

# module -> (arguments on the no-op path, the SDK inspection a script would do)
MODULES = {
    'docker_swarm': (
        lambda manager, worker, labels: {'docker_host': manager['docker_host'], 'state': 'present',
                                         'advertise_addr': manager['address']},
        'client.info(); client.inspect_swarm()'),
    'docker_swarm_node': (
        lambda manager, worker, labels: {'docker_host': manager['docker_host'], 'name': [worker['name']],
                                         'labels': labels[worker['name']]},
        'client.inspect_node(%(worker)r)'),
    'docker_swarm_info': (
        lambda manager, worker, labels: {'docker_host': manager['docker_host']},
        'client.info(); client.nodes()'),
}
SDK_SCRIPT = 'import docker; client = docker.APIClient(base_url=%(url)r); %(inspection)s'


def measure(name, manager, worker, labels, calls, workdir):
    """([module seconds], [sdk seconds], api_calls of the module's no-op call)."""
    make_args, inspection = MODULES[name]
    args = dict(make_args(manager, worker, labels), debug=True)
    args_file = os.path.join(workdir, '%s.args.json' % name)
    with open(args_file, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    module_cmd = [python(), '-m', 'ansible_collections.nativeswarm.cluster.plugins.modules.%s' % name, args_file]
    sdk_cmd = [python(), '-c', SDK_SCRIPT % {'url': manager['docker_host'],
                                             'inspection': inspection % {'worker': worker['name']}}]
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    module_times, sdk_times, api_calls = [], [], None
    for _unused in range(calls):
        seconds, proc, _cpu = timed(module_cmd, env)
        result = json.loads(proc.stdout or '{}')
        if proc.returncode or result.get('failed') or result.get('changed'):
            raise RuntimeError('%s was not a no-op: %s %s' % (name, proc.stdout[-1500:], proc.stderr[-1500:]))
        module_times.append(seconds)
        api_calls = result.get('api_calls')
        seconds, proc, _cpu = timed(sdk_cmd)
        if proc.returncode:
            raise RuntimeError('the SDK inspection for %s failed: %s' % (name, proc.stderr[-1500:]))
        sdk_times.append(seconds)
    return module_times, sdk_times, api_calls
