"""Which way a module of the collection runs (plugins/plugin_utils/_inprocess.py), through real ansible-playbook runs.

On the controller (connection ``local``, or delegated to localhost) the action plugin runs the module's
decisions in the worker; on any other connection, with become, with task environment, or when forced by
the switch (IPOFFICE_SECURITY_INPROCESS / ipoffice_security_inprocess), the module runs as a module. Which
way ran is read where a person debugging would read it: at -vvv each task says so, and only the module path
ships and starts an AnsiballZ payload. The results are the same either way.

A connection that is not local is the test-only connection plugin tests/integration/connection_plugins/
ipoffice_elsewhere.py: ansible.builtin.local under another transport name, so the module really runs. A
controller below the library floor is this virtualenv's ansible-core with an older cryptography first on
its path.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig

import yaml

import helpers

CONNECTION_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "connection_plugins")
IN_PROCESS = "ipoffice.security.%s runs in the controller's worker"
AS_MODULE = "ipoffice.security.%s runs as a module: %s"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")


def play(tmp_path, hosts, tasks, env=None, name="play", controller=None):
    """Run ``tasks`` on ``hosts`` (name -> host vars) at -vvv; (process, {host: [registered result per task]}).

    ``controller``: the Python that runs ansible-playbook (default this virtualenv's)."""
    inventory = {"all": {"hosts": hosts, "vars": {"ansible_python_interpreter": sys.executable}}}
    (tmp_path / ("%s-inventory.yml" % name)).write_text(yaml.safe_dump(inventory))
    registered = []
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task, register="r%d" % index, ignore_errors=True)
        registered.append("r%d" % index)
        play_tasks.append(task)
    out = str(tmp_path / name) + "-{{ inventory_hostname }}.json"
    play_tasks.append({"name": "dump", "ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join(registered), "dest": out, "mode": "0600"},
        "delegate_to": "localhost", "check_mode": False, "diff": False})
    (tmp_path / ("%s.yml" % name)).write_text(yaml.safe_dump(
        [{"hosts": "all", "gather_facts": False, "tasks": play_tasks}], sort_keys=False))
    extra = {"ANSIBLE_CONNECTION_PLUGINS": CONNECTION_PLUGINS, "ANSIBLE_VERBOSITY": "3"}
    extra.update(env or {})
    command = [os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / ("%s-inventory.yml" % name)),
               str(tmp_path / ("%s.yml" % name))]
    process = subprocess.run(([controller] if controller else []) + command,
                             capture_output=True, text=True, env=helpers.ansible_env(extra), timeout=300,
                             cwd=str(tmp_path), check=False)
    assert process.returncode == 0, process.stdout[-5000:] + process.stderr[-3000:]
    results = dict((host, json.loads((tmp_path / ("%s-%s.json" % (name, host))).read_text())) for host in hosts)
    return process, results


def lines_of(process, host):
    """The -vvv lines Ansible prefixes with ``<host>``."""
    return [line for line in process.stdout.splitlines() if line.startswith("<%s> " % host)]


def ran(process, host, module):
    """'inprocess' or 'module', from what -vvv shows for ``host``; asserts the two ways are not mixed up."""
    lines = lines_of(process, host)
    inprocess = [line for line in lines if IN_PROCESS % module in line]
    ansiballz = [line for line in lines if "AnsiballZ_%s.py" % module in line]
    as_module = [line for line in lines if "ipoffice.security.%s runs as a module" % module in line]
    if inprocess:
        assert not ansiballz and not as_module, lines
        return "inprocess"
    assert ansiballz and as_module, lines
    return "module"


def reasons_of(process, host, module):
    """What -vvv says, for ``host``, about which way each ``module`` task ran and why."""
    return [line.split("> ", 1)[1] for line in lines_of(process, host)
            if "ipoffice.security.%s runs" % module in line]


def same(result, store, host):
    """A result with what differs between two systems on purpose (the store path, times) normalised."""
    text = json.dumps(result, sort_keys=True).replace(store, "<store>").replace(host, "<host>")
    return json.loads(TIME.sub("<time>", text))


