#!/usr/bin/env python
"""One SCEP enrollment through _scep.py versus Debian's Go `scepclient`, same local scepserver, same run.

Each enrollment includes generating a new RSA 2048 key, GetCACaps, GetCACert and PKCSReq; the Go client
is timed as the whole process (what a user would run).  Prints per-client medians and the ratio.

    .venv/bin/python benchmarks/scep.py [--repetitions 15]
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
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import helpers  # noqa: E402

helpers.ensure_collection_path()

import scep_servers  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from ansible_collections.ipoffice.security.plugins.module_utils import _scep  # noqa: E402


def ours(url, index):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _scep.subject_of("bench-py-%d" % index)
    client = _scep.Client(url, retries=0)
    try:
        client.get_ca_caps()
        client.get_ca_cert()
        csr = _scep.build_csr(key, subject, (), scep_servers.CHALLENGE)
        reply = client.enroll(csr, _scep.self_signed_signer(key, subject), key, _scep.transaction_id_for(key))
    finally:
        client.close()
    assert reply.status == _scep.SUCCESS and reply.certificates, reply.status


def go(url, index, workdir):
    key = os.path.join(workdir, "go-%d.key" % index)
    cert = os.path.join(workdir, "go-%d.pem" % index)
    subprocess.run([shutil.which("scepclient"), "-server-url", url, "-private-key", key, "-certificate", cert,
                    "-cn", "bench-go-%d" % index, "-challenge", scep_servers.CHALLENGE],
                   check=True, capture_output=True, timeout=60)
    assert os.path.getsize(cert) > 0


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15)
    options = parser.parse_args()
    for tool in ("scepserver", "scepclient"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (apt-get install scep)" % tool)
    workdir = tempfile.mkdtemp(prefix="scep-bench-")
    try:
        depot = scep_servers.init_depot(os.path.join(workdir, "depot"))
        with scep_servers.scepserver(depot) as server:
            ours(server.url, -1)  # warm-up (imports, first connection)
            go(server.url, -1, workdir)
            python_times, go_times = [], []
            for index in range(options.repetitions):  # interleaved: both see the same machine load
                python_times.append(timed(ours, server.url, index))
                go_times.append(timed(go, server.url, index, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    python_median = statistics.median(python_times)
    go_median = statistics.median(go_times)
    print("SCEP enrollment (RSA 2048 key generation + GetCACaps + GetCACert + PKCSReq), %d repetitions each"
          % options.repetitions)
    print("  _scep.py (in process)   median %7.1f ms  (min %.1f, max %.1f)"
          % (python_median * 1e3, min(python_times) * 1e3, max(python_times) * 1e3))
    print("  scepclient (Go process) median %7.1f ms  (min %.1f, max %.1f)"
          % (go_median * 1e3, min(go_times) * 1e3, max(go_times) * 1e3))
    print("  ratio _scep.py / scepclient: %.2fx (target <= 2x)" % (python_median / go_median))


if __name__ == "__main__":
    main()
