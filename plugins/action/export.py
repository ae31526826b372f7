# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of the module of this name: in the controller's worker when the store is local (_inprocess).

What this file imports is imported once, in ansible-playbook's own process, before the workers fork: also
the PKCS#12 support export always uses (_certs imports it where PKCS#12 files are read or written).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils._export import run
from ansible_collections.ipoffice.security.plugins.plugin_utils._inprocess import InProcessAction

try:
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: F401  pylint: disable=unused-import
except ImportError:  # a controller without cryptography runs the module (_inprocess)
    pass


class ActionModule(InProcessAction):
    MODULE = "export"
    RUN = staticmethod(run)
