# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Flocker cluster certificates made with the ``cryptography`` library, in the
shape ``flocker-ca`` gives them (private: may change).

Certificates (RSA, SHA-256, random serials, 20 years by default), each with
the cluster UUID as OU:

- the cluster CA: CN = cluster name, CA:TRUE pathlen 0 (critical), key usage
  keyCertSign + cRLSign, subject and authority key identifiers;
- the control service: CN ``control-service``, SANs ``DNS:control-service``
  and the control host's names and addresses, serverAuth;
- one per node: CN ``node-<node uuid>``, clientAuth;
- one per API user: CN ``user-<name>``, clientAuth.

``plan`` reads what exists and says what is missing; nothing that exists is
ever made again: a certificate that does not fit (another CA, another name)
is refused with the file named, so a cluster is never re-keyed silently.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import uuid

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

CONTROL = 'control-service'
NODE_PREFIX = 'node-'
USER_PREFIX = 'user-'
LABEL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')


class CertificateError(Exception):
    """The certificates cannot be made or kept as asked; the message says why."""


def check_label(label, what):
    if not LABEL_RE.match(str(label)):
        raise CertificateError('%s %r must be 1 to 128 letters, digits, dots, dashes or underscores, starting with a '
                               'letter or digit (it names a file)' % (what, label))
    return str(label)


def files(label_kind, label):
    """Certificate and key file names, relative to the certificate directory."""
    if label_kind == 'cluster':
        base = 'cluster'
    elif label_kind == 'control':
        base = CONTROL
    elif label_kind == 'node':
        base = os.path.join('nodes', label)
    else:
        base = os.path.join('users', label)
    return base + '.crt', base + '.key'


def san_entries(names):
    """SAN entries of the control certificate: DNS:control-service plus each
    name (an IP address as IP:, else DNS:)."""
    entries, seen = [x509.DNSName(CONTROL)], {('dns', CONTROL)}
    for name in names:
        try:
            entry, key = x509.IPAddress(ipaddress.ip_address(name)), ('ip', str(ipaddress.ip_address(name)))
        except ValueError:
            entry, key = x509.DNSName(name), ('dns', name.lower())
        if key not in seen:
            seen.add(key)
            entries.append(entry)
    return entries


