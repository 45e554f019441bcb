# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:

    # Connection options shared by every module; same names and environment
    # fallbacks as community.docker so one module_defaults block serves both.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - URL of the Docker Engine API, for example V(unix:///var/run/docker.sock) or V(tcp://192.0.2.10:2376).
      - If not set, the value of the E(DOCKER_HOST) environment variable is used, else V(unix:///var/run/docker.sock).
      - V(ssh://user@host) reaches the engine through the host's SSH server (the Docker SDK's SSH transport, which
        needs the Python package C(paramiko)) and the C(docker) command there. The host's key must be in
        C(~/.ssh/known_hosts) of the user that runs the module (a host missing from it, or with another key, is
        refused, whatever the SDK's release) and that user's key in the host's C(authorized_keys).
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  tls_hostname:
    description:
      - Host name expected in the engine's TLS certificate when O(validate_certs=true).
      - If not set, E(DOCKER_TLS_HOSTNAME) is used, else the host part of O(docker_host).
      - Only honoured by Docker SDK for Python releases older than 7.0; newer releases always check the host part of O(docker_host).
    type: str
  api_version:
    description:
      - Docker Engine API version to speak (C(MAJOR.MINOR), 1.41 or later), or V(auto) to negotiate it.
      - If not set, E(DOCKER_API_VERSION) is used, else V(auto).
    type: str
    default: auto
    aliases: [docker_api_version]
  timeout:
    description:
      - Seconds to wait for one Engine API response; more than 0.
      - If not set, E(DOCKER_TIMEOUT) is used, else V(60).
    type: int
    default: 60
  ca_path:
    description:
      - CA certificate (PEM) that signed the engine's certificate.
      - If not set and E(DOCKER_CERT_PATH) is set, C(ca.pem) in that directory is used.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description:
      - Client certificate (PEM) presented to the engine.
      - If not set and E(DOCKER_CERT_PATH) is set, C(cert.pem) in that directory is used.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
      - If not set and E(DOCKER_CERT_PATH) is set, C(key.pem) in that directory is used.
    type: path
    aliases: [tls_client_key, key_path]
  tls:
    description:
      - Talk TLS to the engine without checking its certificate. Prefer O(validate_certs).
      - If not set, E(DOCKER_TLS) is used.
    type: bool
    default: false
  validate_certs:
    description:
      - Talk TLS to the engine and check its certificate against O(ca_path).
      - If not set, E(DOCKER_TLS_VERIFY) is used.
      - O(ca_path) is used even when E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) is set, and O(tls) without
        O(validate_certs) does not check the certificate whatever those variables say.
    type: bool
    default: false
    aliases: [tls_verify]
  debug:
    description:
      - Add RV(ignore:api_calls) to the result, the Engine API requests the module made.
    type: bool
    default: false
requirements:
  - Docker SDK for Python >= 5.0.0 on the host that runs the module (Debian/Ubuntu package C(python3-docker), or C(pip install docker)).
  - Docker Engine API >= 1.41 (Docker Engine 20.10 or later).
notes:
  - Connection options can be set once for all modules of this collection with C(module_defaults) and the action group C(group/nativeswarm.cluster.docker).
  - Options are checked before the engine is contacted; an engine that cannot be reached is reported in words (no socket at that path,
    connection refused, certificate not accepted, no answer within O(timeout) seconds...), never with a traceback.
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
"""
