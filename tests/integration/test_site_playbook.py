"""playbooks/site.yml end to end on a 3-manager + 2-worker lab: the swarm it
forms (node labels and cluster settings from the inventory, autolock on
without any key or token in the output), a service that answers from this
machine, re-runs with no change, check mode that changes nothing and shows
the cluster settings it would change with their values, and bad role
variables (an AWX survey's string for a mapping, a value out of its choices)
refused in the first play before any engine is touched. Truth comes from the
engines."""

import json
import os

import docker
import pytest
import yaml

from ansible_run import ROOT, changed_count, playbook
from labkit import http_get, wait_for

SITE = os.path.join(ROOT, 'playbooks', 'site.yml')


CLUSTER_SETTINGS = {'snapshot_interval': 5000, 'dispatcher_heartbeat_period': 7, 'node_cert_expiry': 7776000,
                    'autolock_managers': True}


def labels_inventory(tmp_path, labels, manager_labels=None, settings=None):
    path = tmp_path / 'labels.yml'
    hosts = dict((name, {'swarm_node_labels': value}) for name, value in labels.items())
    inventory = {'all': {'children': {'swarm_workers': {'hosts': hosts}}}}
    if manager_labels:
        inventory['all']['children']['swarm_managers'] = {'hosts': dict(
            (name, {'swarm_node_labels': value}) for name, value in manager_labels.items())}
    if settings:
        inventory['all']['vars'] = {'swarm_manager_cluster_settings': settings}
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def site(lab, extra_inventory, check=False):
    rc, output = playbook(SITE, [lab.inventory, extra_inventory], check=check, diff=check)
    assert rc == 0, output
    text = json.dumps(output)
    assert 'SWMTKN-' not in text and 'SWMKEY-' not in text, 'a join token or unlock key in the output'
    return output


def truth(lab):
    return dict((n['Description']['Hostname'], n) for n in lab.client('manager1').api.nodes())


NODES = ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']


def acted(output):
    """Per play, the tasks that ran on at least one host (not skipped on all),
    as the bench counts task rounds."""
    return dict((p['play']['name'], [t['task']['name'] for t in p['tasks']
                                     if any(not r.get('skipped') for r in t['hosts'].values())])
                for p in output['plays'])


@pytest.fixture(scope='module')
def formed(lab, tmp_path_factory):
    extra = labels_inventory(tmp_path_factory.mktemp('inv'), {'worker1': {'zone': 'a'}, 'worker2': {'zone': 'b'}},
                             manager_labels={'manager2': {'tier': 'control'}}, settings=CLUSTER_SETTINGS)
    # check mode first, on the bare engines: a first run with labels and no swarm yet
    bare = site(lab, extra, check=True)
    bare_states = dict((name, lab.client(name).info()['Swarm']['LocalNodeState']) for name in NODES)
    first = site(lab, extra)
    return lab, extra, first, bare, bare_states


def test_check_mode_on_bare_engines_plans_the_swarm_and_changes_nothing(formed):
    bare, bare_states = formed[3], formed[4]
    assert changed_count(bare) > 0
    assert bare_states == dict((name, 'inactive') for name in NODES)


def test_the_role_path_stands_up_in_at_most_13_task_rounds(formed):
    ran = [name for names in acted(formed[2]).values() for name in names]
    assert len(ran) <= 13, ran
    # the workers' labels: one node update per worker, delegated to the acting manager
    assert [name for name in ran if "Set this worker's availability and labels" in name], ran


def test_the_inventory_alone_picks_one_path(formed):
    """The lab's inventory sets swarm_form_from_controller: true; without an
    extra variable only the controller play acts, no role-path task runs."""
    lab, extra = formed[0], formed[1]
    rc, output = playbook(SITE, [lab.inventory, extra], path_from_inventory=True)
    assert rc == 0, output
    assert changed_count(output) == 0
    ran = acted(output)
    assert ran['Form the swarm on the managers'] == [] and ran['Join the workers'] == [], ran
    assert ran['Install and configure the Docker engine on every host (site_manage_engine)'] == [], ran
    assert "Converge the whole cluster through every node's engine" in \
        ran['Form the swarm from the controller in one call (the controller path, swarm_form_from_controller)'], ran


