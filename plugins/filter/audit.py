# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build and render the fleet audit report on the controller.

The findings and the verdict live in plugin_utils._audit_findings, the renderings in
plugin_utils._audit_render; each filter's documentation is the YAML file of its name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ipoffice.security.plugins.plugin_utils import _audit_findings, _audit_render


def _wrap(function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except _audit_findings.AuditError as exc:
            raise AnsibleFilterError(str(exc))
    run.__name__ = function.__name__
    run.__doc__ = function.__doc__
    return run


def audit_report(systems, policy=None, generated=None, fail_on=None):
    """{system: {info, verify}} -> the audit report (a dict; JSON-able), verdict included."""
    return _audit_findings.build_report(systems, policy=policy, generated=generated, fail_on=fail_on)


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


def audit_render(report, kind, template=None):
    """The report as 'json', 'junit', 'html' or 'prometheus' text (html from the built-in or the given Jinja2
    template)."""
    renderers = {"json": _audit_render.to_json, "junit": _audit_render.to_junit,
                 "html": lambda r: _audit_render.to_html(r, template=template or None),
                 "prometheus": _audit_render.to_prometheus}
    if kind not in renderers:
        raise _audit_findings.AuditError("audit_render: the kind must be one of %s, got %r."
                                         % (", ".join(sorted(renderers)), kind))
    return renderers[kind](report)


def audit_findings(report, selectors=None):
    """Every finding of a report, or those matching selectors (codes, checks, severities, 'any')."""
    return _audit_findings.report_findings(report, selectors)


def audit_failures(report, system=None):
    """The findings that fail the audit (those the report's fail_on selected), of one system when given."""
    return _audit_findings.report_failures(report, system=system)


def audit_failing_systems(report):
    """{system: [codes]} of the systems with a finding that fails the audit."""
    return _audit_findings.failing_systems(report)


def audit_prometheus(report):
    """The report as Prometheus text format (node_exporter's textfile collector)."""
    return _audit_render.to_prometheus(report)


def audit_failure_message(failures):
    """A readable message listing failing findings (for ansible.builtin.fail)."""
    return _audit_findings.failure_message(list(failures or []))


def audit_json(report):
    """The report as stable, indented JSON text."""
    return _audit_render.to_json(report)


def audit_junit(report):
    """The report as JUnit XML: one test suite per system, one test case per system and check."""
    return _audit_render.to_junit(report)


def audit_html(report, template=None):
    """The report as one self-contained HTML page (tables per system, expiry timeline, inline CSS/SVG)."""
    return _audit_render.to_html(report, template=template or None)


def audit_timeline(report):
    """The fleet's certificates ordered by expiry."""
    return _audit_render.expiry_timeline(report)


class FilterModule(object):
    """ipoffice.security audit filters."""

    def filters(self):
        return dict((f.__name__, _wrap(f)) for f in (audit_report, audit_collect, audit_render, audit_findings,
                                                     audit_failures, audit_failing_systems, audit_failure_message,
                                                     audit_json, audit_junit, audit_html, audit_prometheus,
                                                     audit_timeline))
