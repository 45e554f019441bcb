"""The command line: one preamble for every command (root check, the lab's
lock, its state), then the command."""

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import __doc__ as package_doc
from . import engine, host, monitoring_images
from .caps import caps_line, detect_caps
from .engine_api import api, ping
from .inventory import lab_status, remove_inventory, write_inventory
from .network import choose_subnet, netns_exists, remove_forward_rules, remove_links
from .processes import dockerd_pids, kill_all, remove_cgroups, terminate, wait_gone
from .proc import mounts
from .shared import cleanup_shared, ensure_neigh_capacity, prepare_shared_paths
from .state import CACHE_DIR, DEFAULT_NAME, ETC_NETNS, NETNS_DIR, Lab, requested_inventory_path
from .testimage import TEST_IMAGE, load_test_image
from .util import AbstractLock, LabError, die, log, rm_rf, run


def require_root():
    if os.geteuid() != 0:
        die("the lab needs root (network namespaces, bridges, iptables, dockerd)")
    for tool in ("ip", "iptables", "unshare"):
        if not shutil.which(tool):
            die("%s not found" % tool)


def create(lab, kind):
    """A new lab: its subnet, its state with who made it, and the record a
    CI run takes its labs down by."""
    choose_subnet(lab)
    prepare_shared_paths()
    lab.create(kind)
    lab.record_creation()
    lab.save()
    log("created (owner %s)" % lab.owner)


def load_test_images(nodes):
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda n: load_test_image(n.docker_host), nodes))


def select_nodes(lab, names):
    if not lab.state:
        die("no lab named %s" % lab.name)
    nodes = {n.name: n for n in lab.nodes()}
    unknown = [n for n in names if n not in nodes]
    if unknown:
        die("no such node(s) in lab %s: %s" % (lab.name, " ".join(unknown)))
    return [nodes[n] for n in names]


# --------------------------------------------------------------------------
# commands: each gets the lab with its state loaded (under the lab's lock
# for those that change something)

def cmd_up(lab, args):
    if args.managers < 0 or args.workers < 0:
        die("--managers/--workers must be >= 0")
    t0 = time.time()
    if lab.state and lab.kind != args.kind:
        die("lab %r already exists with kind %s; run `lab down` first or use another NSLAB_NAME"
            % (lab.name, lab.kind))
    if not lab.state:
        create(lab, args.kind)
    else:
        lab.state["inventory"] = requested_inventory_path()
    added = lab.allocate(args.managers, args.workers)
    lab.save()
    os.makedirs(lab.run_dir, exist_ok=True)
    ensure_neigh_capacity(lab)
    started = (engine if lab.kind == "engine" else host).up(lab)
    nodes = lab.nodes()
    if started or added:
        log("loading test image %s onto the nodes" % TEST_IMAGE)
    load_test_images(nodes)
    caps = detect_caps()
    inv = write_inventory(lab, caps)
    lab.save()
    managers = sum(1 for n in nodes if n.role == "manager")
    workers = len(nodes) - managers
    extra = ""
    if managers > args.managers or workers > args.workers:
        extra = " (up never removes nodes: run `lab down` to shrink)"
    print("lab %s: %d nodes (%d managers, %d workers), kind %s, subnet %s; %d started, %d already running%s [%.1fs]"
          % (lab.name, len(nodes), managers, workers, lab.kind, lab.subnet, len(started),
             len(nodes) - len(started), extra, time.time() - t0))
    print("inventory: %s" % inv)
    print(caps_line(caps))
    return 0


