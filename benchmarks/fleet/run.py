#!/usr/bin/env python
"""Fleet benchmark: roles/baseline (one security_settings task per system) on N local systems against the ping floor.

    .venv/bin/python benchmarks/fleet/run.py [--systems 20 100] [--rounds 3] [--forks 5] [--per-area] [--markdown]

For each fleet size N, on one inventory of N systems (`ansible_connection: local`, one store each) and in
one session:
  1. the baseline's first converge (new stores: every area changes, one generation per system),
  2. its no-op re-converge (nothing changes),
  3. its check-mode drift run (`--check --diff` on the converged fleet, as a nightly drift job runs it),
  4. the ping floor: a playbook of 4 `ansible.builtin.ping` tasks per system (what the four per-area modules
     the baseline used to call cost at the least), same inventory, same forks;
  5. with --per-area, the same state as the four per-area module calls as plain tasks (trusted_certificate,
     identity_certificate, scep, certificate_checks), to compare with the one-call transaction.
The no-op, the ping floor (and the per-area calls) alternate for --rounds rounds; each ratio is the median of
the per-round ratios, so that load on the machine hits all alike. Targets: no-op re-converge <= 0.5x the
4-ping floor on 20 systems, and cost per system flat from 20 to 100 systems (the ratio of the per-system
no-op costs is printed). A benchmark, not a test: nothing is asserted on time.
"""

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
VENV_BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
TARGET = 0.5
FLOOR_PINGS = 4


def ensure_collection():
    link = os.path.join(COLLECTIONS, "ansible_collections", "ipoffice", "security")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    sys.path.insert(0, COLLECTIONS)


def make_root(directory):
    from ansible_collections.ipoffice.security.plugins.module_utils import _certs

    key = _certs.generate_private_key("sha256_rsa2048")
    cert = _certs.build_certificate("CN=Fleet Benchmark Partner Root", key, 3650, ca=True)
    path = os.path.join(directory, "partner-root.pem")
    with open(path, "wb") as handle:
        handle.write(_certs.cert_pem(cert))
    return path


