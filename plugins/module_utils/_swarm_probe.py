# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ask a swarm manager address who it is, before joining it (private: may change).

A swarm manager listens on its swarm port (2377) with TLS. Its certificate
names the cluster (subject O = cluster ID) and the node's role (OU =
swarm-manager), and it serves the cluster's root CA certificate to anyone
through the gRPC method ``docker.swarmkit.v1.CA/GetRootCACertificate`` -- the
same request a joining engine makes to check the CA digest of its join token.

:func:`probe` opens one TLS connection to an address and learns all three with
the Python standard library only: the planning core's certificate reader
(``_swarm.certificate_subject``) and a minimal HTTP/2 + gRPC exchange for one
unary call. Whatever cannot be learnt
is left as None (unknown), never guessed; the caller decides what the answers
mean (see ``_swarm.join_targets``).
"""

from __future__ import annotations

import socket
import ssl
import struct

from ansible_collections.nativeswarm.cluster.plugins.module_utils._swarm import certificate_subject

ROOT_CA_PATH = '/docker.swarmkit.v1.CA/GetRootCACertificate'
H2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


class ProbeError(Exception):
    """The answer was not what a swarm manager says."""


# ---------------------------------------------------------------- the certificate

def manager_identity(der):
    """{'manager' (True, False, or None when unreadable), 'cluster_id',
    'node_id'} from the DER certificate a swarm port shows."""
    subject = certificate_subject(ssl.DER_cert_to_PEM_cert(der))
    if not subject:
        return dict(manager=None, cluster_id=None, node_id=None)
    return dict(manager=subject.get('OU') == 'swarm-manager', cluster_id=subject.get('O'),
                node_id=subject.get('CN'))


# ---------------------------------------------------------------- HTTP/2 + gRPC (one unary call)

def _hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _header(name, value):
    """An HPACK literal header field without indexing, new name, no Huffman."""
    name, value = name.encode(), value.encode()
    return b'\x00' + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def frame(kind, flags, stream, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([kind, flags]) + struct.pack('>I', stream) + payload


def grpc_request(authority, path=ROOT_CA_PATH):
    """Bytes a client sends for one unary gRPC call with an empty message."""
    headers = (b'\x83\x87'  # :method POST, :scheme https (HPACK static table)
               + _header(':path', path) + _header(':authority', authority)
               + _header('content-type', 'application/grpc') + _header('te', 'trailers'))
    return (H2_PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, headers)
            + frame(DATA, END_STREAM, 1, b'\x00\x00\x00\x00\x00'))


def read_grpc_reply(recv, send):
    """The gRPC message of stream 1's answer. ``recv(n)`` returns exactly n
    bytes; ``send(bytes)`` writes (for SETTINGS acknowledgements). ProbeError
    when the call failed (no message before the end of the stream)."""
    body = b''
    while True:
        head = recv(9)
        length = int.from_bytes(head[:3], 'big')
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], 'big') & 0x7fffffff
        payload = recv(length)
        if kind == SETTINGS and not flags & ACK:
            send(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            send(frame(PING, ACK, 0, payload))
        elif kind in (GOAWAY, RST_STREAM):
            raise ProbeError('the call was refused')
        elif stream == 1 and kind == DATA:
            body += payload
        if stream == 1 and kind in (DATA, HEADERS) and flags & END_STREAM:
            break
        if len(body) >= 5 and len(body) >= 5 + int.from_bytes(body[1:5], 'big'):
            break
    if len(body) < 5 or body[0] != 0:
        raise ProbeError('no answer to the call')
    size = int.from_bytes(body[1:5], 'big')
    if len(body) < 5 + size:
        raise ProbeError('truncated answer')
    return body[5:5 + size]


def _varint(data, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProbeError('truncated message')
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7f) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def proto_bytes_field(message, number):
    """First value of a length-delimited protobuf field, or None."""
    pos = 0
    while pos < len(message):
        key, pos = _varint(message, pos)
        wire = key & 7
        if wire == 0:
            _value, pos = _varint(message, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(message, pos)
            if key >> 3 == number:
                if pos + length > len(message):
                    raise ProbeError('truncated message')
                return message[pos:pos + length]
            pos += length
        else:
            raise ProbeError('unexpected protobuf wire type %d' % wire)
    return None


# ---------------------------------------------------------------- the probe

def split_addr(addr):
    """('host', port) of a normalized 'host:port' or '[v6]:port' address."""
    host, _sep, port = addr.rpartition(':')
    return host.strip('[]'), int(port)


def probe(addr, timeout=5.0):
    """What the swarm port at ``addr`` ('host:port') says about itself:
    {'addr', 'error' (None when it answered), 'manager' (True, False or None
    when unknown), 'cluster_id', 'node_id', 'root_ca' (PEM or None)}."""
    result = dict(addr=addr, error=None, manager=None, cluster_id=None, node_id=None, root_ca=None)
    try:
        host, port = split_addr(addr)
    except ValueError:
        result['error'] = 'not a host:port address'
        return result
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        result['error'] = 'no answer within %gs' % timeout
        return result
    except OSError as exc:
        result['error'] = exc.strerror or exc.__class__.__name__
        return result
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only reading who answers; nothing is sent but a public call
        context.set_alpn_protocols(['h2'])
        try:
            conn = context.wrap_socket(raw, server_hostname=None)
        except (OSError, ValueError):
            result['manager'] = False  # something listens, but no TLS server like a swarm manager
            return result
        raw = conn
        result.update(manager_identity(conn.getpeercert(binary_form=True)))
        if not result['manager']:
            return result

        def recv(size):
            data = b''
            while len(data) < size:
                chunk = conn.recv(size - len(data))
                if not chunk:
                    raise ProbeError('connection closed')
                data += chunk
            return data

        try:
            conn.sendall(grpc_request(addr))
            pem = proto_bytes_field(read_grpc_reply(recv, conn.sendall), 1)
            result['root_ca'] = pem.decode('utf-8') if pem else None
        except (OSError, ValueError, ProbeError):
            pass  # the root CA stays unknown
        return result
    finally:
        raw.close()


def probe_all(addrs, timeout=5.0):
    """probe() of every address, at the same time; results in the same order."""
    if len(addrs) <= 1:
        return [probe(addr, timeout) for addr in addrs]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(len(addrs), 8)) as pool:
        return list(pool.map(lambda addr: probe(addr, timeout), addrs))
