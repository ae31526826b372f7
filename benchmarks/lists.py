"""Benchmark: how the planner scales with long lists (IP Office lines, trusted certificate items).

Each row times one planning step at a list length and divides by the length: the cost per item. The
ratio is that cost against the baseline row of the same list (the shortest), measured in the same run,
so a ratio near 1 is linear scaling and a ratio growing with the length is not (a quadratic step doubles
its ratio each time the length doubles).

* lines:   _checks_settings.plan(state, {"ip_office_lines": N lines}) -- what certificate_checks and the
           lines area of security_settings plan: validate every line (names unique), the checks area as
           it would be, every level change and whether it raises, the preflight list.  The write-side
           limit is MAX_LINES (1,000 lines); it is lifted in this process for the longer rows, to show that
           the planner would stay linear beyond it (a run with more lines fails at once with
           value_too_large).
* trusted: _trusted.load_request + apply_request on N items (three distinct certificates, each given
           N/3 times as PEM content; state present): every item is parsed and deduplicated, the limit of
           25 entries checked on what is left.

Time is this thread's CPU time (time.thread_time), the median of ``--repeat`` calls per row, so load
from elsewhere on the machine hardly moves it.  A benchmark that prints figures, never a timed test.

    .venv/bin/python benchmarks/lists.py [--repeat 5]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import helpers  # noqa: E402

helpers.ensure_collection_path()

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _model  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils import _checks_settings, _trusted  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import initial_state  # noqa: E402

CLOCK = time.thread_time
LINE_LENGTHS = (1000, 2500, 10000, 40000)
TRUSTED_LENGTHS = (300, 3000, 30000)


def median_seconds(call, repeat):
    times = []
    for _round in range(repeat):
        started = CLOCK()
        call()
        times.append(CLOCK() - started)
    return statistics.median(times)


def lines(count):
    levels = ("none", "medium", "high")
    return [{"name": "line-%06d" % index, "transport": "websocket_client", "check_level": levels[index % 3]}
            for index in range(count)]


def bench_lines(state, repeat):
    rows = []
    _model.MAX_LINES = max(LINE_LENGTHS)  # lifted for the measurement only (see the docstring)
    for count in LINE_LENGTHS:
        given = lines(count)
        seconds = median_seconds(lambda given=given: _checks_settings.plan(state, {"ip_office_lines": given}, [],
                                                                           mode="skip"), repeat)
        rows.append(("lines", count, seconds))
    return rows


def bench_trusted(state, repeat):
    pems = []
    for index in range(3):
        key = _certs.generate_private_key()
        cert = _certs.build_certificate("CN=Bench Root %d" % index, key, 3650, ca=True)
        pems.append(_certs.cert_pem(cert).decode("ascii"))
    rows = []
    for count in TRUSTED_LENGTHS:
        items = [{"content": pems[index % 3]} for index in range(count)]

        def plan(items=items):
            request = _trusted.load_request(items, "present")
            _trusted.apply_request(state.copy(), request, "present")

        rows.append(("trusted", count, median_seconds(plan, repeat)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory():
        state = initial_state("server", "ipo1.example.com", [])
    rows = bench_lines(state, args.repeat) + bench_trusted(state, args.repeat)
    print("| list | items | median CPU time | per item | per item vs the shortest |")
    print("|---|---|---|---|---|")
    baseline = {}
    for kind, count, seconds in rows:
        per_item = seconds / count
        baseline.setdefault(kind, per_item)
        print("| %s | %d | %.3f s | %.1f us | %.2fx |" % (kind, count, seconds, per_item * 1e6,
                                                          per_item / baseline[kind]))


if __name__ == "__main__":
    main()
