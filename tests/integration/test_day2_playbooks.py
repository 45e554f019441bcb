"""The day-2 playbooks on a real 3-manager + 2-worker lab (engine kind):
wrong inventories that fail fast before anything changes, a first manager
that is down, add_nodes, remove_node (a worker; a node named by a 12-character
ID prefix, by the short name of its FQDN hostname, by a hostname two nodes
share, a node that is down; a manager refused by the quorum guard, its check
mode, then accepted after a promotion), promote, and a swarm that lost quorum.
The tests run in order and each leaves the cluster as the next one expects.
Truth comes from the engines (Docker SDK), not from the playbooks' output."""

import json
import os

import docker
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


def join_worker(lab, name, via='manager1'):
    """Join `name` as a worker straight through the Engine API (test setup);
    return its node ID."""
    token = lab.client(via).api.inspect_swarm()['JoinTokens']['Worker']
    lab.client(name).api.join_swarm(['%s:2377' % lab.node(via)['address']], token)
    return lab.client(name).info()['Swarm']['NodeID']


def set_hostname(lab, name, hostname):
    """Rename a node's host: a container in its engine's own UTS namespace
    sets the hostname the engine reports (as a host given an FQDN would)."""
    lab.client(name).containers.run(lab.test_image, ['hostname', hostname], entrypoint=[], uts_mode='host',
                                    cap_add=['SYS_ADMIN'], network_disabled=True, remove=True)


def node_status(lab, node_id, via='manager1'):
    return lab.client(via).api.inspect_node(node_id)['Status']['State']


def has_no_leader(lab, name):
    try:
        lab.client(name).api.nodes()
    except docker.errors.APIError as e:
        return 'does not have a leader' in str(e)
    return False


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
    # two managers tolerate no failure at all, no more than one manager would
    assert '2 managers tolerate 0 failed manager(s), no more than 1 would' in text, text
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
        assert 'manager1: engine: cannot reach the Docker engine at' in text and 'is the Docker engine running' in text, text
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
        assert len(failures(output)) == 1 and 'manager1: engine: cannot reach the Docker engine at' in text, text
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


def test_remove_node_finds_a_node_by_a_12_character_id_prefix(lab):
    node_id = join_worker(lab, 'worker3')
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': node_id[:12]})
    assert rc == 0, failures(output)
    assert node_id not in [n['ID'] for n in all_nodes(lab)]
    assert local_state(lab, 'worker3') == 'inactive'


def test_remove_node_finds_a_node_by_the_short_name_of_its_fqdn_hostname(lab):
    set_hostname(lab, 'worker3', 'worker3.lab.example')
    try:
        node_id = join_worker(lab, 'worker3')
        wait_for('the swarm knows worker3 by its FQDN', lambda: lab.client('manager1').api.inspect_node(node_id)
                 ['Description']['Hostname'] == 'worker3.lab.example', timeout=60)
        rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'worker3'})
        assert rc == 0, failures(output)
        assert node_id not in [n['ID'] for n in all_nodes(lab)]
        assert local_state(lab, 'worker3') == 'inactive'
    finally:
        set_hostname(lab, 'worker3', 'worker3')


def test_remove_node_refuses_a_hostname_that_two_nodes_share(lab):
    stale = join_worker(lab, 'worker3')
    lab.client('worker3').api.leave_swarm(force=True)
    wait_for('the entry worker3 left behind is down', lambda: node_status(lab, stale) == 'down', timeout=90)
    fresh = join_worker(lab, 'worker3')
    before = dict((n['ID'], n['Version']['Index']) for n in all_nodes(lab))
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'worker3'})
    assert rc != 0
    text = '\n'.join(failures(output))
    assert stale in text and fresh in text, text
    assert dict((n['ID'], n['Version']['Index']) for n in all_nodes(lab)) == before
    assert lab.client('worker3').info()['Swarm']['NodeID'] == fresh
    assert local_state(lab, 'worker3') == 'active'


