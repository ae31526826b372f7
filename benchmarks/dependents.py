"""Benchmark: what knowing each trusted entry's dependents costs, against a store read.

Every module run reads the store once (``DirectoryStore.read``: settings.json, keys, certificates).
``_dependents.dependents(state)`` runs on top of it in security_info (``trusted[].dependents``) and in
every trusted_certificate run that removes entries (``check_removal``).  It builds the identity chains
and, while a level pins, the chain of every pinned leaf (name match + signature check per step).

Two stores, both real DirectoryStores on disk with EC P-256 certificates:

* typical: the internal CA, two corporate roots with an issuing CA, two pinned SBC leaves, telephony
  checks at high_remote;
* full: 25 entries, 23 of them pinned leaves under one root (the worst case for pinned-peer chains).

Time is this thread's CPU time; the two measurements alternate in rounds; the ratio is the median of
the per-round ratios (dependents / read).  Prints figures, never a timed test.

    .venv/bin/python benchmarks/dependents.py [--rounds 15]
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

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _dependents, _trusted  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402

EC = "sha256_ecdsa_p256"


def _issue(name, issuer, issuer_key, ca=False):
    key = _certs.generate_private_key(EC)
    if issuer is None:
        return _certs.build_certificate(name, key, 3650, EC, ca=True), key
    return _certs.build_certificate(name, key, 365, EC, ca=ca, subject_alt_names=None if ca else ["DNS:" + name],
                                    issuer_cert=issuer, issuer_key=issuer_key), key


def make_store(path, leaves, extra_roots, keys=None):
    """``keys``: a dict that receives the corporate root's key by its fingerprint (benchmarks/retire.py)."""
    store = DirectoryStore(path, system_name="ipo1.example.com", system_addresses=["192.0.2.10"])
    root, root_key = _issue("CN=Corp Root", None, None)
    if keys is not None:
        keys[_certs.fingerprint(root)] = root_key
    certs = [root]
    issuer, issuer_key = root, root_key
    if extra_roots:
        issuer, issuer_key = _issue("CN=Corp Issuing CA", root, root_key, ca=True)
        certs.append(issuer)
        certs += [_issue("CN=Partner Root %d" % i, None, None)[0] for i in range(extra_roots)]
    certs += [_issue("sbc%d.example.com" % i, issuer, issuer_key)[0] for i in range(leaves)]
    _trusted.converge(store, [{"content": _certs.certs_pem(certs).decode()}])

    def pin(state):
        state.settings["checks"]["telephony_endpoints"] = "high_remote"
    store.update(pin)
    return store


def cpu(function):
    start = time.thread_time()
    function()
    return time.thread_time() - start


def measure(store, rounds):
    state = store.read()
    reads, deps, ratios = [], [], []
    for index in range(rounds):
        pair = [("read", store.read), ("dependents", lambda: _dependents.dependents(state))]
        if index % 2:
            pair.reverse()
        times = dict((name, cpu(function)) for name, function in pair)
        reads.append(times["read"])
        deps.append(times["dependents"])
        ratios.append(times["dependents"] / times["read"])
    return statistics.median(reads), statistics.median(deps), statistics.median(ratios), min(ratios), max(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-dependents-")
    print("| store | entries | store.read (ms CPU) | dependents (ms CPU) | dependents / read (min-max) |")
    print("|---|---|---|---|---|")
    for label, leaves, extra in (("typical", 2, 2), ("full", 23, 0)):
        store = make_store(os.path.join(root, label), leaves, extra)
        read, dep, ratio, low, high = measure(store, args.rounds)
        print("| %s | %d | %.1f | %.1f | %.2f (%.2f-%.2f) |" % (label, len(store.read().trusted), read * 1e3,
                                                                dep * 1e3, ratio, low, high))


if __name__ == "__main__":
    main()
