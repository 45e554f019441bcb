"""The swarm_manager and swarm_worker roles on their own, on a real lab of
1 manager + 2 workers (engine kind): drained managers, worker availability,
labels merged or replaced, the single-manager warning, idempotence,
workers listed as managers being promoted, and argument validation. Truth
comes from the engines (Docker SDK). Last, the molecule scenario of
swarm_manager (3 managers + 2 workers on the lab's host-kind node image):
converge, idempotence, verify."""

import json

import pytest
import yaml

from ansible_run import changed_count, molecule_test, playbook

pytestmark = pytest.mark.lab_shape(managers=1, workers=2)

PLAYS = [
    {'name': 'Managers', 'hosts': 'swarm_managers', 'gather_facts': False,
     'roles': [{'role': 'nativeswarm.cluster.swarm_manager'}]},
    {'name': 'Workers', 'hosts': 'swarm_workers', 'gather_facts': False,
     'roles': [{'role': 'nativeswarm.cluster.swarm_worker'}]},
]


@pytest.fixture(scope='module')
def roles_playbook(tmp_path_factory):
    path = tmp_path_factory.mktemp('play') / 'roles.yml'
    path.write_text(yaml.safe_dump(PLAYS, sort_keys=False))
    return str(path)


def write(tmp_path, name, inventory):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def overlay(tmp_path, managers=None, workers=None, all_vars=None):
    children = {}
    if managers:
        children['swarm_managers'] = {'hosts': managers}
    if workers:
        children['swarm_workers'] = {'hosts': workers}
    return write(tmp_path, 'overlay.yml', {'all': {'vars': all_vars or {}, 'children': children}})


def truth(lab):
    return dict((n['Description']['Hostname'], n) for n in lab.client('manager1').api.nodes())


def messages(output):
    found = []
    for play in output['plays']:
        for task in play['tasks']:
            for host, result in task['hosts'].items():
                if 'msg' in result:
                    found.append('%s: %s' % (host, result['msg']))
    return '\n'.join(str(m) for m in found)


FIRST = dict(managers={'manager1': {'swarm_node_labels': {'role': 'ctl'}}},
             workers={'worker1': {'swarm_node_labels': {'zone': 'a', 'disk': 'ssd'}},
                      'worker2': {'swarm_worker_availability': 'pause'}},
             all_vars={'swarm_manager_drain': True})


def test_roles_form_the_swarm_with_drain_availability_and_labels(lab, roles_playbook, tmp_path):
    rc, output = playbook(roles_playbook, [lab.inventory, overlay(tmp_path, **FIRST)])
    assert rc == 0, messages(output)
    assert "WARNING: the managers group 'swarm_managers' has one host" in messages(output)
    assert 'SWMTKN-' not in json.dumps(output)
    nodes = truth(lab)
    assert sorted(nodes) == ['manager1', 'worker1', 'worker2']
    assert all(n['Status']['State'] == 'ready' for n in nodes.values())
    assert nodes['manager1']['Spec']['Availability'] == 'drain'
    assert nodes['manager1']['Spec']['Labels'] == {'role': 'ctl'}
    assert nodes['worker1']['Spec']['Labels'] == {'zone': 'a', 'disk': 'ssd'}
    assert nodes['worker1']['Spec']['Availability'] == 'active'
    assert nodes['worker2']['Spec']['Availability'] == 'pause'


def test_roles_again_change_nothing(lab, roles_playbook, tmp_path):
    before = dict((h, n['Version']['Index']) for h, n in truth(lab).items())
    rc, output = playbook(roles_playbook, [lab.inventory, overlay(tmp_path, **FIRST)])
    assert rc == 0 and changed_count(output) == 0, messages(output)
    assert dict((h, n['Version']['Index']) for h, n in truth(lab).items()) == before


def test_labels_merge_by_default_and_replace_on_request(lab, roles_playbook, tmp_path):
    workers = {'worker1': {'swarm_node_labels': {'zone': 'b'}}, 'worker2': {'swarm_worker_availability': 'pause'}}
    rc, output = playbook(roles_playbook, [lab.inventory, overlay(tmp_path, FIRST['managers'], workers,
                                                                  FIRST['all_vars'])])
    assert rc == 0, messages(output)
    assert truth(lab)['worker1']['Spec']['Labels'] == {'zone': 'b', 'disk': 'ssd'}
    workers['worker1']['swarm_worker_labels_state'] = 'replace'
    rc, output = playbook(roles_playbook, [lab.inventory, overlay(tmp_path, FIRST['managers'], workers,
                                                                  FIRST['all_vars'])])
    assert rc == 0, messages(output)
    assert truth(lab)['worker1']['Spec']['Labels'] == {'zone': 'b'}


def test_a_wrong_role_variable_is_refused_by_the_argument_spec(lab, roles_playbook, tmp_path):
    before = truth(lab)
    rc, output = playbook(roles_playbook, [lab.inventory, overlay(
        tmp_path, all_vars={'swarm_manager_labels_state': 'sideways'})])
    assert rc != 0
    assert 'swarm_manager_labels_state' in messages(output) and 'sideways' in messages(output)
    assert truth(lab)['manager1']['Spec'] == before['manager1']['Spec']


def test_workers_listed_as_managers_are_promoted_one_at_a_time(lab, roles_playbook, tmp_path):
    with open(lab.inventory) as f:
        inv = yaml.safe_load(f)
    children = inv['all']['children']
    children['swarm_managers']['hosts'].update(children['swarm_workers']['hosts'])
    children['swarm_workers']['hosts'] = {}
    rc, output = playbook(roles_playbook, write(tmp_path, 'promoted.yml', inv))
    assert rc == 0, messages(output)
    nodes = truth(lab)
    assert sorted(h for h, n in nodes.items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable') == \
        ['manager1', 'worker1', 'worker2']
    assert changed_count(playbook(roles_playbook, write(tmp_path, 'promoted.yml', inv))[1]) == 0


def test_the_molecule_scenario_converges_idempotently_and_verifies():
    """roles/swarm_manager/molecule/default on a host-kind lab's base dockerd
    (its own lab name, so it never meets a user's `mol` lab)."""
    molecule_test('swarm_manager', 'mo', ('converge', 'idempotence', 'verify'))
