# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:

    # How the Flocker modules reach the control service's v1 REST API
    # (module_utils/_flocker_client.py CONNECTION_SPEC).
    DOCUMENTATION = r"""
options:
  control_host:
    description:
      - Address or host name of the control service, as the host this module runs on reaches it.
      - The server's certificate is checked against the name C(control-service) and O(ca_path), whatever this
        address is, as Flocker's own clients do.
    type: str
    required: true
    aliases: [control_service]
  control_port:
    description: TCP port of the control service's REST API.
    type: int
    default: 4523
  ca_path:
    description: The cluster CA certificate (C(cluster.crt)) on the host this module runs on.
    type: path
    required: true
    aliases: [cluster_cert]
  client_cert:
    description:
      - An API user's certificate (CN C(user-<name>), such as C(plugin.crt) or the operator's), signed by the
        cluster CA. A node certificate (CN C(node-...)) is refused by the control service.
    type: path
    required: true
    aliases: [user_cert]
  client_key:
    description: The unencrypted key of O(client_cert).
    type: path
    required: true
    aliases: [user_key]
  timeout:
    description: Seconds (more than 0) to wait for one answer of the control service.
    type: int
    default: 30
"""
