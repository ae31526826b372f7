# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How results describe a change: diffs of parsed dicts, and warnings judged in check mode.

Ground floor: imports nothing of the collection, so the store and every area can use it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Appended, in check mode, to a warning that depends on the store's state (its trusted certificates, its
# identities): check mode writes nothing, so what an earlier task of the same run would change is not seen.
CHECK_MODE_NOTE = ("(Check mode: judged on the system's state today; what earlier tasks of this run would change, "
                   "such as trusted certificates or identities, is not seen.)")


def judged_today(warnings, check_mode, state_warnings):
    """The warnings to report: in check mode, those of ``state_warnings`` (judged on the store's state)
    end with CHECK_MODE_NOTE."""
    if not check_mode:
        return list(warnings)
    return ["%s %s" % (warning, CHECK_MODE_NOTE) if warning in state_warnings else warning for warning in warnings]


def diff(before, after, header=None):
    """An Ansible diff of two parsed (secret-free) dicts."""
    result = {"before": before, "after": after}
    if header:
        result["before_header"] = header
        result["after_header"] = header
    return result
