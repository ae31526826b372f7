"""Benchmark: what deciding a retirement costs (``_dependents.retire``), against a store read.

``trusted.retire`` removes each retired entry nothing depends on; entries retired together do not hold each
other, so the decision is a fixed point: dependents are computed, the blocked entries leave the removable
set, and again until nothing changes (at most once per retired entry, plus one).  It runs on the planned
state of every security_settings call that retires something still present.

The full store of benchmarks/dependents.py (25 entries: the internal CA, a corporate root, 23 leaves pinned
under it at telephony high_remote), three retirements on copies of its state:

* free: the root and every pin retired, nothing else holds them (one pass: all go);
* blocked: the same, but the system identity's chain holds the root (the pins go, the root stays: two passes);
* chain: the root and every pin retired, and a preflight record holds one pin (that pin stays, it holds the
  root: two passes).

Time is this thread's CPU time; store.read and each retirement alternate in rounds; ratios are medians of the
per-round ratios (retire / read).  Prints figures, never a timed test.

    .venv/bin/python benchmarks/retire.py [--rounds 11]
"""

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dependents import cpu, make_store  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import Credential  # noqa: E402


def cases(state, keys):
    root = [c for c in state.trusted_certificates() if c.subject.rfc4514_string() == "CN=Corp Root"][0]
    pins = [c for c in state.trusted_certificates() if not _certs.is_ca(c)]
    retired = [_certs.fingerprint(c) for c in [root] + pins]
    blocked = state.copy()  # an identity issued by the corporate root: its chain holds the root
    key = _certs.generate_private_key("sha256_ecdsa_p256")
    blocked.identity = Credential(_certs.build_certificate("ipo1.example.com", key, 365, "sha256_ecdsa_p256",
                                                           issuer_cert=root, issuer_key=keys[_certs.fingerprint(root)]),
                                  key, {"source": "import"})
    chain = state.copy()
    chain.verified_endpoints = [{"endpoint": "127.0.0.1:5061 (telephony)", "setting": "telephony",
                                 "level": "high_remote", "subject": pins[0].subject.rfc4514_string(),
                                 "sha256": _certs.fingerprint(pins[0]),
                                 "trust_path": [_certs.fingerprint(pins[0]), _certs.fingerprint(root)],
                                 "verified": _certs.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}]
    return [("free", state, retired), ("blocked", blocked, retired), ("chain", chain, retired)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="bench-retire-")
    keys = {}
    store = make_store(os.path.join(base, "full"), 23, 0, keys=keys)
    state = store.read()
    print("| case | retired | removed | stays | store.read (ms CPU) | retire (ms CPU) | retire / read (min-max) |")
    print("|---|---|---|---|---|---|---|")
    for label, planned, retired in cases(state, keys):
        reads, times, ratios = [], [], []
        outcome = None
        for index in range(args.rounds):
            work = planned.copy()
            box = {}
            pair = [("read", store.read),
                    ("retire", lambda w=work, b=box, r=retired: b.update(r=_dependents.retire(w, r)))]
            if index % 2:
                pair.reverse()
            measured = dict((name, cpu(function)) for name, function in pair)
            outcome = box["r"]
            reads.append(measured["read"])
            times.append(measured["retire"])
            ratios.append(measured["retire"] / measured["read"])
        removed, retiring, _warnings = outcome
        print("| %s | %d | %d | %d | %.1f | %.1f | %.2f (%.2f-%.2f) |" % (
            label, len(retired), len(removed), len(retiring), statistics.median(reads) * 1e3,
            statistics.median(times) * 1e3, statistics.median(ratios), min(ratios), max(ratios)))


if __name__ == "__main__":
    main()
