"""site.yml end to end on full hosts: 3 managers + 2 workers of the lab's
host kind (Debian bookworm, systemd, its own dockerd), reached over the
community.docker.docker connection like any remote host; the modules run
on the nodes with the distribution's python3-docker. Truth from the engines."""

import os

import pytest

from ansible_run import ROOT, changed_count, playbook

SITE = os.path.join(ROOT, 'playbooks', 'site.yml')


@pytest.mark.parametrize('lab_host', [{'managers': 3, 'workers': 2}], indirect=True)
def test_site_on_host_nodes_forms_the_swarm_and_reruns_without_change(lab_host):
    rc, first = playbook(SITE, lab_host.inventory)
    assert rc == 0, first
    assert changed_count(first) > 0
    nodes = dict((n['Description']['Hostname'], n) for n in lab_host.client('manager1').api.nodes())
    assert sorted(nodes) == ['manager1', 'manager2', 'manager3', 'worker1', 'worker2']
    assert all(n['Status']['State'] == 'ready' for n in nodes.values())
    assert sorted(h for h, n in nodes.items()
                  if (n.get('ManagerStatus') or {}).get('Reachability') == 'reachable') == ['manager1', 'manager2',
                                                                                            'manager3']
    rc, again = playbook(SITE, lab_host.inventory)
    assert rc == 0 and changed_count(again) == 0, again
