# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of the module of this name: in the controller's worker when the store is local (_inprocess).

What this file imports is imported once, in ansible-playbook's own process, before the workers fork.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipoffice.security.plugins.module_utils._scep_settings import library_features, run
from ansible_collections.ipoffice.security.plugins.plugin_utils._inprocess import InProcessAction


class ActionModule(InProcessAction):
    MODULE = "scep"
    RUN = staticmethod(run)
    FEATURES = staticmethod(library_features)
