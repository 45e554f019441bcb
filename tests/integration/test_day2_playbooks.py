"""The day-2 playbooks on a real 3-manager + 2-worker lab (engine kind):
wrong inventories that fail fast before anything changes, a first manager
that is down, add_nodes, remove_node (a worker; a manager refused by the
quorum guard, then accepted after a promotion) and promote. The tests run in
order and each leaves the cluster as the next one expects. Truth comes from
the engines (Docker SDK), not from the playbooks' output."""

import json
import os

import pytest
import yaml

from ansible_run import ROOT, changed_count, playbook
from labkit import wait_for

PLAYBOOKS = os.path.join(ROOT, 'playbooks')
SITE = os.path.join(PLAYBOOKS, 'site.yml')
ADD = os.path.join(PLAYBOOKS, 'add_nodes.yml')
REMOVE = os.path.join(PLAYBOOKS, 'remove_node.yml')
PROMOTE = os.path.join(PLAYBOOKS, 'promote.yml')

pytestmark = pytest.mark.lab_shape(managers=3, workers=2)


def failures(output):
    """Every failed task result's message, as 'host: msg'."""
    found = []
    for play in output['plays']:
        for task in play['tasks']:
            for host, result in task['hosts'].items():
                if result.get('failed') or result.get('unreachable'):
                    found.append('%s: %s' % (host, result.get('msg', result)))
    return found


def secrets_shown(output):
    text = json.dumps(output)
    return [s for s in ('SWMTKN-', 'SWMKEY-') if s in text]


def truth(lab, via='manager1'):
    return dict((n['Description']['Hostname'], n) for n in lab.client(via).api.nodes()
                if n['Status']['State'] != 'down' or n['Spec']['Role'] == 'manager')


def all_nodes(lab, via='manager1'):
    return lab.client(via).api.nodes()


def reachable_managers(lab, via='manager1'):
    return sorted(h for h, n in truth(lab, via).items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable')


def versions(nodes):
    return dict((h, n['Version']['Index']) for h, n in nodes.items())


def local_state(lab, name):
    return lab.client(name).info()['Swarm']['LocalNodeState']


def reshaped_inventory(lab, tmp_path, managers=None, workers=None, drop=()):
    """The lab's inventory with the given hosts per group (None: as it is);
    `drop` removes a group altogether."""
    with open(lab.inventory) as f:
        inv = yaml.safe_load(f)
    children = inv['all']['children']
    every = {}
    for group in children.values():
        every.update(group.get('hosts') or {})
    for group, names in (('swarm_managers', managers), ('swarm_workers', workers)):
        if names is not None:
            children[group]['hosts'] = dict((n, every[n]) for n in names)
    for group in drop:
        children.pop(group, None)
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inv))
    return str(path)


def test_an_even_manager_count_fails_fast_and_changes_nothing(lab, tmp_path):
    inventory = reshaped_inventory(lab, tmp_path, managers=['manager1', 'manager2'],
                                   workers=['worker1', 'worker2'])
    rc, output = playbook(SITE, inventory)
    assert rc != 0
    text = '\n'.join(failures(output))
    assert 'has 2 hosts (manager1, manager2)' in text and 'odd' in text and 'swarm_manager_allow_even' in text, text
    assert all(local_state(lab, n) == 'inactive' for n in lab.names())


def test_no_managers_group_fails_fast_and_changes_nothing(lab, tmp_path):
    inventory = reshaped_inventory(lab, tmp_path, drop=['swarm_managers'])
    rc, output = playbook(SITE, inventory)
    assert rc != 0
    text = '\n'.join(failures(output))
    assert "no hosts in the managers group 'swarm_managers'" in text and 'swarm_manager_group' in text, text
    assert all(local_state(lab, n) == 'inactive' for n in lab.names())


def test_a_host_in_both_groups_fails_fast(lab, tmp_path):
    inventory = reshaped_inventory(lab, tmp_path, workers=['worker1', 'worker2', 'manager3'])
    rc, output = playbook(SITE, inventory)
    assert rc != 0
    text = '\n'.join(failures(output))
    assert 'manager3 is in both' in text, text
    assert all(local_state(lab, n) == 'inactive' for n in lab.names())


def test_a_down_first_manager_before_the_swarm_exists_the_next_one_leads(lab):
    lab.stop('manager1')
    try:
        rc, output = playbook(SITE, lab.inventory)
        assert rc != 0  # manager1 is reported, the others converge
        text = '\n'.join(failures(output))
        assert 'manager1: The Docker engine of manager1' in text and 'does not answer' in text \
            and 'Start the engine' in text, text
        assert len(failures(output)) == 1, text
        assert not secrets_shown(output)
        nodes = truth(lab, 'manager2')
        assert sorted(nodes) == ['manager2', 'manager3', 'worker1', 'worker2']
        assert reachable_managers(lab, 'manager2') == ['manager2', 'manager3']
    finally:
        lab.start('manager1')
    # with its engine back, manager1 joins the swarm manager2 formed
    rc, output = playbook(SITE, lab.inventory)
    assert rc == 0, failures(output)
    assert reachable_managers(lab, 'manager2') == ['manager1', 'manager2', 'manager3']
    assert all(n['Status']['State'] == 'ready' for n in truth(lab, 'manager2').values())


