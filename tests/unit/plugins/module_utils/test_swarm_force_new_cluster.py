# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_swarm's force_new_cluster: when it re-forms the control plane,
when it does nothing, and when it refuses before anything changes."""

from __future__ import annotations

import pytest

from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    PlanError, local_state, plan_force_new_cluster)


def info(state, manager):
    return {'Swarm': {'LocalNodeState': state, 'NodeID': 'n1' if state != 'inactive' else '',
                      'ControlAvailable': manager}}


@pytest.mark.parametrize('state', ['active', 'pending'])
def test_a_manager_without_leader_is_re_formed(state):
    # a restored swarm directory comes up pending: its engine keeps calling the managers that are gone
    assert plan_force_new_cluster(local_state(info(state, True)), leaderless=True) == ['force_new_cluster']


def test_a_manager_whose_swarm_has_a_leader_is_left_alone():
    assert plan_force_new_cluster(local_state(info('active', True)), leaderless=False) == []


@pytest.mark.parametrize('state,manager,words', [
    ('active', False, 'a worker'),
    ('inactive', False, 'in swarm state inactive'),
    ('locked', False, 'in swarm state locked'),
    ('error', False, 'in swarm state error'),
])
def test_anything_but_a_manager_is_refused(state, manager, words):
    with pytest.raises(PlanError) as exc:
        plan_force_new_cluster(local_state(info(state, manager)), leaderless=True)
    assert 'force_new_cluster: this node is %s' % words in str(exc.value)
    assert 'nothing was changed' in str(exc.value)
