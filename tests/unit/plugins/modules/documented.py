# -*- coding: utf-8 -*-
# Copyright: nativeswarm.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A module's options as ansible-doc shows them, one view of options
that compares DOCUMENTATION with an argument spec, and the argument spec a
module builds."""

from __future__ import annotations

import importlib

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule

PREFIX = 'nativeswarm.cluster.'


def documented_options(module):
    """The module's DOCUMENTATION options merged over those of every doc
    fragment it extends (``nativeswarm.cluster.NAME[.VARIABLE]``)."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for fragment in doc.get('extends_documentation_fragment') or []:
        assert fragment.startswith(PREFIX), fragment
        name, _dot, variable = fragment[len(PREFIX):].partition('.')
        plugin = importlib.import_module('ansible_collections.nativeswarm.cluster.plugins.doc_fragments.' + name)
        options.update(yaml.safe_load(getattr(plugin.ModuleDocFragment, variable or 'DOCUMENTATION')).get('options')
                       or {})
    options.update(doc.get('options') or {})
    return options


def view(options, nested='suboptions'):
    """What the documentation and the argument spec must agree on, per option;
    ``nested`` is where sub-options live: ``suboptions`` (documentation) or
    ``options`` (argument spec)."""
    return dict((name, dict(type=opt.get('type', 'str'), default=opt.get('default'), choices=opt.get('choices'),
                            aliases=sorted(opt.get('aliases') or []), elements=opt.get('elements'),
                            required=bool(opt.get('required', False)),
                            suboptions=view(opt[nested], nested) if nested in opt else None))
                for name, opt in (options or {}).items())


class Captured(Exception):
    """Raised instead of building an AnsibleModule; its args are the
    argument spec and the other keyword arguments."""


def module_spec(monkeypatch, module):
    """(argument_spec, other AnsibleModule keyword arguments) that the
    module's main() builds its AnsibleModule with, without running it."""
    def capture(_self, argument_spec, **kwargs):
        raise Captured(argument_spec, kwargs)
    monkeypatch.setattr(AnsibleModule, '__init__', capture)
    with pytest.raises(Captured) as captured:
        module.main()
    return captured.value.args
