"""Warnings name the system they are about (plugins/module_utils/_module.py run_module).

Ansible shows each distinct warning line once per run, however many hosts gave it: a warning that does
not name its system would be shown once for a whole fleet.  A real two-host play gives the same
warning on both hosts; both must be shown, each with its system.
"""

import json
import os
import re
import subprocess

import yaml

import helpers
from ansible_collections.ipoffice.security.plugins.module_utils._store import DirectoryStore


def test_the_same_warning_on_two_hosts_is_shown_for_each_system(tmp_path):
    stores = tmp_path / "stores"
    inventory = {"all": {"hosts": {
        # One host names its system, the other leaves it out: its warning names the store's own system name.
        "ipo-a": {"store_args": {"store_path": str(stores / "a"), "system_name": "ipo-a.example.com"}},
        "ipo-b": {"store_args": {"store_path": str(stores / "b")}},
    }, "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        # A separate SIP telephony certificate chosen while the system has none: the same warning text.
        {"name": "Choose a telephony certificate that does not exist yet",
         "ipoffice.security.certificate_checks": {"sip_telephony_certificate": "sip_trunks"},
         "module_defaults": {"ipoffice.security.certificate_checks": "{{ store_args }}"},
         "register": "checks"},
        {"name": "Keep the warnings", "ansible.builtin.copy": {
            "content": "{{ checks.warnings | default([]) | to_json }}",
            "dest": str(tmp_path) + "/warnings-{{ inventory_hostname }}.json", "mode": "0600"},
         "delegate_to": "localhost"},
    ]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    run = subprocess.run([os.path.join(helpers.VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                          str(tmp_path / "play.yml")], capture_output=True, text=True, env=helpers.ansible_env(),
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    registered = dict((host, json.loads((tmp_path / ("warnings-%s.json" % host)).read_text()))
                      for host in ("ipo-a", "ipo-b"))
    # ipo-b's store was initialised with the default system name: the warning names the store's own.
    stored_name = DirectoryStore(str(stores / "b")).read().system_name
    assert stored_name
    labels = {"ipo-a": "ipo-a.example.com", "ipo-b": stored_name}
    for host, label in labels.items():
        assert len(registered[host]) == 1
        assert registered[host][0].startswith(label + ": sip_telephony_certificate is 'sip_trunks'")
    # What a person reads: both warnings, each naming its system (lines may be wrapped).
    shown = re.sub(r"\s+", " ", run.stdout + run.stderr)
    for label in labels.values():
        assert "[WARNING]: %s: sip_telephony_certificate is 'sip_trunks'" % label in shown, shown