def test_a_down_first_manager_of_an_existing_swarm_the_others_converge(lab, tmp_path):
    labels = tmp_path / 'labels.yml'
    labels.write_text(yaml.safe_dump({'all': {'children': {'swarm_workers': {
        'hosts': {'worker1': {'swarm_node_labels': {'zone': 'x'}}}}}}}))
    lab.stop('manager1')
    try:
        rc, output = playbook(SITE, [lab.inventory, str(labels)])
        assert rc != 0
        text = '\n'.join(failures(output))
        assert len(failures(output)) == 1 and 'manager1' in text and 'does not answer' in text, text
        # the workers went through another manager
        assert truth(lab, 'manager2')['worker1']['Spec']['Labels'] == {'zone': 'x'}
    finally:
        lab.start('manager1')
    wait_for('manager1 reachable again', lambda: reachable_managers(lab, 'manager2')
             == ['manager1', 'manager2', 'manager3'] and truth(lab, 'manager2')['manager1']['Status']['State']
             == 'ready', timeout=90)


def test_add_nodes_joins_only_the_new_worker(lab):
    rc, output = playbook(SITE, lab.inventory)
    assert rc == 0 and changed_count(output) == 0, failures(output)
    before = truth(lab)
    lab.up(workers=3)
    rc, output = playbook(ADD, lab.inventory)
    assert rc == 0, failures(output)
    assert not secrets_shown(output)
    after = truth(lab)
    assert sorted(after) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2', 'worker3']
    assert all(n['Status']['State'] == 'ready' for n in after.values())
    assert after['worker3']['Spec']['Role'] == 'worker'
    assert versions(before) == dict((h, v) for h, v in versions(after).items() if h != 'worker3')
    assert dict((h, s['changed']) for h, s in output['stats'].items() if s['changed']) == {'worker3': 1}
    # nothing new: nothing changes
    rc, output = playbook(ADD, lab.inventory)
    assert rc == 0 and changed_count(output) == 0


def test_add_nodes_refuses_to_form_a_new_swarm(lab_factory):
    other = lab_factory('ad', 1, 1)
    rc, output = playbook(ADD, other.inventory)
    assert rc != 0
    text = '\n'.join(failures(output))
    assert 'answers as an active swarm manager' in text and 'site.yml' in text, text
    assert local_state(other, 'manager1') == 'inactive'


def test_remove_node_removes_a_worker(lab):
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'worker3'})
    assert rc == 0, failures(output)
    assert 'worker3' not in [n['Description']['Hostname'] for n in all_nodes(lab)]
    assert local_state(lab, 'worker3') == 'inactive'
    # again: not in the swarm, nothing to do
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'worker3'})
    assert rc == 0 and changed_count(output) == 0


def test_remove_node_refuses_to_leave_an_even_manager_count(lab):
    before = truth(lab)
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'manager3'})
    assert rc != 0
    text = '\n'.join(failures(output))
    assert 'refusing to remove or demote manager3' in text and 'even' in text, text
    after = truth(lab)
    assert reachable_managers(lab) == ['manager1', 'manager2', 'manager3']
    assert after['manager3']['Spec'] == before['manager3']['Spec']


def test_promote_a_worker_then_remove_the_manager(lab):
    rc, output = playbook(PROMOTE, lab.inventory, extra_vars={'node': 'worker2', 'role': 'manager'})
    assert rc == 0, failures(output)
    assert reachable_managers(lab) == ['manager1', 'manager2', 'manager3', 'worker2']
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'manager3'})
    assert rc == 0, failures(output)
    assert reachable_managers(lab) == ['manager1', 'manager2', 'worker2']
    assert 'manager3' not in [n['Description']['Hostname'] for n in all_nodes(lab)]
    assert local_state(lab, 'manager3') == 'inactive'


def test_promote_demotes_only_when_quorum_allows(lab):
    # 3 managers: a demotion would leave 2 (even): refused, nothing changes
    rc, output = playbook(PROMOTE, lab.inventory, extra_vars={'node': 'worker2', 'role': 'worker'})
    assert rc != 0
    assert 'even' in '\n'.join(failures(output))
    assert reachable_managers(lab) == ['manager1', 'manager2', 'worker2']
    rc, output = playbook(PROMOTE, lab.inventory, extra_vars={'node': 'worker2', 'role': 'boss'})
    assert rc != 0
    assert 'role=manager' in '\n'.join(failures(output))
