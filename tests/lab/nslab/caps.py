"""What this kernel lets a swarm do: IPVS (routing mesh, VIPs), ESP
(encrypted overlays), VXLAN (overlays at all)."""

import os
import socket
import struct

from .testimage import TEST_IMAGE
from .util import run


def _genl_family_exists(family):
    """Ask the generic netlink controller whether a family (e.g. IPVS) exists."""
    NETLINK_GENERIC, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME = 16, 0x10, 3, 2
    name = family.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(name), CTRL_ATTR_FAMILY_NAME) + name
    attr += b"\0" * ((4 - len(attr) % 4) % 4)
    payload = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + attr
    msg = struct.pack("=IHHII", 16 + len(payload), GENL_ID_CTRL, 0x1 | 0x4, 1, 0) + payload
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        s.settimeout(2)
        s.bind((0, 0))
        s.send(msg)
        data = s.recv(65536)
    finally:
        s.close()
    _unused, mtype = struct.unpack("=IH", data[:6])
    if mtype == 2:  # NLMSG_ERROR
        err = struct.unpack("=i", data[16:20])[0]
        return err == 0, os.strerror(-err) if err else ""
    return mtype == GENL_ID_CTRL, ""


def detect_caps():
    caps = {"test_image": TEST_IMAGE, "kernel": os.uname().release}
    reasons = []
    # IPVS: the swarm routing mesh (ingress) and VIP service load balancing
    ipvs, why = False, ""
    if os.path.exists("/proc/net/ip_vs"):
        ipvs = True
    else:
        try:
            ipvs, why = _genl_family_exists("IPVS")
        except OSError as e:
            why = str(e)
        if not ipvs:
            cp = run(["unshare", "--net", "cat", "/proc/net/ip_vs"], check=False)
            ipvs = cp.returncode == 0
    caps["ipvs"] = ipvs
    if ipvs:
        reasons.append("IPVS available: routing mesh (ingress) and service VIPs work")
    else:
        reasons.append("no IPVS in this kernel (generic netlink family IPVS: %s): the swarm routing "
                       "mesh (ingress-published ports) and VIP load balancing cannot work; use "
                       "host-mode published ports and endpoint_mode dnsrr" % (why or "not found"))
    # ESP/xfrm: encrypted overlay networks (same algorithm Docker uses)
    cp = run(["unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2",
              "proto", "esp", "spi", "0x4e534c42", "reqid", "1", "mode", "transport",
              "aead", "rfc4106(gcm(aes))", "0x" + "4e" * 20, "128"], check=False)
    caps["esp"] = cp.returncode == 0
    if caps["esp"]:
        reasons.append("ESP available: encrypted overlay networks work")
    else:
        why = cp.stderr.decode(errors="replace").strip() or "failed"
        # tell "no ESP at all" from "ESP without the AES-GCM Docker needs"
        plain = run(["unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst",
                     "192.0.2.2", "proto", "esp", "spi", "0x4e534c43", "mode", "transport",
                     "enc", "cbc(aes)", "0x" + "4e" * 16], check=False)
        if plain.returncode != 0:
            why = "ESP itself: %s" % (plain.stderr.decode(errors="replace").strip() or "failed")
        else:
            why = "rfc4106(gcm(aes)) as Docker uses it: %s" % why
        reasons.append("no usable ESP/xfrm (ip xfrm state add ... proto esp, %s): encrypted "
                       "overlay networks cannot work" % why)
    # VXLAN: plain overlay networks
    cp = run(["unshare", "--net", "ip", "link", "add", "nsvx", "type", "vxlan", "id", "42",
              "dstport", "4789"], check=False)
    caps["vxlan"] = cp.returncode == 0
    if not caps["vxlan"]:
        reasons.append("no VXLAN: overlay networks cannot work (%s)"
                       % cp.stderr.decode(errors="replace").strip())
    caps["reason"] = "; ".join(reasons)
    return caps


def caps_line(caps):
    mesh = "routing mesh: %s" % ("works (IPVS)" if caps["ipvs"] else "NOT available (no IPVS)")
    enc = "encrypted overlays: %s" % ("work (ESP)" if caps["esp"] else "NOT available (no ESP)")
    return "%s; %s" % (mesh, enc)