def test_remove_node_removes_a_node_that_is_down_named_by_its_hostname(lab):
    # the stale entry of the test before goes first, by its full ID
    stale = [n['ID'] for n in all_nodes(lab)
             if n['Description']['Hostname'] == 'worker3' and n['Status']['State'] == 'down']
    assert len(stale) == 1
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': stale[0]})
    assert rc == 0, failures(output)
    fresh = lab.client('worker3').info()['Swarm']['NodeID']
    assert [n['ID'] for n in all_nodes(lab) if n['Description']['Hostname'] == 'worker3'] == [fresh]
    lab.stop('worker3')
    try:
        wait_for('worker3 is down', lambda: node_status(lab, fresh) == 'down', timeout=90)
        rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'worker3'})
        assert rc == 0, failures(output)
        assert 'worker3' not in [n['Description']['Hostname'] for n in all_nodes(lab)]
    finally:
        lab.start('worker3')
    # the engine still holds the state of the swarm that removed it
    lab.client('worker3').api.leave_swarm(force=True)
    assert local_state(lab, 'worker3') == 'inactive'


def test_remove_node_refuses_to_leave_an_even_manager_count(lab):
    before = truth(lab)
    rc, output = playbook(REMOVE, lab.inventory, extra_vars={'node': 'manager3'})
    assert rc != 0
    text = '\n'.join(failures(output))
    assert 'refusing to remove or demote manager3' in text and 'even' in text, text
    # the playbook's switch, not the module's option
    assert '-e allow_even=true' in text and 'allow_even_managers' not in text, text
    after = truth(lab)
    assert reachable_managers(lab) == ['manager1', 'manager2', 'manager3']
    assert after['manager3']['Spec'] == before['manager3']['Spec']


def test_remove_node_check_mode_says_what_the_real_run_does(lab):
    before = truth(lab)
    rc, output = playbook(REMOVE, lab.inventory, check=True, extra_vars={'node': 'manager3', 'allow_even': True})
    assert rc == 0, failures(output)
    said = json.dumps([result.get('msg') for play in output['plays'] for task in play['tasks']
                       for result in task['hosts'].values()])
    assert 'could not leave' not in said and 'force=true' not in said, said
    assert 'once demoted, manager3 leaves the swarm itself' in said, said
    assert reachable_managers(lab) == ['manager1', 'manager2', 'manager3']
    assert dict((h, n['Spec']) for h, n in truth(lab).items()) == dict((h, n['Spec']) for h, n in before.items())
    assert versions(truth(lab)) == versions(before)
    assert local_state(lab, 'manager3') == 'active'


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
    text = '\n'.join(failures(output))
    assert 'even' in text and '-e allow_even=true' in text and 'allow_even_managers' not in text, text
    assert reachable_managers(lab) == ['manager1', 'manager2', 'worker2']
    rc, output = playbook(PROMOTE, lab.inventory, extra_vars={'node': 'worker2', 'role': 'boss'})
    assert rc != 0
    assert 'role=manager' in '\n'.join(failures(output))


def test_a_swarm_that_lost_quorum_is_reported_as_such_and_nothing_changes(lab):
    """Managers now: manager1, manager2, worker2. With two of them stopped,
    site.yml and remove_node.yml say that quorum is lost and what to do, and
    change nothing: in particular manager3 (inactive, still in the managers
    group) does not start a swarm of its own."""
    def engines():
        return dict((name, (lab.client(name).info()['Swarm']['LocalNodeState'],
                            lab.client(name).info()['Swarm']['NodeID'])) for name in
                    ('manager1', 'manager3', 'worker1', 'worker3'))

    lab.stop('manager2')
    lab.stop('worker2')
    try:
        wait_for('manager1 has no leader', lambda: has_no_leader(lab, 'manager1'), timeout=120)
        before = engines()
        assert before['manager3'][0] == 'inactive' and before['worker1'][0] == 'active'
        for path, extra_vars in ((SITE, None), (REMOVE, {'node': 'worker1'})):
            rc, output = playbook(path, lab.inventory, extra_vars=extra_vars)
            assert rc != 0
            text = '\n'.join(failures(output))
            assert 'quorum lost: the swarm has 3 managers' in text, text
            assert 'force-new-cluster' in text and 'playbooks/README.md, Recovery' in text, text
            assert 'fix swarm_manager_docker_host' not in text and 'form the swarm first' not in text.lower(), text
            assert engines() == before
            assert has_no_leader(lab, 'manager1')
    finally:
        lab.start('manager2')
        lab.start('worker2')
    wait_for('the swarm has a leader again', lambda: not has_no_leader(lab, 'manager1'), timeout=120)
