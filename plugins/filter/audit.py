# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the fleet audit report on the controller.  All logic lives in plugin_utils._audit."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit


def _wrap(function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except _audit.AuditError as exc:
            raise AnsibleFilterError(str(exc))
    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


def audit_report(systems, policy=None, generated=None, fail_on=None):
    """{system: {info, verify}} -> the audit report (a dict; JSON-able)."""
    return _audit.build_report(systems, policy=policy, generated=generated, fail_on=fail_on)


def audit_collect(hosts, hostvars, variable="audit_system"):
    """[host] + hostvars -> {host: {info, verify}} from each host's fact (empty for hosts that never set it)."""
    systems = {}
    for host in hosts:
        try:
            value = hostvars[host][variable]
        except (KeyError, TypeError):
            value = None
        systems[str(host)] = dict(value) if isinstance(value, dict) else {}
    return systems


def audit_render(report, kind, fail_on=None):
    """The report as 'json', 'junit' or 'html' text."""
    renderers = {"json": _audit.to_json, "html": _audit.to_html,
                 "junit": lambda r: _audit.to_junit(r, fail_on=fail_on)}
    if kind not in renderers:
        raise _audit.AuditError("audit_render: the kind must be one of %s, got %r."
                                % (", ".join(sorted(renderers)), kind))
    return renderers[kind](report)


def audit_findings(report, selectors=None):
    """Every finding of a report, or those matching selectors (codes, checks, severities, 'any')."""
    return _audit.report_findings(report, selectors)


def audit_failures(report, fail_on=None):
    """The findings that fail_on names (none when fail_on is empty)."""
    if fail_on in (None, "", []):
        return []
    return _audit.report_findings(report, fail_on)


def audit_failure_message(failures):
    """A readable message listing failing findings (for ansible.builtin.fail)."""
    return _audit.failure_message(list(failures or []))


def audit_json(report):
    """The report as stable, indented JSON text."""
    return _audit.to_json(report)


def audit_junit(report, fail_on=None):
    """The report as JUnit XML: one test suite per system, one test case per system and check."""
    return _audit.to_junit(report, fail_on=fail_on)


def audit_html(report):
    """The report as one self-contained HTML page (tables per system, expiry timeline, inline CSS/SVG)."""
    return _audit.to_html(report)


def audit_timeline(report):
    """The fleet's certificates ordered by expiry."""
    return _audit.expiry_timeline(report)


class FilterModule(object):
    """ipoffice.security audit filters."""

    def filters(self):
        return dict((f.__name__, _wrap(f)) for f in (audit_report, audit_collect, audit_render, audit_findings,
                                                     audit_failures, audit_failure_message, audit_json,
                                                     audit_junit, audit_html, audit_timeline))
