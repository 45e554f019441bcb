"""Make the working tree importable as ansible_collections.nativeswarm.cluster.

The repository root is the collection; pytest sees it through a symlink in
.ansible/collections (the same place ansible-lint and the playbooks use)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.ansible', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'nativeswarm', 'cluster')

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
