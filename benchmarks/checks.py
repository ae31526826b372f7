"""Benchmark: the check engine's evaluate() against the bare cryptography server verifier.

What each side does per call (both in this process, on the same chains: root -> issuing CA -> leaf,
RSA-2048 and EC P-256, all three certificates already parsed once, before timing):

* bare:   verification.Store([root]) + PolicyBuilder().store().time() + build_server_verifier(DNSName)
          + verify(leaf, [intermediate]) -- the least a caller needs per chain at a given time.
* engine: evaluate(leaf, level, purpose="sip_server", chain=[intermediate], trusted=TCS, identity=...,
          peer_name="sip.example.com", sip_domain="example.com", at=...).  evaluate() builds its own
          Store + PolicyBuilder + verifier per call too (policies are immutable module constants), runs
          the path validation and every check of the level.  medium: path validation + leaf checks;
          high_remote: plus self-signed, reflected, pinned (TCS = [root, leaf]), RFC 9525 host name and
          RFC 5922 SIP domain.  Facts derived from a certificate object alone (extensions, SAN name
          tables, key strength, self-signed) are remembered per object, as in real use where the same
          parsed leaf is evaluated at several levels and the TCS roots recur in every evaluation.

The "parse per call" rows (--cold) are informative, not the target: both sides load the three PEM
certificates into new objects per call, so the engine derives every certificate's facts anew (its memo
is per object).  The "first sight" rows (--first-sight), informative too: parse per call
and the engine's memos emptied before every call, as for certificates never seen before (the engine
then verifies the root's self-signature and parses every certificate's extensions and names).

Robust against load from elsewhere: time is this thread's CPU time (time.thread_time), so time spent
descheduled does not count, and the two sides alternate in many short rounds (default 20 rounds of 0.2 s
CPU per side, which side goes first alternates); the ratio is the median of the per-round ratios (engine
rate / bare rate), the rates the median per-round chains per CPU-second.  The spread of the per-round
ratios is printed too.  A benchmark that prints figures, never a timed test.

    .venv/bin/python benchmarks/checks.py [--rounds 20] [--round-seconds 0.2] [--cold] [--first-sight]
"""

import argparse
import datetime
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import helpers  # noqa: E402

helpers.ensure_collection_path()

from ansible_collections.ipoffice.security.plugins.module_utils import _certs  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils import _checks, _names  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._checks import evaluate  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.x509 import verification  # noqa: E402

TARGET = 0.7
# This thread's CPU time: the verifier (Rust) runs in the calling thread, and time spent descheduled by
# other processes' load does not count, so "chains/s" means chains per CPU-second of this thread.
CLOCK = time.thread_time


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


def _forget():
    """Empty the engine's memos (facts per certificate object and value, reference identities)."""
    for table in (_checks._FACTS, _names._PEER_NAMES_PARSED, _names._SIP_DOMAINS_PARSED):
        table.clear()


def _calls_in(func, seconds):
    """How many calls of func take about `seconds` of CPU (calibrated on a short run)."""
    func()
    calls, start = 0, CLOCK()
    while CLOCK() - start < seconds / 4:
        func()
        calls += 1
    return max(calls * 4, 5)


def _timed(func, calls):
    start = CLOCK()
    for _index in range(calls):
        func()
    return CLOCK() - start