def cmd_status(lab, args):
    caps = detect_caps()
    st = lab_status(lab, caps) if lab.state else []
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    if not lab.state:
        print("no lab named %s (NSLAB_NAME); `lab up` creates one" % lab.name)
        print(caps_line(caps))
        return 0
    print("lab %s (%s kind) subnet %s bridge %s" % (lab.name, lab.kind, lab.subnet, lab.bridge))
    rows = [("NAME", "GROUP", "ADDRESS", "RUNNING", "DOCKER_HOST")]
    rows += [(s["name"], s["group"], s["address"], "yes" if s["running"] else "NO", s["docker_host"]) for s in st]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    print("inventory: %s" % lab.inventory_path())
    print("test image: %s" % TEST_IMAGE)
    print(caps_line(caps))
    return 0


def cmd_info(lab, args):
    info = lab.info()
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["exists"]:
        print("no lab named %s (NSLAB_NAME); `lab up` creates one" % lab.name)
    else:
        print("lab %s (%s kind), made by %s at %s, creation id %s" % (
            lab.name, lab.kind, info["owner"],
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["created"] or 0)), info["instance"]))
        print("nodes: %s" % (" ".join(info["nodes"]) or "none"))
    return 0


def cmd_caps(_lab, args):
    caps = detect_caps()
    if args.json:
        print(json.dumps(caps, indent=2))
    else:
        print(caps_line(caps))
        print(caps["reason"])
        print("test image: %s" % TEST_IMAGE)
    return 0


def cmd_inventory(lab, _args):
    print(lab.inventory_path())
    return 0


def cmd_image(lab, args):
    """Host kind only: make sure the base dockerd runs and has the node image."""
    if lab.state and lab.kind != "host":
        die("lab %r is an engine-kind lab; the node image lives in a host-kind lab's base dockerd" % lab.name)
    if not lab.state:
        create(lab, "host")
    os.makedirs(lab.run_dir, exist_ok=True)
    host.ensure_base(lab)
    image = host.ensure_node_image(lab)
    info = {"image": image, "alias": host.NODE_IMAGE_LATEST, "docker_host": lab.base_url,
            "tarball": host.node_tarball(), "capabilities": host.node_capabilities(),
            "changes": host.NODE_IMAGE_CHANGES}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("node image %s (alias %s) in the base dockerd %s" % (image, host.NODE_IMAGE_LATEST, lab.base_url))
        print("cached rootfs: %s" % info["tarball"])
    return 0


def cmd_stop(lab, args):
    """Stop nodes' engines (like a host going down); `start` brings them back."""
    nodes = select_nodes(lab, args.nodes)
    if lab.kind == "engine":
        if not args.kill:
            terminate(dockerd_pids(lab, [n.name for n in nodes]), timeout=args.timeout)
        for n in nodes:
            kill_all(lab, n.name)
    elif ping(lab.base_url):
        def stop(n):
            if args.kill:
                api(lab.base_url, "POST", "/containers/%s/kill" % n.container, timeout=30)
            else:
                api(lab.base_url, "POST", "/containers/%s/stop?t=%d" % (n.container, args.timeout),
                    timeout=args.timeout + 30)
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(stop, nodes))
    print("lab %s: stopped %s" % (lab.name, " ".join(n.name for n in nodes)))
    return 0


def cmd_start(lab, args):
    nodes = select_nodes(lab, args.nodes)
    started = (engine if lab.kind == "engine" else host).up(lab, {n.name for n in nodes})
    load_test_images(nodes)
    print("lab %s: started %s" % (lab.name, " ".join(n.name for n in started) or "nothing (already running)"))
    return 0


