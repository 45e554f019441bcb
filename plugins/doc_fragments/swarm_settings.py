# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:

    # The cluster settings of docker_swarm and docker_swarm_cluster (the same
    # argument spec: module_utils/_swarm.py CLUSTER_SETTINGS_SPEC, plus the
    # signing CA and the settings made at initialization only). Options left
    # unset are not managed.
    DOCUMENTATION = r"""
options:
  snapshot_interval:
    description: Raft log entries between snapshots; 0 or more.
    type: int
  keep_old_snapshots:
    description: Raft snapshots kept besides the current one; 0 or more.
    type: int
  log_entries_for_slow_followers:
    description: Raft log entries kept to sync slow followers after a snapshot; 0 or more.
    type: int
  heartbeat_tick:
    description: Raft ticks between heartbeats; at least 1.
    type: int
  election_tick:
    description:
      - Raft ticks without a leader before an election.
      - Must be greater than O(heartbeat_tick); when only one of the two is given, the other is the swarm's
        current value (1 and 10 for a new swarm).
    type: int
  dispatcher_heartbeat_period:
    description: Seconds between node heartbeats to the dispatcher; 0 or more.
    type: int
  task_history_retention_limit:
    description: Finished tasks kept per service slot; 0 or more.
    type: int
  node_cert_expiry:
    description: Validity of node certificates, in seconds; 0 or more.
    type: int
  external_cas:
    description:
      - External certificate authorities that sign node certificates. An empty list removes them.
    type: list
    elements: dict
    suboptions:
      url:
        description: URL of the CA's signing endpoint, an V(http://) or V(https://) URL.
        type: str
        required: true
      protocol:
        description: Protocol of the external CA.
        type: str
        choices: [cfssl]
        default: cfssl
      options:
        description: Options passed to the external CA.
        type: dict
      ca_cert:
        description: Root CA certificate (PEM) of the external CA.
        type: str
  signing_ca_cert:
    description:
      - Root CA certificate (PEM) the cluster should use to sign node certificates. Changing it rotates the root
        CA. Needs O(signing_ca_key). Only the certificate is compared (the swarm never returns the key).
    type: str
  signing_ca_key:
    description:
      - Key (PEM) of O(signing_ca_cert).
    type: str
  autolock_managers:
    description:
      - Lock managers' Raft keys with a key that must be given after an engine restart. M(nativeswarm.cluster.docker_swarm)
        returns the key (O(nativeswarm.cluster.docker_swarm#module:return_unlock_key)) and unlocks a manager with
        it (O(nativeswarm.cluster.docker_swarm#module:unlock_key)).
    type: bool
  labels:
    description:
      - Labels of the cluster itself, not of its nodes (replaces all of them).
      - Values are text; numbers and booleans are turned into text as the docker CLI sends them (V(1) becomes
        V("1"), V(true) becomes V("true")). A label without a key or with no value (V(null)) is refused; use
        V("") for an empty value.
    type: dict
  data_path_port:
    description:
      - UDP port for VXLAN data traffic; 0 or more. Set at initialization only.
    type: int
  default_addr_pool:
    description:
      - Subnets (CIDR) overlay networks are allocated from. Set at initialization only.
    type: list
    elements: str
  subnet_size:
    description:
      - Prefix length of each network allocated from O(default_addr_pool); at least 1. Set at initialization only.
    type: int
"""
