#!/usr/bin/env python
"""The two bridges to a real system, each against the plain OpenSSL command doing the least of its work.

live: one endpoint read back by ``_live.read_back`` (handshake, fetch, compare with the store, the engine
      at medium and high_remote) versus ``openssl s_client -showcerts`` fetching the same chain from the
      same local ``openssl s_server`` (the whole process, what a person would run).
export: ``_export.run`` writing one system's handoff files (two PKCS#12, PEM, TCS .cer files, manifest)
      and re-running it (nothing changes; each PKCS#12 is opened with the password to decide that)
      versus two ``openssl pkcs12 -export`` processes writing the two PKCS#12 files alone.

Interleaved, medians, ratios printed.

    .venv/bin/python benchmarks/real_systems.py [--repetitions 15]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import helpers  # noqa: E402

helpers.ensure_collection_path()

from ansible_collections.ipoffice.security.plugins.module_utils import _certs, _export, _live  # noqa: E402
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore  # noqa: E402


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=15)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-real-")
    try:
        store = DirectoryStore(path=os.path.join(work, "store"), system_name="bench.example.com",
                               system_addresses=["127.0.0.1"])
        store.update(lambda state: None)
        state = store.read()
        identity = os.path.join(store.path, "current", "identity")
        rest = os.path.join(work, "rest.pem")
        with open(rest, "wb") as handle:
            handle.write(_certs.certs_pem(state.offered_chain(state.identity)[1:]))
        endpoint = None
        live, client = [], []
        with helpers.openssl_server(os.path.join(identity, "cert.pem"), os.path.join(identity, "key.pem"),
                                    chain_file=rest) as port:
            endpoint = {"host": "127.0.0.1", "port": port, "server_name": None, "serves": "management"}
            for _index in range(args.repetitions):
                live.append(timed(lambda: _live.read_back(state, endpoint, timeout=10)))
                client.append(timed(lambda: subprocess.run(
                    ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-showcerts"],
                    stdin=subprocess.DEVNULL, capture_output=True, check=True, timeout=30)))
        first, rerun, openssl = [], [], []
        with open(os.path.join(identity, "chain.pem"), "rb") as handle:
            has_chain = bool(handle.read().strip())
        for index in range(args.repetitions):
            out = os.path.join(work, "out-%d" % index)
            params = {"path": out, "password": "bench-pw", "encryption": "modern"}
            first.append(timed(lambda params=params: _export.run(store, params)))
            rerun.append(timed(lambda params=params: _export.run(store, params)))

            def plain(index=index):
                for name, chain in (("manager", False), ("web", has_chain)):
                    command = ["openssl", "pkcs12", "-export", "-inkey", os.path.join(identity, "key.pem"),
                               "-in", os.path.join(identity, "cert.pem"), "-passout", "pass:bench-pw",
                               "-out", os.path.join(work, "%s-%d.p12" % (name, index))]
                    if chain:
                        command += ["-certfile", os.path.join(identity, "chain.pem")]
                    subprocess.run(command, capture_output=True, check=True, timeout=60)
            openssl.append(timed(plain))
        rows = [("live read-back, one endpoint", live, "openssl s_client -showcerts", client),
                ("export, first run", first, "2 x openssl pkcs12 -export", openssl),
                ("export, re-run (no change)", rerun, "2 x openssl pkcs12 -export", openssl)]
        print("%d repetitions, medians" % args.repetitions)
        for name, ours, base_name, base in rows:
            a, b = statistics.median(ours), statistics.median(base)
            print("%-30s %8.1f ms   %-28s %8.1f ms   ratio %.2fx" % (name, a * 1000, base_name, b * 1000, a / b))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