def test_a_connection_that_is_not_local_runs_the_module_and_gives_the_same_result(tmp_path):
    hosts = {"near": {"ansible_connection": "local"}, "far": {"ansible_connection": "ipoffice_elsewhere"}}
    store = str(tmp_path / "stores") + "/{{ inventory_hostname }}"
    tasks = [
        {"ipoffice.security.certificate_checks": {"store_path": store, "system_name": "{{ inventory_hostname }}.test",
                                                  "management_interfaces": "medium"}},
        {"ipoffice.security.security_info": {"store_path": store}},
        # delegated to localhost: the local connection again, whatever the host's own connection
        {"ipoffice.security.security_info": {"store_path": store}, "delegate_to": "localhost"},
    ]
    process, results = play(tmp_path, hosts, tasks)
    out = process.stdout
    assert ran(process, "near", "certificate_checks") == "inprocess"
    assert ran(process, "far", "certificate_checks") == "module"
    assert AS_MODULE % ("certificate_checks", "the connection 'ipoffice_elsewhere' is not local") in out
    # security_info: once on each host's own connection, once delegated (only far's own runs the module)
    far_info = [line for line in lines_of(process, "far") if "security_info" in line]
    assert any(AS_MODULE % ("security_info", "the connection 'ipoffice_elsewhere' is not local") in line
               for line in far_info), far_info
    assert sum(IN_PROCESS % "security_info" in line for line in far_info) == 1, far_info
    assert sum(IN_PROCESS % "security_info" in line for line in lines_of(process, "near")) == 2
    for host in hosts:
        assert results[host][0]["changed"] is True and results[host][0]["warnings"], results[host][0]
        assert results[host][1]["initialised"] is True
    # Each store has its own keys and CA: the checks result is compared whole, the snapshots by what is not random.
    near, far = ([same(r, str(tmp_path / "stores" / host), host) for r in results[host]] for host in ("near", "far"))
    assert near[0] == far[0]
    for index in (1, 2):
        assert sorted(near[index]) == sorted(far[index])
        assert near[index]["settings"] == far[index]["settings"] and near[index]["files"] == far[index]["files"]


def test_the_switch_forces_the_module_path(tmp_path):
    hosts = {"ipo": {"ansible_connection": "local"}}
    store = str(tmp_path / "store")
    info = {"ipoffice.security.security_info": {"store_path": store}}
    tasks = [
        dict(info),
        dict(info, vars={"ipoffice_security_inprocess": False}),
        dict(info, vars={"ipoffice_security_inprocess": "{{ 'no' }}"}),
        dict(info, environment={"TZ": "UTC"}),
        dict(info, become=True, become_method="ansible.builtin.su"),
        dict(info, vars={"ipoffice_security_inprocess": "sometimes"}),
    ]
    process, results = play(tmp_path, hosts, tasks)
    reasons = [line.split("> ", 1)[1] for line in lines_of(process, "ipo")
               if "runs as a module" in line or "runs in the controller" in line]
    assert reasons == [
        "ipoffice.security.security_info runs in the controller's worker (the store is local)",
        "ipoffice.security.security_info runs as a module: forced by the variable ipoffice_security_inprocess",
        "ipoffice.security.security_info runs as a module: forced by the variable ipoffice_security_inprocess",
        "ipoffice.security.security_info runs as a module: the task sets environment variables (the module's "
        "process gets them)",
        "ipoffice.security.security_info runs as a module: become is set (the module runs as the become user)",
    ], reasons
    assert len([line for line in lines_of(process, "ipo") if "AnsiballZ_security_info.py" in line]) >= 4
    first = results["ipo"][0]
    assert first["initialised"] is False
    for result in results["ipo"][1:5]:
        assert result == first
    bad = results["ipo"][5]
    assert bad["failed"] is True and bad["error"] == "invalid_option"
    assert bad["option"] == "ipoffice_security_inprocess" and "'sometimes'" in bad["msg"], bad

    # The environment variable, for a whole run; the task variable wins over it.
    process, results = play(tmp_path, hosts, [dict(info), dict(info, vars={"ipoffice_security_inprocess": True})],
                            env={"IPOFFICE_SECURITY_INPROCESS": "false"}, name="environment")
    reasons = reasons_of(process, "ipo", "security_info")
    assert reasons == [
        "ipoffice.security.security_info runs as a module: forced by the environment variable "
        "IPOFFICE_SECURITY_INPROCESS",
        "ipoffice.security.security_info runs in the controller's worker (the store is local)"], reasons
    assert results["ipo"][0] == results["ipo"][1] == first


