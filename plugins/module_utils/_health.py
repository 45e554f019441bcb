# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Health checks of a swarm, as one line per problem (private: may change).

Everything but :func:`peer_certificate` is pure: it takes what the Engine API
returned (nodes, services, tasks, the swarm) and certificates already read,
and returns facts and problem lines. What is checked:

- quorum: lost (no leader) or at risk (fault tolerance 0: losing one more
  reachable manager loses it), an even manager count;
- managers whose Raft reachability is not ``reachable``; nodes not ``ready``;
- services: replicated ones run as many tasks as their replicas; global ones
  run a task on every node the scheduler gave one (a task whose desired state
  is running, on a ready node). A task counts as running when its state is
  running and its node is ready. Jobs are not checked;
- certificates: the root CA certificate of the swarm, and the node
  certificate each manager shows on its swarm port (2377). Workers do not
  listen there, so their node certificates are not read; they are issued by
  the same CA with the same expiry setting and renewed the same way.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import socket
import ssl

from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import (
    _der, certificate_subject, is_manager, node_summary)

DAY = 86400


# ---------------------------------------------------------------- certificates

def _pem_der(pem):
    match = re.search(r'-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----', pem or '', re.S)
    if not match:
        return None
    try:
        return base64.b64decode(''.join(match.group(1).split()), validate=True)
    except (ValueError, binascii.Error):
        return None


def _der_time(tag, text):
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ (RFC 5280: 50-99 are 19xx)
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError('not a time')
    if not text.endswith('Z'):
        raise ValueError('not UTC')
    return datetime.datetime.strptime(text[:14], '%Y%m%d%H%M%S').replace(tzinfo=datetime.timezone.utc)


def certificate_not_after(pem):
    """The end of validity (aware UTC datetime) of the first certificate in
    ``pem`` (text), or None when it cannot be read."""
    der = _pem_der(pem)
    if der is None:
        return None
    try:
        certificate = next(_der(der, 0, len(der)))
        fields = list(_der(der, *next(_der(der, *certificate[1:]))[1:]))
        if fields[0][0] == 0xa0:  # explicit version
            fields = fields[1:]
        times = list(_der(der, *fields[3][1:]))  # serial, algorithm, issuer, validity
        tag, start, end = times[1]
        return _der_time(tag, der[start:end].decode('ascii'))
    except (ValueError, IndexError, StopIteration, UnicodeDecodeError):
        return None


