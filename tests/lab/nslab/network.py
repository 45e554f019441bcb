"""Host networking pieces shared by both kinds: the lab subnet, its bridge,
links, network namespaces and the iptables rules the lab adds."""

import os
import shlex
import time

from .state import NETNS_DIR, other_labs, read_state, subnet_index
from .util import die, log, out, run


def link_exists(name, netns=None):
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return run(cmd, check=False).returncode == 0


def netns_exists(ns):
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def choose_subnet(lab):
    """10.231.<n>.0/24 with n a stable hash of the lab name in 1..250; if
    another lab (or anything routed on this machine) has it, the next free n."""
    taken = set()
    for other in other_labs(lab.name):
        st = read_state(other)
        if st and st.get("subnet"):
            taken.add(int(st["subnet"].split(".")[2]))
    routed = []
    for line in out(["ip", "-4", "route", "show"], check=False).splitlines():
        dst = line.split()[0] if line.strip() else ""
        dev = line.split(" dev ")[1].split()[0] if " dev " in line else ""
        if dst.startswith("10.231.") or dst.startswith("10.232."):
            if dev not in (lab.bridge, lab.base_bridge):
                routed.append(dst)
    first = subnet_index(lab.name)
    for i in range(250):
        n = (first - 1 + i) % 250 + 1
        if n in taken or any(r.split(".")[2] == str(n) for r in routed if r.count(".") >= 2):
            continue
        if n != first:
            log("subnet 10.231.%d.0/24 is taken; using 10.231.%d.0/24" % (first, n))
        lab.set_subnet(n)
        return
    die("no free lab subnet in 10.231.1-250.0/24")


def ensure_bridge(lab):
    if not link_exists(lab.bridge):
        log("creating bridge %s (%s)" % (lab.bridge, lab.subnet))
        run(["ip", "link", "add", lab.bridge, "type", "bridge"])
    addrs = out(["ip", "-4", "-o", "addr", "show", "dev", lab.bridge])
    if " %s/24 " % lab.gateway not in addrs:
        run(["ip", "addr", "add", lab.gateway + "/24", "dev", lab.bridge])
    run(["ip", "link", "set", lab.bridge, "up"])


def remove_links(lab):
    """Every link named after the lab (bridges, host ends of veths)."""
    for _unused in range(20):
        links = [line.split(":")[1].strip().split("@")[0]
                 for line in out(["ip", "-o", "link", "show"], check=False).splitlines()]
        ours = [link for link in links if link.startswith(lab.name + "-")]
        if not ours:
            return
        for link in ours:
            run(["ip", "link", "delete", link], check=False)
        time.sleep(0.1)


def iptables_is_nft():
    return "nf_tables" in out(["iptables", "-V"], check=False)


def iptables_table_exists(table):
    if iptables_is_nft():
        return run(["nft", "list", "table", "ip", table], check=False).returncode == 0
    return True  # legacy tables always exist once the module is loaded


def forward_rule(lab, bridge):
    return ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment", "--comment",
            "nslab:%s" % lab.name, "-j", "ACCEPT"]


def ensure_forward_rule(lab, bridge=None):
    # br_netfilter sends bridged frames through the host's FORWARD chain; a
    # DROP policy (set by any dockerd in the host namespace) would cut
    # node-to-node traffic.
    rule = forward_rule(lab, bridge or lab.bridge)
    if run(["iptables", "-w", "-C"] + rule, check=False).returncode != 0:
        run(["iptables", "-w", "-I"] + rule)


def remove_forward_rules(lab):
    tag = "nslab:%s" % lab.name
    for table in ("filter", "nat"):
        if not iptables_table_exists(table):
            continue
        for line in out(["iptables", "-w", "-t", table, "-S"], check=False).splitlines():
            if not line.startswith("-A "):
                continue
            args = shlex.split(line)
            if tag in args or ("-i" in args and args[args.index("-i") + 1] in (lab.bridge, lab.base_bridge)):
                run(["iptables", "-w", "-t", table, "-D"] + args[1:], check=False)