def test_a_deprecated_alias_runs_the_module_which_reports_the_deprecation(tmp_path):
    hosts = {"ipo": {"ansible_connection": "local"}}
    store = str(tmp_path / "store")
    lines = [{"name": "branch", "transport": "websocket_client", "check_level": "medium"}]
    checks = {"store_path": store, "system_name": "ipo1.example.com"}
    tasks = [{"ipoffice.security.certificate_checks": dict(checks, ip_office_lines=lines)},
             {"ipoffice.security.certificate_checks": dict(checks, lines=lines)}]
    process, results = play(tmp_path, hosts, tasks)
    reasons = reasons_of(process, "ipo", "certificate_checks")
    assert reasons == [
        "ipoffice.security.certificate_checks runs as a module: an alias or a deprecated option is used (the "
        "module reports it)",
        "ipoffice.security.certificate_checks runs in the controller's worker (the store is local)"], reasons
    assert "Alias 'ip_office_lines' is deprecated" in process.stdout + process.stderr
    first, second = results["ipo"]
    assert first["changed"] is True and second["changed"] is False
    assert first["after"]["ip_office_lines"] == second["after"]["ip_office_lines"] == lines


def test_module_defaults_of_the_group_apply_on_both_paths(tmp_path):
    hosts = {"ipo": {"ansible_connection": "local"}}
    defaults = {"group/ipoffice.security.all": {"store_path": str(tmp_path / "store"),
                                                "system_name": "defaults.example.com"}}
    tasks = []
    for switch in (True, False):
        tasks += [
            {"ipoffice.security.certificate_checks": {"certificate_expiry_warning_days": 40 if switch else 41},
             "module_defaults": defaults, "vars": {"ipoffice_security_inprocess": switch}},
            {"ipoffice.security.security_info": None, "module_defaults": defaults,
             "vars": {"ipoffice_security_inprocess": switch}},
        ]
    process, results = play(tmp_path, hosts, tasks)
    assert [ran_line.split(" runs ")[1].split(":")[0] for ran_line in lines_of(process, "ipo")
            if "ipoffice.security." in ran_line and " runs " in ran_line] == \
        ["in the controller's worker (the store is local)"] * 2 + ["as a module"] * 2
    checks_in, info_in, checks_mod, info_mod = results["ipo"]
    assert checks_in["changed"] is True and checks_mod["changed"] is True
    for info, days in ((info_in, 40), (info_mod, 41)):
        assert info["store_path"] == str(tmp_path / "store") and info["system_name"] == "defaults.example.com"
        assert info["settings"]["checks"]["certificate_expiry_warning_days"] == days


def test_a_controller_below_the_library_floor_runs_the_module(tmp_path):
    """ansible-playbook on a Python whose cryptography is below the floor (this virtualenv's ansible-core with
    the cryptography-44 virtualenv's cryptography first on the path): the action plugins run the module, on
    the managed node's Python (ansible_python_interpreter), which has the libraries."""
    old = helpers.extra_venv("cryptography-44")
    controller = tmp_path / "controller"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(controller)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(controller / "bin" / "python"), "-c", purelib],
                          capture_output=True, text=True, check=True).stdout.strip()
    old_site = subprocess.run([old, "-c", purelib], capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "controller.pth"), "w") as handle:
        handle.write("%s\n%s\n" % (old_site, sysconfig.get_paths()["purelib"]))
    python = str(controller / "bin" / "python")
    found = subprocess.run([python, "-c", "import ansible, cryptography; print(cryptography.__version__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found.startswith("44."), found
    hosts = {"ipo": {"ansible_connection": "local"}}
    process, results = play(tmp_path, hosts, [{"ipoffice.security.certificate_checks": {
        "store_path": str(tmp_path / "store"), "certificate_expiry_warning_days": 40}}], controller=python)
    assert ran(process, "ipo", "certificate_checks") == "module"
    assert AS_MODULE % ("certificate_checks", "the controller's Python lacks the libraries this call needs") \
        in process.stdout
    assert results["ipo"][0]["changed"] is True and not results["ipo"][0].get("failed"), results["ipo"][0]