def days_left(not_after, now):
    """Whole days from ``now`` until ``not_after`` (negative once expired)."""
    return int((not_after - now).total_seconds() // DAY)


def peer_certificate(addr, timeout=5.0):
    """(PEM, None) of the certificate the TLS server at ``addr`` ('host:port')
    shows, or (None, reason). Nothing is verified or sent: only read."""
    host, _sep, port = addr.rpartition(':')
    try:
        raw = socket.create_connection((host.strip('[]'), int(port)), timeout=timeout)
    except socket.timeout:
        return None, 'no answer within %gs' % timeout
    except (OSError, ValueError) as exc:
        return None, getattr(exc, 'strerror', None) or 'cannot connect'
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            conn = context.wrap_socket(raw, server_hostname=None)
        except (OSError, ValueError):
            return None, 'no TLS server there'
        raw = conn
        der = conn.getpeercert(binary_form=True)
        return (ssl.DER_cert_to_PEM_cert(der), None) if der else (None, 'no certificate shown')
    finally:
        raw.close()


def manager_certificate(node, pem, error=None):
    """{'hostname', 'node_id', 'not_after', 'error'} of the certificate read
    at a manager's swarm port; an error when it cannot be read or is not
    that node's (its subject CN must be the node ID)."""
    summary = node_summary(node)
    result = dict(hostname=summary['hostname'], node_id=summary['id'], not_after=None, error=error)
    if error:
        return result
    subject = certificate_subject(pem)
    if subject.get('CN') != summary['id']:
        result['error'] = 'the certificate at %s is not this node\'s (it names %s)' % (
            summary['manager_address'], subject.get('CN') or 'no node')
        return result
    result['not_after'] = certificate_not_after(pem)
    if result['not_after'] is None:
        result['error'] = 'the certificate at %s cannot be read' % summary['manager_address']
    return result


def certificate_problems(certificates, root_ca_not_after, threshold_days, now):
    """Lines for the certificates that expire within ``threshold_days`` (or
    cannot be read); none when ``threshold_days`` is 0 or less."""
    if threshold_days <= 0:
        return []
    lines = []
    if root_ca_not_after is None:
        lines.append('root CA certificate of the swarm cannot be read')
    elif days_left(root_ca_not_after, now) < threshold_days:
        lines.append(_expiry('root CA certificate', days_left(root_ca_not_after, now)))
    for cert in certificates:
        if cert.get('error'):
            lines.append('certificate of node %s cannot be read: %s' % (cert['hostname'], cert['error']))
        elif days_left(cert['not_after'], now) < threshold_days:
            lines.append(_expiry('certificate of node %s' % cert['hostname'], days_left(cert['not_after'], now)))
    return lines


def _expiry(what, days):
    if days < 0:
        return '%s expired %d days ago' % (what, -days)
    return '%s expires in %d days' % (what, days)


# ---------------------------------------------------------------- services

def _ready_ids(nodes):
    return set(n.get('ID') for n in nodes if (n.get('Status') or {}).get('State') == 'ready')


def service_status(services, tasks, nodes):
    """[{'name', 'mode', 'desired', 'running'}] of the replicated and global
    services, sorted by name (jobs are left out)."""
    ready = _ready_ids(nodes)
    by_service = {}
    for task in tasks:
        by_service.setdefault(task.get('ServiceID'), []).append(task)
    result = []
    for service in services:
        spec = service.get('Spec') or {}
        mode = spec.get('Mode') or {}
        wanted = [t for t in by_service.get(service.get('ID'), []) if t.get('DesiredState') == 'running']
        running = [t for t in wanted
                   if (t.get('Status') or {}).get('State') == 'running' and t.get('NodeID') in ready]
        if 'Replicated' in mode:
            replicas = (mode.get('Replicated') or {}).get('Replicas')
            desired, kind = 1 if replicas is None else replicas, 'replicated'
        elif 'Global' in mode:
            desired, kind = len([t for t in wanted if t.get('NodeID') in ready]), 'global'
        else:
            continue
        result.append(dict(name=spec.get('Name') or service.get('ID'), mode=kind, desired=desired,
                           running=len(running)))
    return sorted(result, key=lambda s: s['name'])


def service_problems(status):
    return ['service %s: %d of %d tasks running' % (s['name'], s['running'], s['desired'])
            for s in status if s['running'] < s['desired']]


# ---------------------------------------------------------------- cluster

def _names(nodes):
    """Node ID -> hostname, with the ID added where nodes share a hostname."""
    counts = {}
    for n in nodes:
        host = node_summary(n)['hostname']
        counts[host] = counts.get(host, 0) + 1
    names = {}
    for n in nodes:
        summary = node_summary(n)
        host = summary['hostname'] or summary['id']
        names[summary['id']] = host if counts.get(summary['hostname'], 0) == 1 else '%s (%s)' % (
            host, (summary['id'] or '')[:12])
    return names


def cluster_problems(nodes, facts):
    """Lines for quorum, manager count, unreachable managers and nodes that are
    not ready. ``facts`` is ``_swarm.quorum_facts(nodes)``."""
    lines = []
    names = _names(nodes)
    nodes = sorted(nodes, key=lambda n: (not is_manager(n), names[n.get('ID')]))
    if facts['managers'] and facts['reachable_managers'] < facts['quorum']:
        lines.append('quorum lost: %d of %d managers reachable, %d needed'
                     % (facts['reachable_managers'], facts['managers'], facts['quorum']))
    elif facts['fault_tolerance'] == 0:
        lines.append('quorum at risk: fault tolerance 0 (%d of %d managers reachable, %d needed)'
                     % (facts['reachable_managers'], facts['managers'], facts['quorum']))
    if facts['managers'] and facts['managers'] % 2 == 0:
        lines.append('even manager count: %d' % facts['managers'])
    for n in nodes:
        reach = (n.get('ManagerStatus') or {}).get('Reachability')
        if is_manager(n) and reach != 'reachable':
            lines.append('manager %s unreachable' % names[n.get('ID')]
                         + ('' if reach in (None, 'unreachable') else ' (%s)' % reach))
    for n in nodes:
        state = (n.get('Status') or {}).get('State')
        if state != 'ready':
            lines.append('node %s %s' % (names[n.get('ID')], state or 'in an unknown state'))
    return lines


def quorum_lost_problems(facts):
    """Lines for a manager whose swarm has no leader (``_swarm.quorum_lost_facts``)."""
    lines = ['quorum lost: the swarm has no leader (%d managers known, a majority unreachable, %d needed)'
             % (facts['managers'], facts['quorum'])]
    if facts['managers'] % 2 == 0:
        lines.append('even manager count: %d' % facts['managers'])
    return lines
