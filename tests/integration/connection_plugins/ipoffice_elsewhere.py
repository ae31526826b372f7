# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test only (ANSIBLE_CONNECTION_PLUGINS): the local connection under another transport name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: ipoffice_elsewhere
    short_description: Test only - run on the controller, report another transport
    description:
        - Runs commands on the controller exactly like ansible.builtin.local, but reports the transport
          C(ipoffice_elsewhere), as a connection to another host would. ipoffice.security's action plugins must
          then run their module (AnsiballZ) instead of running in the controller's worker.
    author: ipoffice.security tests
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As ansible.builtin.local's.
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            type: bool
            default: true
            description: As ansible.builtin.local's.
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""

from ansible.plugins.connection.local import Connection as LocalConnection  # noqa: E402


class Connection(LocalConnection):
    transport = "ipoffice_elsewhere"