def san_set(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set([('dns', n.lower()) for n in ext.get_values_for_type(x509.DNSName)]
               + [('ip', str(a)) for a in ext.get_values_for_type(x509.IPAddress)])


def common_name(cert):
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def organizational_unit(cert):
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return values[0].value if values else None


def new_key(key_size):
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(subject, issuer, public_key, days):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _name(common, cluster_uuid):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, cluster_uuid),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(cluster_name, key_size, days, cluster_uuid=None):
    """``(key, certificate)`` of a new cluster CA."""
    key = new_key(key_size)
    name = _name(cluster_name, cluster_uuid or str(uuid.uuid4()))
    cert = (_builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, common, usage, key_size, days, sans=None):
    """``(key, certificate)`` signed by the cluster CA; ``usage`` is
    ``server`` or ``client``."""
    key = new_key(key_size)
    builder = (_builder(_name(common, organizational_unit(ca_cert)), ca_cert.subject, key.public_key(), days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if usage == 'server'
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def signed_by(cert, ca_cert):
    if cert.issuer != ca_cert.subject:
        return False
    try:
        ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                    cert.signature_hash_algorithm)
    except InvalidSignature:
        return False
    return True


def same_key(key, cert):
    numbers = key.public_key().public_numbers()
    return numbers == cert.public_key().public_numbers()


def load_pair(directory, names):
    """``(key, cert)`` read from the two files, None when neither exists;
    CertificateError when only one exists or they do not belong together."""
    crt, key = (os.path.join(directory, n) for n in names)
    present = [os.path.exists(crt), os.path.exists(key)]
    if not any(present):
        return None
    if not all(present):
        raise CertificateError('%s exists without %s; restore the missing file or remove the other one (nothing '
                               'was changed)' % ((crt, key) if present[0] else (key, crt)))
    try:
        with open(crt, 'rb') as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        with open(key, 'rb') as handle:
            private = serialization.load_pem_private_key(handle.read(), password=None)
    except (ValueError, TypeError, OSError):
        raise CertificateError('%s and %s are not a readable PEM certificate and unencrypted key (nothing was '
                               'changed)' % (crt, key)) from None
    if not same_key(private, cert):
        raise CertificateError('%s is not the key of %s (nothing was changed)' % (key, crt))
    return private, cert


def node_uuid_of(cert):
    common = common_name(cert) or ''
    return common[len(NODE_PREFIX):] if common.startswith(NODE_PREFIX) else None


def plan(directory, cluster_name, control_names, nodes, users):
    """Read what exists under ``directory`` and check it fits the request.
    Returns ``(existing, missing)``: ``existing`` maps an entry
    (``('cluster', None)``, ``('control', None)``, ``('node', label)``,
    ``('user', name)``) to its ``(key, cert)``; ``missing`` lists the entries
    to make, in order (the CA first)."""
    entries = [('cluster', None)]
    if control_names is not None:
        entries.append(('control', None))
    entries += [('node', check_label(n, 'node')) for n in nodes]
    entries += [('user', check_label(u, 'API user')) for u in users]
    existing, missing = {}, []
    for entry in entries:
        pair = load_pair(directory, files(*entry))
        if pair is None:
            missing.append(entry)
        else:
            existing[entry] = pair
    ca = existing.get(('cluster', None))
    if ca is None:
        if existing:
            raise CertificateError('certificates exist in %s (%s) but not the cluster CA that signed them; restore '
                                   'cluster.crt and cluster.key, or remove the directory to start a new cluster '
                                   '(nothing was changed)' % (directory, ', '.join(files(*e)[0] for e in existing)))
        return existing, missing
    ca_cert = ca[1]
    if common_name(ca_cert) != cluster_name:
        raise CertificateError('the cluster CA in %s is for cluster %r, not %r; a cluster is never re-keyed here: '
                               'use its name, or another directory for a new cluster (nothing was changed)'
                               % (directory, common_name(ca_cert), cluster_name))
    for entry, (_key, cert) in existing.items():
        if entry[0] == 'cluster':
            continue
        where = os.path.join(directory, files(*entry)[0])
        if not signed_by(cert, ca_cert):
            raise CertificateError('%s is not signed by the cluster CA in %s; remove it to make a new one (nothing '
                                   'was changed)' % (where, directory))
        common = common_name(cert) or ''
        expected = {'control': common == CONTROL, 'node': node_uuid_of(cert) is not None,
                    'user': common == USER_PREFIX + (entry[1] or '')}[entry[0]]
        if not expected:
            raise CertificateError('%s has CN %r, which is not what a %s certificate has; remove it to make a new '
                                   'one (nothing was changed)' % (where, common, entry[0]))
        if entry[0] == 'control':
            lacking = [str(getattr(e, 'value', e)) for e in san_entries(control_names)
                       if (('ip', str(e.value)) if isinstance(e, x509.IPAddress) else ('dns', e.value.lower()))
                       not in san_set(cert)]
            if lacking:
                raise CertificateError('%s does not name %s (its names: %s); certificates are never made again '
                                       'here: remove it (and its key) to make one with the new names (nothing was '
                                       'changed)' % (where, ', '.join(lacking),
                                                     ', '.join(sorted(v for _k, v in san_set(cert)))))
    return existing, missing


def make(entry, ca_key, ca_cert, cluster_name, control_names, key_size, days):
    """``(key, cert)`` for one missing entry."""
    kind, label = entry
    if kind == 'cluster':
        return make_ca(cluster_name, key_size, days)
    if kind == 'control':
        return make_leaf(ca_key, ca_cert, CONTROL, 'server', key_size, days, san_entries(control_names))
    if kind == 'node':
        return make_leaf(ca_key, ca_cert, NODE_PREFIX + str(uuid.uuid4()), 'client', key_size, days)
    return make_leaf(ca_key, ca_cert, USER_PREFIX + label, 'client', key_size, days)
