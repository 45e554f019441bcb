"""Every task of the modules' EXAMPLES runs, as written, on a real swarm.

The examples are taken from the modules' documentation and run in one
playbook, in the order below, on a lab of 2 managers + 3 workers. The only
additions are where each task runs (``docker_host`` of a lab node) and, for
the examples that name things a lab cannot have (TLS engine addresses,
addresses of real hosts), the lab's equivalents. Afterwards the cluster is
read from the engines.
"""

import os

import pytest
import yaml

from ansible_run import ROOT, playbook

pytestmark = pytest.mark.lab_shape(managers=2, workers=3)

# (module, example task name, lab node it runs against, argument overrides)
PLAN = [
    ('docker_swarm', 'Initialize the swarm on the first manager', 'manager1', {}),
    ('docker_swarm', 'Join another manager (the token is fetched from the first manager)', 'manager2',
     {'manager': {'docker_host': '{{ lab.manager1 }}'}}),
    ('docker_swarm_info', "Read the swarm's state", 'manager1', {}),
    (None, 'A worker token, as a user would have it', None, {}),
    ('docker_swarm', 'Join a worker with a token obtained elsewhere', 'worker1',
     {'remote_addrs': ['{{ lab_addr.manager1 }}']}),
    ('docker_swarm', 'Join a worker with a token obtained elsewhere', 'worker2',
     {'remote_addrs': ['{{ lab_addr.manager1 }}']}),
    ('docker_swarm', 'Join a worker with a token obtained elsewhere', 'worker3',
     {'remote_addrs': ['{{ lab_addr.manager1 }}']}),
    ('docker_swarm_node', 'Promote a worker', 'manager1', {}),
    ('docker_swarm_info', "Read the swarm's state", 'manager1', {}),
    ('docker_swarm_info', 'Stop unless the cluster can lose a manager', None, {}),
    ('docker_swarm_info', "Check the cluster's health, certificates too", 'manager1', {}),
    ('docker_swarm_info', 'Fail with one line per problem', None, {}),
    # the swarm has a leader: no change
    ('docker_swarm', 'Re-form the control plane on the one manager left (or restored from a backup)', 'manager1',
     {'advertise_addr': '{{ lab_addr.manager1 }}'}),
    ('docker_swarm_info', 'Find a node by the name the inventory uses, also when it is down', 'manager1', {}),
    ('docker_swarm_info', 'Show its ID and status', None, {}),
    ('docker_swarm_node', 'Demote a manager for maintenance; return once its own engine runs no manager',
     'manager1', {'node_connection': {'docker_host': '{{ lab.manager2 }}'}}),
    ('docker_swarm_node', 'Drain a node and wait until its tasks have moved away', 'manager1', {}),
    ('docker_swarm_node', 'Add labels (others are kept)', 'manager1', {}),
    ('docker_swarm_node', 'Remove labels', 'manager1', {}),
    ('docker_swarm_info', 'Running tasks of one service', 'manager1', {}),
    ('docker_swarm', 'Rotate the worker token', 'manager1', {}),
    ('docker_swarm', 'Turn autolock on and keep the key', 'manager1', {}),
    ('docker_swarm', 'Unlock this manager after an engine restart', 'manager1', {}),
    ('docker_swarm', 'Leave the swarm (a manager is demoted first if quorum allows)', 'worker3', {}),
    ('docker_swarm_node', 'Remove a node that is gone for good', 'manager1', {}),
]


TOKEN_TASK = {
    'name': 'A worker token, as a user would have it',
    'nativeswarm.cluster.docker_swarm_info': {'docker_host': '{{ lab.manager1 }}', 'return_join_tokens': True},
    'register': 'tokens', 'no_log': True}


def examples(module):
    with open(os.path.join(ROOT, 'plugins', 'modules', module + '.py')) as handle:
        source = handle.read()
    text = source.split('EXAMPLES = r"""', 1)[1].split('"""', 1)[0]
    return dict((task['name'], task) for task in yaml.safe_load(text))


def test_every_example_runs_on_the_lab(lab, tmp_path):
    used, tasks = set(), []
    for module, name, node, overrides in PLAN:
        if module is None:
            tasks.append(TOKEN_TASK)
            continue
        task = dict(examples(module)[name])
        used.add((module, name))
        key = [k for k in task if k.startswith('nativeswarm.cluster.')]
        if key:
            args = dict(task[key[0]] or {})
            args.update(overrides)
            args.setdefault('docker_host', '{{ lab.%s }}' % node)
            task[key[0]] = args
        tasks.append(task)
    every = set((m, n) for m in ('docker_swarm', 'docker_swarm_node', 'docker_swarm_info') for n in examples(m))
    assert every == used, 'examples not exercised: %s' % sorted(every - used)

    nodes = dict((n['name'], n) for n in lab.nodes)
    play = [{
        'name': 'EXAMPLES of the swarm modules',
        'hosts': 'localhost',
        'gather_facts': False,
        'vars': {
            'lab': dict((name, n['docker_host']) for name, n in nodes.items()),
            'lab_addr': dict((name, n['address']) for name, n in nodes.items()),
            'worker_token': '{{ tokens.join_tokens.worker }}',
            'vault_swarm_unlock_key': '{{ locked.unlock_key }}',
            'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        },
        'tasks': tasks,
    }]
    path = tmp_path / 'examples.yml'
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    rc, output = playbook(str(path), 'localhost,', extra_vars={'ansible_connection': 'local'})
    failures = [(t['task']['name'], h.get('msg')) for t in output['plays'][0]['tasks'] for h in t['hosts'].values()
                if h.get('failed')]
    assert rc == 0 and not failures, failures

    truth = dict((n['Description']['Hostname'], n) for n in lab.client('manager1').api.nodes())
    assert sorted(truth) == ['manager1', 'manager2', 'worker1', 'worker2']
    assert truth['worker1']['Spec']['Role'] == 'manager'
    assert truth['manager2']['Spec']['Role'] == 'worker' and not truth['manager2'].get('ManagerStatus')
    assert truth['worker1']['Spec']['Labels'] == {'zone': 'a'}
    assert truth['worker2']['Spec']['Availability'] == 'drain'
    assert lab.client('worker3').info()['Swarm']['LocalNodeState'] == 'inactive'
    assert lab.client('manager1').api.inspect_swarm()['Spec']['EncryptionConfig']['AutoLockManagers'] is True
