"""The lab's command line from Python: the one wrapper that tests, the
benchmark and tools drive tests/lab/lab through, and who owns which lab.

Standard library only; importing it starts nothing."""

import json
import os
import subprocess

from . import proc
from .state import STATE_ROOT, lab_names, read_state

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab")


class LabCommandError(RuntimeError):
    """A lab command that failed; the message has its output."""

    def __init__(self, name, args, completed):
        self.completed = completed
        super().__init__("lab %s (NSLAB_NAME=%s) failed with %d:\n%s\n%s" % (
            " ".join(args), name, completed.returncode, completed.stdout, completed.stderr))


# --------------------------------------------------------------------------
# owners: who made a lab

def process_owner(tag, pid=None):
    """An owner token naming one process for good, "<tag>:<pid>:<start>"
    (start: clock ticks after boot; e.g. a test run: tag "pytest")."""
    pid = os.getpid() if pid is None else pid
    return "%s:%d:%s" % (tag, pid, proc.start_ticks(pid))


def owner_process(owner, tag):
    """(pid, start) of a "<tag>:<pid>:<start>" owner, else None."""
    parts = (owner or "").split(":")
    if len(parts) != 3 or parts[0] != tag:
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


def _still_running(pid, start):
    return proc.alive(pid) and proc.start_ticks(pid) == start


def stale_labs(tag, keep=()):
    """Labs whose recorded owner is a "<tag>:..." process that has ended
    (a killed run); never a lab made by anyone else, nor one owned by a
    token in keep."""
    names = []
    for name in lab_names():
        owner = (read_state(name) or {}).get("owner")
        made_by = owner_process(owner, tag)
        if made_by and owner not in keep and not _still_running(*made_by):
            names.append(name)
    return names


# --------------------------------------------------------------------------
# the command line

class Lab:
    """Lab `name` through tests/lab/lab: NSLAB_NAME=name,
    NSLAB_INVENTORY=inventory (when given), NSLAB_OWNER=owner (when given;
    else whatever the environment says)."""

    def __init__(self, name, inventory=None, owner=None):
        self.name = name
        self.inventory = inventory
        self.owner = owner

    def env(self):
        env = dict(os.environ, NSLAB_NAME=self.name)
        if self.inventory:
            env["NSLAB_INVENTORY"] = self.inventory
        if self.owner:
            env["NSLAB_OWNER"] = self.owner
        return env

    def run(self, *args, check=True, timeout=1800):
        """Run a lab command; the CompletedProcess (text).  A failure raises
        LabCommandError unless check is false."""
        args = [str(a) for a in args]
        completed = subprocess.run([LAB] + args, env=self.env(), capture_output=True, text=True,
                                   timeout=timeout, check=False)
        if check and completed.returncode != 0:
            raise LabCommandError(self.name, args, completed)
        return completed

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)

    def up(self, managers, workers, kind="engine"):
        """Start (or grow to) managers + workers nodes; write the inventory."""
        return self.run("up", "--managers", managers, "--workers", workers, "--kind", kind)

    def down(self, check=True, timeout=600):
        return self.run("down", check=check, timeout=timeout)

    def fresh(self, managers, workers, kind="engine"):
        """Bare engines: remove the lab if it exists, then start it again."""
        if self.exists():
            self.down()
        return self.up(managers, workers, kind)

    def status(self):
        """The nodes: name, group, address, docker_host, running, pid, ..."""
        return self.json("status")

    def info(self):
        """The lab itself: exists, kind, owner, instance (creation id), nodes."""
        return self.json("info")

    def stop(self, *nodes, kill=False):
        return self.run("stop", *(["--kill"] if kill else []), *nodes)

    def start(self, *nodes):
        return self.run("start", *nodes)

    def exists(self):
        return os.path.exists(os.path.join(STATE_ROOT, self.name))
