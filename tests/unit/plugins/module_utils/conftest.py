# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection options fall back to DOCKER_* environment variables: the
unit tests of module_utils run without the ones of whoever runs them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ('DOCKER_CERT_PATH', 'DOCKER_HOST', 'DOCKER_TLS', 'DOCKER_TLS_VERIFY', 'DOCKER_TLS_HOSTNAME',
                 'DOCKER_API_VERSION', 'DOCKER_TIMEOUT'):
        monkeypatch.delenv(name, raising=False)
