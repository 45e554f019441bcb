"""Offline stand-in for the pip bootstrap script ansible-test downloads.

ansible-test fetches get-pip.py from a host this machine cannot reach; it
runs it with the packages to install (pip==X ...) and get-pip's flags. Python's
bundled ensurepip gives the new virtualenv a pip, which then runs those
arguments against the package index that is reachable."""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

environ = dict(os.environ)
ensurepip.bootstrap(upgrade=True)  # it points PIP_CONFIG_FILE at /dev/null: undo that below
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args, env=environ))
