"""Benchmark: the check engine's evaluate() against the bare cryptography server verifier.

Same process, same chains (root -> issuing CA -> leaf, RSA-2048 and EC P-256), same parsed
certificate objects.  The baseline builds a Store, a PolicyBuilder and a server verifier per chain
and verifies -- what a caller needs per evaluation at a given time.  The two alternate in rounds; rates are
the best round, the ratio the median of the per-round ratios (robust against other load).  evaluate() runs at medium
(path validation + leaf checks) and high_remote (plus pinning, reflection, self-signed, RFC 9525
and RFC 5922 checks).  Prints chains/s for both and the ratio (target >= 0.7).

    .venv/bin/python benchmarks/checks.py [--seconds 2]
"""

import argparse
import datetime
import os
import sys
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import helpers  # noqa: E402

helpers.ensure_collection_path()

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._checks import evaluate  # noqa: E402
from cryptography.x509 import verification  # noqa: E402


def make_chain(signature):
    root_key = _certs.generate_private_key(signature)
    root = _certs.build_certificate("CN=Bench Root", root_key, 3650, signature=signature, ca=True)
    inter_key = _certs.generate_private_key(signature)
    inter = _certs.build_certificate("CN=Bench Issuing CA", inter_key, 3650, signature=signature, ca=True,
                                     issuer_cert=root, issuer_key=root_key)
    leaf_key = _certs.generate_private_key(signature)
    leaf = _certs.build_certificate("CN=sip.example.com", leaf_key, 365, signature=signature, issuer_cert=inter,
                                    issuer_key=inter_key,
                                    subject_alt_names=["DNS:sip.example.com", "URI:sip:example.com"])
    identity = _certs.build_certificate("CN=ipo.example.com", _certs.generate_private_key(signature), 365,
                                        signature=signature, issuer_cert=root, issuer_key=root_key,
                                        subject_alt_names=["DNS:ipo.example.com"])
    return root, inter, leaf, identity


def compare(bare, engine, seconds, rounds=9):
    """(bare chains/s, engine chains/s, ratio): rounds alternate the two, each figure is the best round
    and the ratio the median of the per-round ratios, so that load from elsewhere cancels out."""
    bare()
    engine()
    calls = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds / (2 * rounds):
        bare()
        calls += 1
    calls = max(calls, 10)
    bare_times, engine_times = [], []
    for _ in range(rounds):
        bare_times.append(timeit.timeit(bare, number=calls))
        engine_times.append(timeit.timeit(engine, number=calls))
    ratios = sorted(b / e for b, e in zip(bare_times, engine_times))
    return calls / min(bare_times), calls / min(engine_times), ratios[len(ratios) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    at = datetime.datetime.now(datetime.timezone.utc)
    print("%-10s %-12s %14s %14s %7s" % ("chain", "level", "bare chains/s", "engine chains/s", "ratio"))
    worst = None
    for label, signature in (("RSA-2048", "sha256_rsa2048"), ("EC P-256", "sha256_ecdsa_p256")):
        root, inter, leaf, identity = make_chain(signature)
        name = verification.DNSName("sip.example.com")

        def bare(root=root, name=name, leaf=leaf, inter=inter):
            verifier = (verification.PolicyBuilder().store(verification.Store([root])).time(at)
                        .build_server_verifier(name))
            verifier.verify(leaf, [inter])

        for level, trusted in (("medium", [root]), ("high_remote", [root, leaf])):
            def engine(leaf=leaf, level=level, inter=inter, trusted=trusted, identity=identity):
                report = evaluate(leaf, level=level, purpose="sip_server", chain=[inter], trusted=trusted,
                                  identity=identity, peer_name="sip.example.com", sip_domain="example.com", at=at)
                assert report.passed, report.findings

            bare_rate, engine_rate, ratio = compare(bare, engine, args.seconds)
            worst = ratio if worst is None else min(worst, ratio)
            print("%-10s %-12s %14.0f %14.0f %7.2f" % (label, level, bare_rate, engine_rate, ratio))
    print("worst ratio %.2f (target >= 0.70): %s" % (worst, "met" if worst >= 0.7 else "NOT met"))


if __name__ == "__main__":
    main()
