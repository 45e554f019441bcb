"""Small helpers every part of the lab uses: messages, errors, running
commands, files, and a lock that leaves nothing on disk."""

import os
import shlex
import socket
import subprocess
import sys
import time


def log(msg):
    """A progress line on stderr (stdout is for results)."""
    sys.stderr.write("[lab %s] %s\n" % (os.environ.get("NSLAB_NAME", "nslab"), msg))
    sys.stderr.flush()


class LabError(Exception):
    """A failure the command line reports as `lab: error: ...`."""


def die(msg):
    raise LabError(msg)


def run(cmd, check=True, input=None, timeout=None, env=None):  # pylint: disable=redefined-builtin
    """Run a command, capture its output, return CompletedProcess."""
    try:
        cp = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=timeout, env=env, check=False,
                            stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        if check:
            die("command not found: %s" % cmd[0])
        return subprocess.CompletedProcess(cmd, 127, b"", b"not found")
    if check and cp.returncode != 0:
        command = " ".join(shlex.quote(c) for c in cmd)
        die("command failed (%d): %s\n%s" % (cp.returncode, command,
                                             (cp.stderr or b"").decode(errors="replace").strip()))
    return cp


def out(cmd, check=True):
    return run(cmd, check=check).stdout.decode(errors="replace")


def write_file(path, content, mode=0o644):
    """Write atomically (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_file(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def rm_rf(path):
    """rm -rf that never crosses into another filesystem (a mount left under
    a lab directory is skipped, not emptied)."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        run(["rm", "-rf", "--one-file-system", "--", path], check=False)


def log_tail(path, n=15):
    lines = (read_file(path, "") or "").splitlines()
    return "\n".join(lines[-n:])


def daemon_env():
    """The environment of the daemons the lab starts: nothing of the caller's."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8"}


class AbstractLock:
    """A lock that leaves nothing on disk: an abstract unix socket name."""

    def __init__(self, key, timeout=900):
        self.key = "\0nslab." + key
        self.timeout = timeout
        self.sock = None

    def __enter__(self):
        deadline = time.time() + self.timeout
        said = False
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.bind(self.key)
                self.sock = s
                return self
            except OSError:
                s.close()
                if time.time() > deadline:
                    die("timed out waiting for lock %s" % self.key[1:])
                if not said:
                    log("waiting for another lab command (%s)" % self.key[1:])
                    said = True
                time.sleep(0.3)

    def __exit__(self, *exc):
        self.sock.close()