def cmd_down(lab, args):
    t0 = time.time()
    if args.instance and lab.instance != args.instance:
        if lab.state:  # gone already (its fixture took it down): nothing to say
            print("lab %s: not the lab created as %s (now %s); left alone" % (lab.name, args.instance, lab.instance))
        return 0
    recorded_inv = lab.state.get("inventory") if lab.state else None
    netns = sorted(set(["%s-%s" % (lab.name, n.name) for n in lab.nodes()] +
                       [ns for ns in (os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) else [])
                        if ns.startswith(lab.name + "-")]))
    if lab.state or os.path.exists(lab.state_dir) or os.path.exists(lab.run_dir) or netns:
        log("tearing down")
    # 1. host kind: node containers, volumes, networks of the base dockerd
    host.clear_base(lab)
    # 2. the engines (and the base dockerd): graceful first, then whatever
    # is left of what the lab started
    pids = dockerd_pids(lab)
    if pids:
        log("stopping %d dockerd(s)" % len(pids))
        terminate(pids, timeout=20)
    kill_all(lab)
    wait_gone(pids, 5)
    # 3. network namespaces, links, iptables, /etc/netns
    for ns in netns:
        if netns_exists(ns):
            run(["ip", "netns", "delete", ns], check=False)
        rm_rf(os.path.join(ETC_NETNS, ns))
    remove_links(lab)
    remove_forward_rules(lab)
    # 4. mounts that might be visible here, cgroups, directories
    for mp, _unused, _unused2 in reversed(mounts()):
        if mp.startswith(lab.run_dir + "/") or mp.startswith(lab.state_dir + "/") \
                or mp in (lab.run_dir, lab.state_dir) \
                or mp.startswith(os.path.join(NETNS_DIR, lab.name + "-")):
            run(["umount", "-l", mp], check=False)
    remove_cgroups(lab)
    rm_rf(lab.run_dir)
    rm_rf(lab.state_dir)
    remove_inventory(lab, recorded_inv)
    cleanup_shared()
    if args.purge:
        with AbstractLock("cache"):
            rm_rf(CACHE_DIR)
    print("lab %s: down%s [%.1fs]" % (lab.name, " (cache purged)" if args.purge else "", time.time() - t0))
    return 0


# command: (function, changes something: needs root and the lab's lock)
COMMANDS = {
    "up": (cmd_up, True),
    "status": (cmd_status, False),
    "info": (cmd_info, False),
    "caps": (cmd_caps, False),
    "inventory": (cmd_inventory, False),
    "image": (cmd_image, True),
    "stop": (cmd_stop, True),
    "start": (cmd_start, True),
    "down": (cmd_down, True),
    "monitoring-images": (monitoring_images.cmd_monitoring_images, True),
}


def parser():
    ap = argparse.ArgumentParser(prog="lab", description=package_doc.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="create or grow the lab")
    p.add_argument("--managers", type=int, required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--kind", choices=("engine", "host"), default="engine")
    p = sub.add_parser("status", help="list the nodes")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("info", help="the lab itself: kind, owner, creation id, nodes")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("caps", help="kernel capabilities (IPVS, ESP, VXLAN)")
    p.add_argument("--json", action="store_true")
    sub.add_parser("inventory", help="print the inventory path")
    p = sub.add_parser("image", help="host kind: ensure the node image in the base dockerd")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("stop", help="stop nodes' engines (a node going down)")
    p.add_argument("nodes", nargs="+")
    p.add_argument("--kill", action="store_true", help="SIGKILL at once (a crash) instead of a clean stop")
    p.add_argument("--timeout", type=int, default=20, help="seconds before a clean stop turns into a kill")
    p = sub.add_parser("start", help="start stopped nodes again")
    p.add_argument("nodes", nargs="+")
    p = sub.add_parser("down", help="remove everything the lab created")
    p.add_argument("--purge", action="store_true", help="also delete the node image cache")
    p.add_argument("--instance", metavar="ID",
                   help="only if the lab is still the one created with this creation id "
                        "(what NSLAB_RECORD got); otherwise leave it alone")
    monitoring_images.add_parser(sub)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    func, changes = COMMANDS[args.cmd]
    try:
        lab = Lab(os.environ.get("NSLAB_NAME", DEFAULT_NAME))
        if not changes:
            lab.load()
            return func(lab, args)
        require_root()
        with AbstractLock("lab." + lab.name):
            lab.load()
            return func(lab, args)
    except LabError as e:
        sys.stderr.write("lab: error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("lab: interrupted (run `lab down` to clean up)\n")
        return 130
