# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the Flocker certificate generator (plugins/module_utils/_flocker_ca.py):
the subjects and extensions flocker-ca gives, and what is kept or refused on a later run."""

from __future__ import annotations

import os

import pytest

ca = pytest.importorskip('ansible_collections.nativeswarm.cluster.plugins.module_utils._flocker_ca')
if not ca.HAS_CRYPTOGRAPHY:
    pytest.skip('cryptography is not installed', allow_module_level=True)

from cryptography import x509  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: E402

KEY = {}


@pytest.fixture(autouse=True)
def fast_keys(monkeypatch):
    """One 2048-bit key per test session: the generator's shape is under test, not RSA."""
    original = ca.new_key

    def new_key(_size):
        if 'key' not in KEY:
            KEY['key'] = original(2048)
        return KEY['key']
    monkeypatch.setattr(ca, 'new_key', new_key)


def make_all(directory, cluster='prod', control=('control.example.com', '10.0.0.10'), nodes=('n1',),
             users=('plugin',)):
    existing, missing = ca.plan(str(directory), cluster, list(control) if control is not None else None,
                                list(nodes), list(users))
    ca_key, ca_cert = existing.get(('cluster', None), (None, None))
    for entry in missing:
        key, cert = ca.make(entry, ca_key, ca_cert, cluster, list(control or []), 2048, 7300)
        crt_name, key_name = ca.files(*entry)
        os.makedirs(os.path.dirname(os.path.join(str(directory), crt_name)), exist_ok=True)
        with open(os.path.join(str(directory), key_name), 'wb') as handle:
            handle.write(ca.key_pem(key))
        with open(os.path.join(str(directory), crt_name), 'wb') as handle:
            handle.write(ca.cert_pem(cert))
        existing[entry] = (key, cert)
        if entry[0] == 'cluster':
            ca_key, ca_cert = key, cert
    return existing, missing


def test_certificates_have_the_flocker_ca_shape(tmp_path):
    existing, missing = make_all(tmp_path)
    assert missing == [('cluster', None), ('control', None), ('node', 'n1'), ('user', 'plugin')]
    ca_cert = existing[('cluster', None)][1]
    cluster_uuid = ca.organizational_unit(ca_cert)
    assert ca.common_name(ca_cert) == 'prod' and len(cluster_uuid) == 36
    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ca_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)

    control = existing[('control', None)][1]
    assert ca.common_name(control) == 'control-service'
    assert ca.san_set(control) == {('dns', 'control-service'), ('dns', 'control.example.com'), ('ip', '10.0.0.10')}
    assert control.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])

    node = existing[('node', 'n1')][1]
    assert ca.common_name(node).startswith('node-') and len(ca.node_uuid_of(node)) == 36
    user = existing[('user', 'plugin')][1]
    assert ca.common_name(user) == 'user-plugin'
    assert list(user.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    for cert in (control, node, user):
        assert ca.organizational_unit(cert) == cluster_uuid
        assert ca.signed_by(cert, ca_cert)
        assert cert.serial_number != ca_cert.serial_number


def test_second_run_keeps_everything(tmp_path):
    first, _missing = make_all(tmp_path)
    second, missing = ca.plan(str(tmp_path), 'prod', ['control.example.com', '10.0.0.10'], ['n1'], ['plugin'])
    assert missing == []
    assert ca.node_uuid_of(second[('node', 'n1')][1]) == ca.node_uuid_of(first[('node', 'n1')][1])


def test_new_entries_are_signed_by_the_kept_ca(tmp_path):
    first, _missing = make_all(tmp_path)
    second, missing = make_all(tmp_path, nodes=('n1', 'n2'), users=('plugin', 'admin'))
    assert missing == [('node', 'n2'), ('user', 'admin')]
    assert ca.signed_by(second[('node', 'n2')][1], first[('cluster', None)][1])


@pytest.mark.parametrize('change, fragment', [
    (dict(cluster='other'), "for cluster 'prod', not 'other'"),
    (dict(control=('new.example.com',)), 'does not name new.example.com'),
])
def test_refusals_on_a_later_run(tmp_path, change, fragment):
    make_all(tmp_path)
    args = dict(cluster='prod', control=['control.example.com'], nodes=['n1'], users=['plugin'])
    args.update(change)
    with pytest.raises(ca.CertificateError, match=fragment):
        ca.plan(str(tmp_path), args['cluster'], list(args['control']), args['nodes'], args['users'])


def test_half_pairs_foreign_certificates_and_orphans_refused(tmp_path):
    make_all(tmp_path)
    os.remove(str(tmp_path / 'users' / 'plugin.key'))
    with pytest.raises(ca.CertificateError, match='exists without'):
        ca.plan(str(tmp_path), 'prod', None, [], ['plugin'])
    other = tmp_path / 'other'
    make_all(other)
    for name in ('users/plugin.crt', 'users/plugin.key'):
        os.replace(str(other / name), str(tmp_path / name))
    with pytest.raises(ca.CertificateError, match='not signed by the cluster CA'):
        ca.plan(str(tmp_path), 'prod', None, [], ['plugin'])
    os.remove(str(tmp_path / 'cluster.crt'))
    os.remove(str(tmp_path / 'cluster.key'))
    with pytest.raises(ca.CertificateError, match='not the cluster CA that signed them'):
        ca.plan(str(tmp_path), 'prod', None, ['n1'], [])


def test_labels_that_are_not_file_names_refused(tmp_path):
    with pytest.raises(ca.CertificateError, match='names a file'):
        ca.plan(str(tmp_path), 'prod', None, ['../etc'], [])
