#!/usr/bin/env python
"""Fleet benchmark: one security_settings task per system, in-process and as a module, against Ansible's limit.

    .venv/bin/python benchmarks/fleet/run.py [--systems 20 100 500] [--rounds 3] [--forks 5] [--memory]
                                             [--role] [--per-area] [--markdown]

For each fleet size N, on one inventory of N local systems (`ansible_connection: local`, one store each) and
in one session, each run one `ansible-playbook`:

  * **limit**: one `ansible.builtin.assert` task per system -- an action that starts no module process,
    the cheapest task Ansible can run per system;
  * **ping floor**: `--floor-pings` (default 1) `ansible.builtin.ping` tasks per system -- the cheapest
    module process;
  * **first converge** of `ipoffice.security.security_settings` (new stores: every area changes), once on
    the in-process path and once as a module (`IPOFFICE_SECURITY_INPROCESS=false`), each on its own new stores;
  * **no-op** of the same task (nothing changes), both paths;
  * **audit**: `ipoffice.security.security_info` per system, both paths;
  * with --role, the baseline role's no-op (`playbooks/site.yml`: its argument validation + the task);
  * with --per-area, the same state as the four per-area module tasks (in-process).

The state is the one the baseline role applies: a trusted root, a CA-issued identity with a SAN, SCEP
settings, check levels and a line.  The repeated runs alternate for --rounds rounds (the order rotates
each round); each ratio is the median of the per-round ratios against the limit (and the ping floor) of the
same round, so that load on the machine hits all alike.  --memory adds one untimed run per kind that samples
/proc for the peak memory of every worker process (and module process) of ansible-playbook.

Targets (issue 23): the no-op in-process <= 2.5x the limit on 20 and 100 systems; the cost per system flat
from 20 to 500 (the ratio of the per-system costs is printed).  A benchmark, not a test: nothing is
asserted on time.
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
import threading
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
VENV_BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
TARGET = 2.5
STATE = "ipoffice_security"


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
    hosts = dict(("sys-%03d" % (i + 1), {}) for i in range(systems))
    state = {
        # fleet_stores (-e) picks the set of stores: each path's first converge gets new ones.
        "store": {"path": "{{ fleet_stores }}/{{ inventory_hostname }}",
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
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, STATE: state}}}}}
    path = os.path.join(directory, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


def write_play(directory, name, tasks, module_defaults=None):
    play = {"name": name, "hosts": "ipoffice", "gather_facts": False, "tasks": tasks}
    if module_defaults:
        play["module_defaults"] = module_defaults
    path = os.path.join(directory, "%s.yml" % name)
    with open(path, "w") as handle:
        yaml.safe_dump([play], handle, sort_keys=False)
    return path


def write_playbooks(directory, pings):
    store = "{{ %s.store.path }}" % STATE
    settings = dict((option, "{{ %s.%s }}" % (STATE, area)) for option, area in (
        ("trusted", "trusted"), ("identity", "identity"), ("scep", "scep"), ("checks", "checks"), ("lines", "lines")))
    settings.update(store_path=store, system_name="{{ %s.store.system_name }}" % STATE,
                    system_addresses="{{ %s.store.system_addresses }}" % STATE)
    return {
        "limit": write_play(directory, "limit", [
            {"name": "one action, no module process", "ansible.builtin.assert": {"that": [True], "quiet": True}}]),
        "ping": write_play(directory, "ping", [
            {"name": "ping %d" % (i + 1), "ansible.builtin.ping": None} for i in range(pings)]),
        "settings": write_play(directory, "settings", [
            {"name": "security_settings", "ipoffice.security.security_settings": settings}]),
        "audit": write_play(directory, "audit", [
            {"name": "audit", "ipoffice.security.security_info": {"store_path": store}}]),
        "per_area": write_play(directory, "per_area", [
            {"name": "trusted", "ipoffice.security.trusted_certificate": {
                "certificates": "{{ %s.trusted.certificates }}" % STATE}},
            {"name": "identity", "ipoffice.security.identity_certificate": {
                "source": "ca", "subject_name": "{{ %s.identity.subject_name }}" % STATE,
                "subject_alt_names": "{{ %s.identity.subject_alt_names }}" % STATE}},
            {"name": "scep", "ipoffice.security.scep": {"server": "{{ %s.scep.server }}" % STATE,
                                                        "request_interval": 300}},
            {"name": "checks", "ipoffice.security.certificate_checks": {
                "management_interfaces": "medium", "telephony_endpoints": "medium",
                "certificate_expiry_warning_days": 90, "ip_office_lines": "{{ %s.lines }}" % STATE}},
        ], module_defaults={"group/ipoffice.security.all": {"store_path": store}}),
        "role": os.path.join(REPO, "playbooks", "site.yml"),
    }


def env(forks, inprocess):
    result = dict(os.environ)
    result.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                   "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORKS": str(forks), "ANSIBLE_HOST_KEY_CHECKING": "false",
                   "ANSIBLE_RETRY_FILES_ENABLED": "false", "PATH": VENV_BIN + os.pathsep + result.get("PATH", ""),
                   "IPOFFICE_SECURITY_INPROCESS": "true" if inprocess else "false"})
    return result


class Sampler(object):
    """Peak memory of the processes under one ansible-playbook, sampled from /proc every few milliseconds:
    per kind (``worker``: a forked worker of ansible-playbook; ``module``: a module's Python process), the
    largest resident set (RSS, shared pages included) and the largest private memory (Private_Clean +
    Private_Dirty of smaps_rollup: what that process adds on top of what it shares with its parent)."""

    def __init__(self, pid, interval=0.005):
        self.pid = pid
        self.interval = interval
        self.peak = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @staticmethod
    def _children():
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as handle:
                        stat = handle.read()
                except OSError:
                    continue
                parents[int(entry)] = int(stat[stat.rfind(")") + 2:].split()[1])
        return parents

    @staticmethod
    def _memory(pid):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as handle:
                fields = dict((line.split(":")[0], int(line.split()[1]))
                              for line in handle if line.strip().endswith("kB"))
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                cmdline = handle.read()
        except (OSError, ValueError, IndexError):
            return None
        return fields.get("Rss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0), cmdline

    def _loop(self):
        while not self.stop.is_set():
            parents = self._children()
            for pid, ppid in parents.items():
                if ppid == self.pid:
                    kind = "worker"
                elif parents.get(ppid) is not None and pid != self.pid and self._descends(pid, parents):
                    kind = "module"
                else:
                    continue
                memory = self._memory(pid)
                if memory is None or (kind == "module" and b"AnsiballZ" not in memory[2]):
                    continue
                rss, private = memory[0], memory[1]
                old = self.peak.get(kind, (0, 0))
                self.peak[kind] = (max(old[0], rss), max(old[1], private))
            self.stop.wait(self.interval)

    def _descends(self, pid, parents):
        seen = 0
        while pid in parents and seen < 8:
            pid = parents[pid]
            if pid == self.pid:
                return True
            seen += 1
        return False


def play(playbook, inventory, forks, inprocess, stores, memory=False):
    start = time.monotonic()
    args = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, playbook, "-e", "fleet_stores=%s" % stores]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env(forks, inprocess))
    peak = {}
    if memory:
        with Sampler(process.pid) as sampler:
            stdout, stderr = process.communicate()
        peak = sampler.peak
    else:
        stdout, stderr = process.communicate()
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        sys.exit("%s failed (rc %d):\n%s\n%s" % (playbook, process.returncode, stdout[-4000:], stderr[-2000:]))
    recap = dict((m.group(1), dict(ok=int(m.group(2)), changed=int(m.group(3)), skipped=int(m.group(6))))
                 for m in RECAP.finditer(stdout))
    return elapsed, recap, peak


def changed(recap):
    return sum(host["changed"] for host in recap.values())


# name -> (label, playbook key, in-process, changes expected: None (any), 0)
KINDS = [
    ("limit", "limit: 1 assert per system", "limit", True, 0),
    ("ping", "ping floor", "ping", True, 0),
    ("noop_in", "security_settings no-op, in-process", "settings", True, 0),
    ("noop_mod", "security_settings no-op, module", "settings", False, 0),
    ("audit_in", "audit (security_info), in-process", "audit", True, 0),
    ("audit_mod", "audit (security_info), module", "audit", False, 0),
]


def measure(size, args, root, work):
    """Every run of one fleet size: seconds per run kind (one per round), first converges, memory peaks."""
    directory = os.path.join(work, "fleet-%d" % size)
    os.makedirs(directory)
    inventory = write_inventory(directory, size, root)
    books = write_playbooks(directory, args.floor_pings)
    kinds = list(KINDS)
    if args.role:
        kinds.append(("role_in", "baseline role no-op (validation + task), in-process", "role", True, 0))
    if args.per_area:
        kinds.append(("per_area_in", "4 per-area module tasks no-op, in-process", "per_area", True, 0))
    stores_in, stores_mod = os.path.join(directory, "stores-in"), os.path.join(directory, "stores-mod")
    load = [os.getloadavg()[0]]
    first = {}
    for key, inprocess, stores in (("first_in", True, stores_in), ("first_mod", False, stores_mod)):
        elapsed, recap, _peak = play(books["settings"], inventory, args.forks, inprocess, stores)
        assert changed(recap) == size, "every system changes once: %s" % recap
        first[key] = elapsed
    times = dict((kind[0], []) for kind in kinds)
    for index in range(args.rounds):
        order = kinds[index % len(kinds):] + kinds[:index % len(kinds)]
        for key, _label, book, inprocess, expect in order:
            elapsed, recap, _peak = play(books[book], inventory, args.forks, inprocess, stores_in)
            assert expect is None or changed(recap) == expect, "%s changed something: %s" % (key, recap)
            times[key].append(elapsed)
        load.append(os.getloadavg()[0])
    memory = {}
    if args.memory:
        for key, _label, book, inprocess, _expect in kinds:
            memory[key] = play(books[book], inventory, args.forks, inprocess, stores_in, memory=True)[2]
    return {"size": size, "kinds": kinds, "times": times, "first": first, "load": load, "memory": memory}


def ratio(figures, key, base):
    return statistics.median(a / b for a, b in zip(figures["times"][key], figures["times"][base]))


def report(figures, args):
    size, times = figures["size"], figures["times"]
    limit_s = statistics.median(times["limit"])
    print("Fleet: %d local systems, forks %d, %d rounds; load average %s"
          % (size, args.forks, args.rounds, " / ".join("%.1f" % value for value in figures["load"])))
    rows = []
    for key, label, _book, _inprocess, _expect in figures["kinds"]:
        seconds = statistics.median(times[key])
        rows.append((label + " (median)", seconds, ratio(figures, key, "limit"), ratio(figures, key, "ping"), key))
    for key, label in (("first_in", "security_settings first converge, in-process"),
                       ("first_mod", "security_settings first converge, module")):
        seconds = figures["first"][key]
        rows.append((label, seconds, seconds / limit_s, seconds / statistics.median(times["ping"]), key))
    for label, seconds, vs_limit, vs_ping, _key in rows:
        print("  %-58s %8.2f s %6.0f ms/system %6.2fx limit %6.2fx ping" % (
            label, seconds, 1000.0 * seconds / size, vs_limit, vs_ping))
    print("  raw seconds: " + "; ".join("%s %s" % (key, ", ".join("%.2f" % s for s in times[key]))
                                        for key in times))
    for key, peaks in sorted(figures["memory"].items()):
        print("  peak memory, %-12s %s" % (key, "; ".join(
            "%s RSS %.1f MiB, private %.1f MiB" % (kind, rss / 1024.0, private / 1024.0)
            for kind, (rss, private) in sorted(peaks.items()))))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--floor-pings", type=int, default=1, help="ping tasks per system in the ping floor")
    parser.add_argument("--memory", action="store_true", help="one untimed run per kind sampling peak memory")
    parser.add_argument("--role", action="store_true", help="also time the baseline role's no-op (site.yml)")
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
            report(results[-1], args)
            sys.stdout.flush()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("%s, Python %s, %d CPUs" % (platform.platform(), platform.python_version(), os.cpu_count()))
    for figures in results:
        if figures["size"] in (20, 100):
            value = ratio(figures, "noop_in", "limit")
            print("no-op in-process / limit on %d systems = %.2fx (target <= %.1fx): %s"
                  % (figures["size"], value, TARGET, "met" if value <= TARGET else "NOT met"))
    if len(results) > 1:
        # Per system: the run's time over its systems (ansible-playbook's own start is spread, so it falls as
        # the fleet grows). Marginal: the time each further system adds between two sizes (the slope): flat
        # when the cost per system does not grow with the fleet.
        small = results[0]
        for large in results[1:]:
            for key in ("limit", "ping", "noop_in", "noop_mod", "audit_in", "audit_mod"):
                per_small = statistics.median(small["times"][key]) / small["size"]
                per_large = statistics.median(large["times"][key]) / large["size"]
                print("%-9s cost per system, %d -> %d systems: %.1f ms -> %.1f ms = %.2fx" % (
                    key, small["size"], large["size"], 1000 * per_small, 1000 * per_large, per_large / per_small))
        for before, after in zip(results, results[1:]):
            for key in ("limit", "ping", "noop_in", "noop_mod", "audit_in", "audit_mod"):
                slope = (statistics.median(after["times"][key]) - statistics.median(before["times"][key])) / (
                    after["size"] - before["size"])
                print("%-9s marginal cost per system, %d -> %d systems: %.1f ms" % (
                    key, before["size"], after["size"], 1000 * slope))
    if args.markdown:
        print()
        print("| Systems | Run | Time (s) | per system (ms) | vs limit | vs ping floor |")
        print("|---|---|---|---|---|---|")
        for figures in results:
            rows = []
            times = figures["times"]
            for key, label, _book, _inprocess, _expect in figures["kinds"]:
                rows.append((label, statistics.median(times[key]), ratio(figures, key, "limit"),
                             ratio(figures, key, "ping")))
            limit_s, ping_s = statistics.median(times["limit"]), statistics.median(times["ping"])
            for key, label in (("first_in", "security_settings first converge, in-process"),
                               ("first_mod", "security_settings first converge, module")):
                rows.append((label, figures["first"][key], figures["first"][key] / limit_s,
                             figures["first"][key] / ping_s))
            for label, seconds, vs_limit, vs_ping in rows:
                print("| %d | %s | %.2f | %.1f | %.2fx | %.2fx |" % (
                    figures["size"], label, seconds, 1000.0 * seconds / figures["size"], vs_limit, vs_ping))
    return 0


if __name__ == "__main__":
    sys.exit(main())