def write_inventory(directory, systems, root):
    hosts = dict(("sys-%02d" % (i + 1), {}) for i in range(systems))
    state = {
        "store": {"path": os.path.join(directory, "stores", "{{ inventory_hostname }}"),
                  "system_name": "{{ inventory_hostname }}.example.com", "system_addresses": []},
        "trusted": {"certificates": [{"path": root}]},
        "identity": {"source": "ca", "subject_name": "{{ inventory_hostname }}.example.com",
                     "subject_alt_names": ["DNS:{{ inventory_hostname }}.example.com"]},
        "scep": {"server": "scep.example.com", "request_interval": 300},
        "checks": {"management_interfaces": "medium", "telephony_endpoints": "medium",
                   "certificate_expiry_warning_days": 90},
        "lines": [{"name": "branch", "transport": "websocket_client", "check_level": "medium"}],
    }
    inventory = {"all": {"children": {"ipoffice": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ipoffice_security": state}}}}}
    path = os.path.join(directory, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


def write_ping(directory, tasks):
    play = [{"name": "Ping floor", "hosts": "ipoffice", "gather_facts": False,
             "tasks": [{"name": "ping %d" % (i + 1), "ansible.builtin.ping": None} for i in range(tasks)]}]
    path = os.path.join(directory, "ping.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def write_bare(directory):
    """The same four module calls as the baseline's no-op, as plain tasks: no role, validation or skipped steps."""
    state = "ipoffice_security"
    play = [{"name": "Bare module tasks", "hosts": "ipoffice", "gather_facts": False,
             "module_defaults": {"group/ipoffice.security.all": {"store_path": "{{ %s.store.path }}" % state}},
             "tasks": [
                 {"name": "trusted", "ipoffice.security.trusted_certificate": {
                     "certificates": "{{ %s.trusted.certificates }}" % state}},
                 {"name": "identity", "ipoffice.security.identity_certificate": {
                     "source": "ca", "subject_name": "{{ %s.identity.subject_name }}" % state,
                     "subject_alt_names": "{{ %s.identity.subject_alt_names }}" % state}},
                 {"name": "scep", "ipoffice.security.scep": {
                     "server": "{{ %s.scep.server }}" % state, "request_interval": 300}},
                 {"name": "checks", "ipoffice.security.certificate_checks": {
                     "management_interfaces": "medium", "telephony_endpoints": "medium",
                     "certificate_expiry_warning_days": 90, "ip_office_lines": "{{ %s.lines }}" % state}},
             ]}]
    path = os.path.join(directory, "bare.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def env(forks):
    result = dict(os.environ)
    result.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                   "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORKS": str(forks), "ANSIBLE_HOST_KEY_CHECKING": "false",
                   "ANSIBLE_RETRY_FILES_ENABLED": "false", "PATH": VENV_BIN + os.pathsep + result.get("PATH", "")})
    return result


def play(playbook, inventory, forks, *args):
    start = time.monotonic()
    run = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, playbook] + list(args),
                         capture_output=True, text=True, env=env(forks), check=False)
    elapsed = time.monotonic() - start
    if run.returncode != 0:
        sys.exit("%s failed (rc %d):\n%s\n%s" % (playbook, run.returncode, run.stdout[-4000:], run.stderr[-2000:]))
    recap = dict((m.group(1), dict(ok=int(m.group(2)), changed=int(m.group(3)), skipped=int(m.group(6))))
                 for m in RECAP.finditer(run.stdout))
    return elapsed, recap


def total(recap, key):
    return sum(host[key] for host in recap.values())


def measure(size, args, root, work):
    """Every run of one fleet size; the figures as a dict of seconds (medians) and per-round ratios."""
    directory = os.path.join(work, "fleet-%d" % size)
    os.makedirs(os.path.join(directory, "stores"))
    inventory = write_inventory(directory, size, root)
    site = os.path.join(REPO, "playbooks", "site.yml")
    first, recap = play(site, inventory, args.forks)
    assert total(recap, "changed") == size, "every system changes once (one task): %s" % recap
    ping = write_ping(directory, FLOOR_PINGS)
    bare = write_bare(directory) if args.per_area else None
    noop, floor, bare_runs = [], [], []
    for _round in range(args.rounds):
        elapsed, recap = play(site, inventory, args.forks)
        assert total(recap, "changed") == 0, "the re-converge changed something: %s" % recap
        noop.append(elapsed)
        floor.append(play(ping, inventory, args.forks)[0])
        if bare:
            elapsed, recap = play(bare, inventory, args.forks)
            assert total(recap, "changed") == 0, "the per-area tasks changed something: %s" % recap
            bare_runs.append(elapsed)
    drift, recap = play(site, inventory, args.forks, "--check", "--diff")
    assert total(recap, "changed") == 0, recap
    return {"size": size, "first": first, "drift": drift, "noop": noop, "floor": floor, "bare": bare_runs,
            "first_ratio": first / statistics.median(floor),
            "noop_ratio": statistics.median(n / f for n, f in zip(noop, floor)),
            "bare_ratio": statistics.median(b / f for b, f in zip(bare_runs, floor)) if bare_runs else None}


def report(figures, args):
    floor_s = statistics.median(figures["floor"])
    size = figures["size"]
    rows = [("first converge (new stores)", figures["first"]),
            ("no-op re-converge (median)", statistics.median(figures["noop"])),
            ("check-mode drift run", figures["drift"])]
    if figures["bare"]:
        rows.append(("4 per-area module tasks, no-op (median)", statistics.median(figures["bare"])))
    rows.append(("ping floor, %d pings per system (median)" % FLOOR_PINGS, floor_s))
    print("Fleet: %d local systems, forks %d, %d rounds" % (size, args.forks, args.rounds))
    for name, seconds in rows:
        print("  %-42s %7.2f s  %5.2fx ping floor  (%.0f ms per system)"
              % (name, seconds, seconds / floor_s, 1000.0 * seconds / size))
    print("  no-op re-converge / %d-ping floor = %.2fx (median of per-round ratios; target <= %.1fx on 20 systems)"
          % (FLOOR_PINGS, figures["noop_ratio"], TARGET))
    if figures["bare_ratio"] is not None:
        print("  4 per-area module tasks / %d-ping floor = %.2fx" % (FLOOR_PINGS, figures["bare_ratio"]))
    print("  raw seconds: no-op %s; ping x%d %s%s" % (
        ", ".join("%.2f" % s for s in figures["noop"]), FLOOR_PINGS, ", ".join("%.2f" % s for s in figures["floor"]),
        ("; per-area " + ", ".join("%.2f" % s for s in figures["bare"])) if figures["bare"] else ""))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--per-area", action="store_true", help="also time the four per-area module tasks")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--markdown", action="store_true", help="print the docs/performance.md table")
    args = parser.parse_args(argv)
    ensure_collection()
    work = tempfile.mkdtemp(prefix="ipoffice-fleet-")
    results = []
    try:
        root = make_root(work)
        for size in args.systems:
            results.append(measure(size, args, root, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    machine = "%s, Python %s, %d CPUs, load %s" % (platform.platform(), platform.python_version(), os.cpu_count(),
                                                   "%.1f" % os.getloadavg()[0])
    print(machine)
    tables = [(figures, report(figures, args)) for figures in results]
    for figures in results:
        if figures["size"] == 20:
            print("no-op re-converge / %d-ping floor on 20 systems = %.2fx (target <= %.1fx): %s"
                  % (FLOOR_PINGS, figures["noop_ratio"], TARGET, "met" if figures["noop_ratio"] <= TARGET
                     else "NOT met"))
    if len(results) > 1:
        small, large = results[0], results[-1]
        for label, key in (("no-op re-converge", "noop"), ("ping floor", "floor")):
            per_small = statistics.median(small[key]) / small["size"]
            per_large = statistics.median(large[key]) / large["size"]
            print("%s cost per system, %d -> %d systems: %.0f ms -> %.0f ms = %.2fx" % (
                label, small["size"], large["size"], 1000 * per_small, 1000 * per_large, per_large / per_small))
        print("first converge cost per system, %d -> %d systems: %.2fx" % (
            small["size"], large["size"], (large["first"] / large["size"]) / (small["first"] / small["size"])))
    if args.markdown:
        print()
        print("| Systems | Run | Time (s) | per system (ms) | vs %d-ping floor |" % FLOOR_PINGS)
        print("|---|---|---|---|---|")
        for figures, rows in tables:
            floor_s = statistics.median(figures["floor"])
            for name, seconds in rows:
                per_system = 1000.0 * seconds / figures["size"]
                ratio = seconds / floor_s
                print("| %d | %s | %.2f | %.0f | %.2fx |" % (figures["size"], name, seconds, per_system, ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
