#!/usr/bin/env python
"""Fleet benchmark: roles/baseline on N local systems against the ansible.builtin.ping floor.

    .venv/bin/python benchmarks/fleet/run.py [--systems 20] [--rounds 3] [--forks 5]

On one inventory of N systems (`ansible_connection: local`, one store each) and in one session:
  1. the baseline's first converge (new stores: every step changes),
  2. its no-op re-converge (nothing changes),
  3. its check-mode drift run (`--check --diff` on the converged fleet, as a nightly drift job runs it),
  4. the ping floor: a playbook with as many `ansible.builtin.ping` tasks per system as the baseline ran
     module tasks per system, on the same inventory with the same forks (the strict floor), and one with
     as many pings as the baseline ran tasks of any kind per system (its argument validation included;
     skipped tasks are not counted in either).
  5. the same four module calls as plain tasks (no role, no argument validation, no skipped steps), to
     tell the modules' own cost from the role's.
The no-op, bare and ping runs alternate for --rounds rounds and the medians are compared, so that load on the
machine hits all alike. Target: no-op re-converge <= 1.3x the ping floor. Prints times and ratios
(--markdown prints the docs/performance.md section). A benchmark, not a test: nothing is asserted on time.
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
TARGET = 1.3


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--markdown", action="store_true", help="print the docs/performance.md section")
    args = parser.parse_args(argv)
    ensure_collection()
    work = tempfile.mkdtemp(prefix="ipoffice-fleet-")
    site = os.path.join(REPO, "playbooks", "site.yml")
    try:
        inventory = write_inventory(work, args.systems, make_root(work))
        first, recap = play(site, inventory, args.forks)
        # Module tasks per system: every task that ran, minus the role's argument validation.
        ran_tasks = recap["sys-01"]["ok"]
        module_tasks = ran_tasks - 1
        assert total(recap, "changed") == args.systems * module_tasks, recap
        ping = write_ping(work, module_tasks)
        os.makedirs(os.path.join(work, "all"))
        ping_all = write_ping(os.path.join(work, "all"), ran_tasks)
        bare = write_bare(work)
        noop, floor, floor_all, bare_runs = [], [], [], []
        for _round in range(args.rounds):
            elapsed, recap = play(site, inventory, args.forks)
            assert total(recap, "changed") == 0, "the re-converge changed something: %s" % recap
            noop.append(elapsed)
            elapsed, recap = play(bare, inventory, args.forks)
            assert total(recap, "changed") == 0, "the bare tasks changed something: %s" % recap
            bare_runs.append(elapsed)
            floor.append(play(ping, inventory, args.forks)[0])
            floor_all.append(play(ping_all, inventory, args.forks)[0])
        drift, recap = play(site, inventory, args.forks, "--check", "--diff")
        assert total(recap, "changed") == 0, recap
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    floor_s, noop_s, floor_all_s = statistics.median(floor), statistics.median(noop), statistics.median(floor_all)
    rows = [("first converge", first), ("no-op re-converge (median)", noop_s), ("check-mode drift run", drift),
            ("same module calls, no role (median)", statistics.median(bare_runs)),
            ("ping floor, %d pings (median)" % module_tasks, floor_s),
            ("ping floor, %d pings (median)" % ran_tasks, floor_all_s)]
    machine = "%s, Python %s, %d CPUs, load %s" % (platform.platform(), platform.python_version(), os.cpu_count(),
                                                   "%.1f" % os.getloadavg()[0])
    print("Fleet: %d local systems, %d module tasks per system, forks %d, %d rounds (%s)"
          % (args.systems, module_tasks, args.forks, args.rounds, machine))
    for name, seconds in rows:
        print("  %-36s %7.2f s  %5.2fx ping floor  (%.0f ms per system-task)"
              % (name, seconds, seconds / floor_s, 1000.0 * seconds / (args.systems * module_tasks)))
    # Ratios are the median of each round's ratio: the runs of a round are back to back, so a change of
    # load on the machine between rounds cancels out.
    for label, runs in (("%d pings = module tasks" % module_tasks, floor),
                        ("%d pings = tasks run, validation included" % ran_tasks, floor_all)):
        ratio = statistics.median(n / f for n, f in zip(noop, runs))
        print("no-op re-converge / ping floor (%s) = %.2fx (target <= %.1fx): %s"
              % (label, ratio, TARGET, "met" if ratio <= TARGET else "NOT met"))
    print("no-op re-converge / the same module calls without the role = %.2fx (the role's own cost)"
          % statistics.median(n / b for n, b in zip(noop, bare_runs)))
    print("the same module calls without the role / ping floor (%d pings) = %.2fx (the modules' own cost)"
          % (module_tasks, statistics.median(b / f for b, f in zip(bare_runs, floor))))
    print("raw seconds: no-op %s; bare %s; ping x%d %s; ping x%d %s" % (
        ", ".join("%.2f" % s for s in noop), ", ".join("%.2f" % s for s in bare_runs), module_tasks,
        ", ".join("%.2f" % s for s in floor), ran_tasks, ", ".join("%.2f" % s for s in floor_all)))
    if args.markdown:
        print()
        print("| Run | Time (s) | vs %d-ping floor |" % module_tasks)
        print("|---|---|---|")
        for name, seconds in rows:
            print("| %s | %.2f | %.2fx |" % (name, seconds, seconds / floor_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