def test_site_forms_a_ha_swarm_with_inventory_labels(formed):
    lab, first = formed[0], formed[2]
    assert changed_count(first) > 0
    nodes = truth(lab)
    assert sorted(nodes) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
    assert all(n['Status']['State'] == 'ready' for n in nodes.values())
    managers = [h for h, n in nodes.items() if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable']
    assert sorted(managers) == ['manager1', 'manager2', 'manager3']
    assert nodes['worker1']['Spec']['Labels'] == {'zone': 'a'}
    assert nodes['worker2']['Spec']['Labels'] == {'zone': 'b'}
    assert nodes['manager2']['Spec']['Labels'] == {'tier': 'control'}
    assert nodes['manager1']['Spec']['Labels'] == {}


def test_site_applies_the_cluster_settings_from_the_inventory(formed):
    spec = formed[0].client('manager1').api.inspect_swarm()['Spec']
    assert spec['Raft']['SnapshotInterval'] == 5000
    assert spec['Dispatcher']['HeartbeatPeriod'] == 7 * 10 ** 9
    assert spec['CAConfig']['NodeCertExpiry'] == 7776000 * 10 ** 9
    assert spec['EncryptionConfig']['AutoLockManagers'] is True


def test_site_again_changes_nothing(formed):
    lab, extra = formed[0], formed[1]
    before = truth(lab)
    assert changed_count(site(lab, extra)) == 0
    after = truth(lab)
    assert dict((h, n['Version']['Index']) for h, n in before.items()) == \
        dict((h, n['Version']['Index']) for h, n in after.items())


def test_check_mode_with_a_changed_inventory_changes_nothing(formed, tmp_path):
    lab = formed[0]
    before = truth(lab)
    output = site(lab, labels_inventory(tmp_path, {'worker1': {'zone': 'c'}}, settings=CLUSTER_SETTINGS), check=True)
    assert changed_count(output) > 0
    assert truth(lab)['worker1']['Spec']['Labels'] == before['worker1']['Spec']['Labels'] == {'zone': 'a'}


def engine_truth(lab):
    """What a run must not change: every engine's swarm state and node ID, the
    cluster spec and every node object (their versions), from the engines."""
    api = lab.client('manager1').api
    swarms = dict((name, lab.client(name).info()['Swarm']) for name in lab.names())
    local = dict((name, (swarm['LocalNodeState'], swarm['NodeID'])) for name, swarm in swarms.items())
    return dict(local=local, swarm=api.inspect_swarm()['Version']['Index'],
                nodes=dict((n['ID'], n['Version']['Index']) for n in api.nodes()))


def failed_play(output):
    """Index of the play and the message of the first failed task."""
    for index, play in enumerate(output['plays']):
        for task in play['tasks']:
            for result in task['hosts'].values():
                if result.get('failed'):
                    return index, str(result.get('msg'))
    return None, ''


@pytest.mark.parametrize('bad_vars, says', [
    # an AWX survey text answer: the argument spec turned it into a mapping for
    # its check only, the role read the string and dropped the setting
    ({'all': {'vars': {'swarm_manager_cluster_settings': 'snapshot_interval=6000'}}},
     ['manager1 (role swarm_manager): swarm_manager_cluster_settings is a string']),
    # a bad worker value was refused only in the workers play, after the
    # managers play had already changed manager2's labels
    ({'all': {'children': {
        'swarm_managers': {'hosts': {'manager2': {'swarm_node_labels': {'tier': 'changed'}}}},
        'swarm_workers': {'hosts': {'worker1': {'swarm_worker_availability': 'sleepy'}}}}}},
     ['worker1 (role swarm_worker)', 'swarm_worker_availability', 'sleepy']),
], ids=['settings-as-a-string', 'bad-worker-availability'])
def test_bad_role_variables_fail_in_the_first_play_and_change_nothing(formed, tmp_path, bad_vars, says):
    lab, extra = formed[0], formed[1]
    bad = tmp_path / 'bad.yml'
    bad.write_text(yaml.safe_dump(bad_vars))
    before = engine_truth(lab)
    rc, output = playbook(SITE, [lab.inventory, extra, str(bad)])
    assert rc != 0
    play, msg = failed_play(output)
    assert play == 0, (play, msg)
    assert all(s in msg for s in says), msg
    assert engine_truth(lab) == before
    assert lab.client('manager1').api.inspect_swarm()['Spec']['Raft']['SnapshotInterval'] == 5000


def test_check_mode_shows_the_cluster_settings_that_would_change_with_their_values(formed, tmp_path):
    lab, extra = formed[0], formed[1]
    settings = dict(CLUSTER_SETTINGS, snapshot_interval=6000)
    with open(extra) as f:
        inventory = yaml.safe_load(f)
    inventory['all']['vars'] = {'swarm_manager_cluster_settings': settings}
    changed = tmp_path / 'settings.yml'
    changed.write_text(yaml.safe_dump(inventory))
    before = engine_truth(lab)
    output = site(lab, str(changed), check=True)
    # what --check --diff shows of the acting manager's docker_swarm call: the setting with both values
    shown = [(result['actions'], result['changes'], result['diff']) for play in output['plays']
             for task in play['tasks'] if 'keep its cluster settings' in task['task']['name']
             for result in task['hosts'].values() if 'actions' in result]
    assert shown == [(['update'], [{'setting': 'Raft.SnapshotInterval', 'before': 5000, 'after': 6000}],
                      {'before': {'local_node_state': 'active', 'role': 'manager', 'Raft.SnapshotInterval': 5000},
                       'after': {'local_node_state': 'active', 'role': 'manager', 'Raft.SnapshotInterval': 6000}})], shown
    assert engine_truth(lab) == before


@pytest.fixture(scope='module')
def web(formed):
    """A global service of the lab image on the workers; each task serves its
    node's hostname. Host-mode port 18080; routing-mesh port 18081 where the
    kernel has IPVS."""
    lab = formed[0]
    api = lab.client('manager1').api
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(lab.test_image, hostname='{{.Node.Hostname}}'),
        placement=docker.types.Placement(constraints=['node.role==worker']))
    ports = [{'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 18080, 'PublishMode': 'host'}]
    if lab.caps.get('ipvs'):
        ports.append({'Protocol': 'tcp', 'TargetPort': 80, 'PublishedPort': 18081, 'PublishMode': 'ingress'})
    service = api.create_service(task, name='web', mode=docker.types.ServiceMode('global'),
                                 endpoint_spec={'Ports': ports})
    yield lab
    try:
        api.remove_service(service['ID'])
    except docker.errors.NotFound:
        pass  # a later test formed the swarm anew (both paths from bare engines)


def test_a_service_on_the_workers_answers_from_this_machine(web):
    for worker in ('worker1', 'worker2'):
        url = 'http://%s:18080/' % web.node(worker)['address']
        wait_for('%s answers' % url, lambda u=url, w=worker: http_get(u) == (200, w + '\n'), timeout=90)


def test_the_routing_mesh_answers_on_a_manager(web):
    if not web.caps.get('ipvs'):
        pytest.skip('no routing mesh here: %s' % web.caps.get('reason', 'the kernel has no IPVS'))
    url = 'http://%s:18081/' % web.node('manager1')['address']
    wait_for('the routing mesh answers on a manager',
             lambda: http_get(url)[1].strip() in ('worker1', 'worker2'), timeout=90)


# ---- the controller path (swarm_form_from_controller): the same inventory, one docker_swarm_cluster call

def shape(lab):
    """What both paths must agree on: each node's role, availability, labels and state."""
    return dict((host, (n['Spec']['Role'], n['Spec']['Availability'], n['Spec'].get('Labels') or {},
                        n['Status']['State'], (n.get('ManagerStatus') or {}).get('Reachability')))
                for host, n in truth(lab).items())


def controller(lab, extra_inventory, check=False):
    rc, output = playbook(SITE, [lab.inventory, extra_inventory], check=check, diff=check,
                          extra_vars={'swarm_form_from_controller': True})
    assert rc == 0, output
    text = json.dumps(output)
    assert 'SWMTKN-' not in text and 'SWMKEY-' not in text, 'a join token or unlock key in the output'
    return output


def test_the_controller_path_changes_nothing_on_the_role_paths_cluster(formed):
    lab, extra = formed[0], formed[1]
    before = shape(lab)
    assert changed_count(controller(lab, extra)) == 0
    assert shape(lab) == before


def test_both_paths_form_the_same_cluster_from_the_same_inventory(formed, tmp_path):
    lab = formed[0]
    # the same labels as the role path's run, without autolock (a fresh swarm per path)
    extra = labels_inventory(tmp_path, {'worker1': {'zone': 'a'}, 'worker2': {'zone': 'b'}},
                             manager_labels={'manager2': {'tier': 'control'}},
                             settings={'snapshot_interval': 5000})
    shapes = {}
    for path, run, other in (('controller', controller, site), ('roles', site, controller)):
        for name in lab.names():
            lab.client(name).api.leave_swarm(force=True)
        assert changed_count(run(lab, extra)) > 0
        shapes[path] = shape(lab)
        assert lab.client('manager1').api.inspect_swarm()['Spec']['Raft']['SnapshotInterval'] == 5000
        # each path re-runs with no change over the other's result
        assert changed_count(other(lab, extra)) == 0, path
        assert changed_count(run(lab, extra, check=True)) == 0, path
    assert shapes['controller'] == shapes['roles']
    assert sorted(shapes['roles']) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
    assert shapes['roles']['manager2'][2] == {'tier': 'control'} and shapes['roles']['worker2'][2] == {'zone': 'b'}