def compare(bare, engine, rounds, round_seconds):
    """(bare chains/s, engine chains/s, median ratio, lowest ratio, highest ratio) over alternating rounds."""
    bare_calls = _calls_in(bare, round_seconds)
    engine_calls = _calls_in(engine, round_seconds)
    bare_rates, engine_rates, ratios = [], [], []
    for index in range(rounds):
        # alternate which side goes first, so a load change within a round hits both sides alike
        if index % 2:
            engine_rate = engine_calls / _timed(engine, engine_calls)
            bare_rate = bare_calls / _timed(bare, bare_calls)
        else:
            bare_rate = bare_calls / _timed(bare, bare_calls)
            engine_rate = engine_calls / _timed(engine, engine_calls)
        bare_rates.append(bare_rate)
        engine_rates.append(engine_rate)
        ratios.append(engine_rate / bare_rate)
    return (statistics.median(bare_rates), statistics.median(engine_rates), statistics.median(ratios),
            min(ratios), max(ratios))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds per row (default 20)")
    parser.add_argument("--round-seconds", type=float, default=0.2,
                        help="CPU seconds per side per round (default 0.2)")
    parser.add_argument("--cold", action="store_true", help="also the informative 'parse per call' rows")
    parser.add_argument("--first-sight", action="store_true",
                        help="also the informative 'first sight' rows (parse per call, engine memos emptied)")
    args = parser.parse_args()
    print("load average before: %.2f %.2f %.2f on %d CPUs" % (os.getloadavg() + (os.cpu_count(),)))
    print("%d alternating rounds x %.2f CPU-s per side; chains per CPU-second of this thread, median round; "
          "ratio = median of per-round ratios (engine/bare)" % (args.rounds, args.round_seconds))
    header = ("chain", "level", "certificates", "bare chains/s", "engine chains/s", "ratio", "ratio range")
    print("%-9s %-12s %-15s %13s %15s %6s %11s" % header)
    worst = None
    for label, signature in (("RSA-2048", "sha256_rsa2048"), ("EC P-256", "sha256_ecdsa_p256")):
        root, inter, leaf, identity = make_chain(signature)
        # validation time per chain, after it is made: under heavy load making the EC chain can take longer
        # than the certificates' 5-minute backdating, and a time taken before would precede their validity
        at = datetime.datetime.now(datetime.timezone.utc)
        pems = [c.public_bytes(serialization.Encoding.PEM) for c in (root, inter, leaf)]
        name = verification.DNSName("sip.example.com")

        def bare(root=root, inter=inter, leaf=leaf, name=name, at=at):
            verifier = (verification.PolicyBuilder().store(verification.Store([root])).time(at)
                        .build_server_verifier(name))
            verifier.verify(leaf, [inter])

        def bare_parsing(pems=pems, name=name, at=at):
            root, inter, leaf = [x509.load_pem_x509_certificate(pem) for pem in pems]
            verifier = (verification.PolicyBuilder().store(verification.Store([root])).time(at)
                        .build_server_verifier(name))
            verifier.verify(leaf, [inter])

        for level in ("medium", "high_remote"):
            trusted = (root, leaf) if level == "high_remote" else (root,)

            def engine(leaf=leaf, level=level, inter=inter, trusted=trusted, identity=identity, at=at):
                report = evaluate(leaf, level=level, purpose="sip_server", chain=[inter], trusted=trusted,
                                  identity=identity, peer_name="sip.example.com", sip_domain="example.com", at=at)
                assert report.passed, report.findings

            def engine_parsing(pems=pems, level=level, identity=identity, at=at):
                root, inter, leaf = [x509.load_pem_x509_certificate(pem) for pem in pems]
                trusted = [root, leaf] if level == "high_remote" else [root]
                report = evaluate(leaf, level=level, purpose="sip_server", chain=[inter], trusted=trusted,
                                  identity=identity, peer_name="sip.example.com", sip_domain="example.com", at=at)
                assert report.passed, report.findings

            def engine_first_sight(engine_parsing=engine_parsing):
                _forget()
                engine_parsing()

            rows = [("parsed once", bare, engine, True)]
            if args.cold:
                rows.append(("parse per call", bare_parsing, engine_parsing, False))
            if args.first_sight:
                rows.append(("first sight", bare_parsing, engine_first_sight, False))
            for what, bare_side, engine_side, counted in rows:
                bare_rate, engine_rate, ratio, low, high = compare(bare_side, engine_side, args.rounds,
                                                                   args.round_seconds)
                if counted:
                    worst = ratio if worst is None else min(worst, ratio)
                row = (label, level, what, bare_rate, engine_rate, ratio, low, high)
                print("%-9s %-12s %-15s %13.0f %15.0f %6.2f %5.2f-%.2f" % row)
                sys.stdout.flush()
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    print("worst median ratio (parsed once) %.2f (target >= %.2f): %s"
          % (worst, TARGET, "met" if worst >= TARGET else "NOT met"))


if __name__ == "__main__":
    main()
