# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every error code the collection reports: one registry (code, what it means, what to do).

A module that fails returns ``error: <code>`` (``SecurityError.code``, ``_model``); the code is stable, so a
playbook may test it.  Each code names one concept; the message of each failure adds the details (which
option, which file, which value).  ``docs/errors.md`` is generated from this table (``make docs``), and a unit
test checks that every code raised anywhere in plugins/ is registered here and every code here is raised.

Ground floor: imports nothing of the collection, and no module imports it at run time (it costs a module
nothing); the documentation tool and the tests read it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The groups of docs/errors.md, in order: (key, title).
GROUPS = (
    ("options", "Options"),
    ("input", "Certificates, keys and files given as input"),
    ("identity", "Identity certificates and the internal CA"),
    ("trusted", "Trusted certificate store"),
    ("checks", "Check levels, preflight and verification"),
    ("endpoint", "TLS endpoints"),
    ("probe", "The enforcement probe"),
    ("scep", "SCEP"),
    ("store", "The store"),
    ("output", "Files written outside the store"),
    ("internal", "Bugs"),
)

# (code, group, meaning, typical remedy)
ERRORS = (
    # ---------------------------------------------------------------------------------------- options
    ("missing_option", "options",
     "An option the request needs is not given (or an entry sets none of the keys it needs).",
     "Set the option the message names."),
    ("conflicting_options", "options",
     "Options that exclude each other are given together: a path and a content for one input, several sources in "
     "one entry, two outputs naming the same file.",
     "Keep one of them, or make them differ, as the message says."),
    ("option_not_applicable", "options",
     "An option is given where it has no effect: an import option without O(source=import), a naming option "
     "without O(source=generate) or O(source=ca), a key option with a CSR, C(exclusive) with C(state: absent), "
     "a C(sha256) to add a certificate.",
     "Remove the option, or change the option that decides (source, state, format) as the message says."),
    ("invalid_setting", "options",
     "A value has the wrong type or form: not a list or dictionary where one is expected, not a whole number, "
     "not a generation number.",
     "Give a value of the form the message names."),
    ("invalid_choice", "options",
     "A value is not one of the choices the option allows (a check level, a signature, a line transport, what a "
     "live endpoint serves).",
     "Use one of the choices the message lists."),
    ("out_of_range", "options",
     "A number is outside its range: days, ports, timeouts, C(keep_generations), a system setting's limits.",
     "Use a value inside the range the message names."),
    ("unknown_setting", "options",
     "An entry of a list option has a key it does not take (a line, a preflight or a live endpoint entry).",
     "Remove the key or correct its spelling; the message lists the keys the entry takes."),
    ("invalid_characters", "options",
     "A name, host or URI contains a control character (often a newline from a file or a lookup).",
     "Strip the value (for example with the C(trim) filter)."),
    ("invalid_url", "options",
     "The SCEP server, scheme, port and uri, or a proxy environment variable, do not form an http or https URL.",
     "Correct the options (or the proxy variable) the message names."),
    ("invalid_query", "options",
     "The C(query) of security_info is not a valid JMESPath expression.",
     "Correct the expression."),
    ("value_too_large", "options",
     "A text or list option is longer than the store accepts (characters or entries; the result has C(size) and "
     "C(limit)), or the new generation's settings would be larger than its readers accept.",
     "Shorten the value, or give fewer entries, in the option the message names."),
    ("missing_server", "options",
     "SCEP is to be active, but no SCEP server is set.",
     "Set the C(server) option (or leave SCEP inactive)."),
    ("invalid_option", "options",
     "Ansible's argument validation refused the task's options before anything ran: an option the module does "
     "not take, a required option left out, a value of the wrong type or not one of the choices, options that "
     "exclude or require each other (the message is Ansible's own); or the variable "
     "C(ipoffice_security_inprocess) (or C(IPOFFICE_SECURITY_INPROCESS)) is not a boolean.",
     "Correct the options as the message says (ansible-doc lists each module's options)."),
    ("missing_library", "options",
     "A Python library the module needs is missing or too old on the managed node (cryptography, asn1crypto, "
     "jmespath for C(query)).",
     "Install the version the message names for the Python that runs the module (C(ansible_python_interpreter))."),
    # ------------------------------------------------------------------------------------------ input
    ("unreadable_file", "input",
     "An input file cannot be read: it is missing, not readable by the user running the task, or not a regular "
     "file (a directory, a device, a FIFO).",
     "Check the path option and the file's permissions."),
    ("input_too_large", "input",
     "An input file or content is over 1 MiB, more than any certificate, key or bundle needs.",
     "Give the right file; split a bundle that large."),
    ("empty_input", "input",
     "An input file or content is empty (or only white space).",
     "Give the file or content that holds the certificate or key."),
    ("invalid_certificate", "input",
     "The input is not a certificate (PEM, DER, base64 DER, PKCS#7 or PKCS#12), is truncated, or holds none.",
     "Give the certificate file or content; check that a copy was not cut short."),
    ("invalid_pkcs12", "input",
     "The input looks like a PKCS#12 file but is malformed, truncated or holds no certificate.",
     "Export the PKCS#12 (.p12/.pfx) again."),
    ("invalid_key", "input",
     "The private key input is not a private key, or is malformed or truncated.",
     "Give the key that belongs to the certificate (PEM or DER, PKCS#8 or traditional)."),
    ("invalid_csr", "input",
     "The input is not a PKCS#10 certificate signing request, or its extensions are malformed.",
     "Generate the CSR again and give it in C(csr_path) or C(csr_content)."),
    ("invalid_fingerprint", "input",
     "A C(sha256) value is not a SHA-256 fingerprint (64 hexadecimal digits, colons allowed).",
     "Copy the fingerprint again, for example from security_info."),
    ("invalid_name", "input",
     "A subject name is empty, is not a valid RFC 4514 distinguished name, or has a common name over 64 "
     "characters.",
     "Give a host name or a distinguished name such as C(CN=ipo1.example.com,O=Example)."),
    ("invalid_san", "input",
     "A subject alternative name has no type prefix, an empty value, or a value that is not a valid DNS name, IP "
     "address, URI or e-mail address.",
     "Write each as C(DNS:name), C(IP:address), C(URI:sip:domain) or C(email:address)."),
    ("private_key_in_bundle", "input",
     "A certificate input for the trusted store carries a private key.",
     "Remove the key block; a trusted certificate never needs its key."),
    ("password_required", "input",
     "An input is encrypted (a PKCS#12 or a private key) but no password is given, or an output that holds a key "
     "needs one to protect it.",
     "Set the C(password) (or C(private_key_password)) option."),
    ("wrong_password", "input",
     "An encrypted PKCS#12 or private key cannot be opened with the password given.",
     "Check the C(password) (or C(private_key_password)) option."),
    ("missing_private_key", "input",
     "The identity to import holds no private key and none is given separately.",
     "Give the key in C(private_key_path) or C(private_key_content), or import a PKCS#12 that holds it."),
    ("key_mismatch", "input",
     "The private key does not belong to the certificate.",
     "Give the key the certificate was issued for."),
    ("csr_signature_invalid", "input",
     "The signature of the certificate signing request does not verify: it was altered or is damaged.",
     "Generate the CSR again on the system that holds its key."),
    ("csr_weak_key", "input",
     "The CSR's key is weaker than the internal CA signs (RSA under 2048 bits, EC under 256 bits, DSA).",
     "Generate a stronger key and CSR."),
    # --------------------------------------------------------------------------------------- identity
    ("missing_certificate", "identity",
     "O(source=import) is asked for without the identity to import.",
     "Set C(certificate_path) or C(certificate_content)."),
    ("ca_certificate_as_identity", "identity",
     "The certificate to import as the identity is a CA certificate.",
     "Import the server certificate the CA issued; the CA goes in the chain."),
    ("certificate_expired", "identity",
     "The certificate to import as the identity has expired.",
     "Import a current certificate."),
    ("automatic_management_on", "identity",
     "Automatic Certificate Management is on, so the identity cannot be set or regenerated by hand.",
     "Set C(automatic_certificate_management: false) in the same task to manage the identity yourself."),
    ("regeneration_refused", "identity",
     "The identity would have to be replaced but C(regenerate) is V(fail).",
     "Set C(regenerate) to V(full_idempotence) or V(partial_idempotence) to allow the replacement."),
    ("renewal_window_too_large", "identity",
     "C(renew_before_days) (or the expiry warning days it defaults to) is not smaller than C(valid_days), so "
     "every run would renew the certificate.",
     "Lower C(renew_before_days) or raise C(valid_days)."),
    ("validity_exceeds_ca", "identity",
     "A certificate issued by the internal CA would outlive the CA.",
     "Lower C(valid_days), or renew the internal CA first."),
    ("issuer_store_missing", "identity",
     "O(source=issued_by) names an C(issuer_store) that holds no store (nothing was read or created there).",
     "Set C(issuer_store) to the issuing system's C(store_path), and apply that system's settings first."),
    ("issuer_without_ca", "identity",
     "The C(issuer_store) of O(source=issued_by) belongs to an IP500 V2 system, which has no internal CA.",
     "Name a server-platform store (the Server Edition primary), or use O(source=generate) or O(source=import)."),
    ("issuer_ca_expiring", "identity",
     "The issuer's CA expires within the identity's renewal window, so every run would reissue the identity.",
     "Regenerate the issuer's CA first (its security_settings C(ca) area), or lower C(renew_before_days)."),
    ("ca_in_use", "identity",
     "A new internal CA would leave behind what the current one issued and cannot reissue (certificates For "
     "Different Machine that have not expired, pinned peers that chain to it); nothing was changed.",
     "Reissue or replace those first, or set C(ca.allow_in_use: true) to replace the CA anyway."),
    ("no_internal_ca", "identity",
     "The platform has no internal CA (IP500 V2), so nothing can be issued by it.",
     "Use O(source=generate) or O(source=import), or issue from a server-platform system's store."),
    # ---------------------------------------------------------------------------------------- trusted
    ("trusted_store_full", "trusted",
     "The trusted certificate store would hold more than its 25 entries (the result has C(count) and C(limit)).",
     "Remove entries (C(state: absent), C(exclusive: true)) or give fewer."),
    ("trusted_entry_in_use", "trusted",
     "A trusted certificate to remove is still needed: an identity's chain, a pinned peer, a preflight endpoint "
     "or a certificate issued by the system CA depends on it (the result lists each in C(in_use)).",
     "Move each dependent off the entry first, keep the entry, or set C(allow_in_use: true) to remove it anyway."),
    # ----------------------------------------------------------------------------------------- checks
    ("preflight_failed", "checks",
     "A raised check level would reject what a preflight endpoint presents, so nothing was changed.",
     "Fix the endpoint's certificate or trust its CA, keep the lower level, or set C(preflight_mode: warn)."),
    ("unknown_line", "checks",
     "A preflight or live endpoint names an IP Office line (C(line:<name>)) the system does not have.",
     "Correct the name, or add the line (the C(lines) option)."),
    ("missing_peer_name", "checks",
     "A remote check level (V(medium_remote), V(high_remote)) is asked for without a name to check.",
     "Set C(peer_name) or C(sip_domain)."),
    ("certificate_rejected", "checks",
     "certificate_verify with C(fail_on_reject) found that the certificate fails the level.",
     "Fix the certificate (the findings say how), or unset C(fail_on_reject) to only report."),
    # --------------------------------------------------------------------------------------- endpoint
    ("endpoint_refused", "endpoint",
     "The connection to the endpoint was refused: nothing listens on that port.",
     "Check the host and port."),
    ("endpoint_timeout", "endpoint",
     "The endpoint did not connect or finish its TLS handshake within the timeout.",
     "Check the host, port and firewalls, or raise the timeout."),
    ("endpoint_unreachable", "endpoint",
     "The endpoint's host cannot be resolved or reached, or the connection broke during the handshake.",
     "Check the host name and the network path."),
    ("endpoint_not_tls", "endpoint",
     "The endpoint does not speak TLS on that port, refuses every protocol offered, or presents no certificate.",
     "Check the port."),
    # ------------------------------------------------------------------------------------------ probe
    ("probe_ca_required", "probe",
     "A live endpoint asks for the enforcement probe (C(probe: true)) without the probe CA that issues its client "
     "certificates.",
     "Set C(live_probe_ca) (C(certificate_path), C(private_key_path)), or set C(probe: false)."),
    ("invalid_probe_ca", "probe",
     "The probe CA certificate is not a CA certificate, or is not valid now.",
     "Give a current CA certificate (renew it, and trust the new one on the systems)."),
    ("probe_ca_key_mismatch", "probe",
     "The probe CA's private key does not belong to its certificate.",
     "Give the key of that CA certificate."),
    ("probe_unsupported", "probe",
     "The node that runs the probe can hand OpenSSL in-memory certificates neither through /proc/self/fd nor "
     "/dev/fd (the probe never writes them to disk).",
     "Run the probe on a Linux or BSD node (the controller), or leave it off."),
    # ------------------------------------------------------------------------------------------- scep
    ("scep_inactive", "scep",
     "C(enroll: true) is asked for while SCEP is not active.",
     "Set C(active: true) (with C(server))."),
    ("scep_unreachable", "scep",
     "The SCEP server (or the proxy on the way to it) cannot be reached, or did not answer within the timeout "
     "after the retries.",
     "Check C(server), C(port), C(scheme), the proxy variables, and that the server runs."),
    ("scep_http_error", "scep",
     "The SCEP server (or the proxy) answered with an HTTP error status.",
     "Check the C(uri) option, and the proxy when one is used."),
    ("scep_tls_error", "scep",
     "The TLS connection to an HTTPS SCEP server failed (its certificate is not trusted, or the handshake "
     "failed).",
     "Give the CA that issued the server's certificate in C(ca_file), or add it to the trusted store."),
    ("scep_no_trust", "scep",
     "HTTPS to the SCEP server needs a trust anchor, but C(ca_file) is not set and the trusted store is empty.",
     "Set the C(ca_file) option."),
    ("ca_fingerprint_mismatch", "scep",
     "The SCEP server's CA certificate is not the one C(ca_fingerprint) pins; nothing was sent.",
     "Check that the right server answers, or change C(ca_fingerprint)."),
    ("scep_unsupported_algorithm", "scep",
     "The SCEP server offers neither a SHA-2/SHA-1 digest nor AES/3DES encryption (MD5 and single DES are never "
     "used).",
     "Upgrade or reconfigure the CA."),
    ("scep_unsupported_ca_key", "scep",
     "The SCEP server's CA (or RA) certificate has a key that is not RSA, so no request can be encrypted to it; "
     "nothing was sent.",
     "Use a CA with an RSA key, or one that publishes an RSA RA certificate."),
    ("scep_unsupported_key", "scep",
     "SCEP enrollment is asked for with a key that is not RSA (the CA encrypts its reply to the requester's key).",
     "Choose an RSA C(signature)."),
    ("scep_bad_reply", "scep",
     "The SCEP server's reply is not a valid SCEP message (or GetCACert returned no certificate).",
     "Check that C(uri) points at a SCEP service."),
    ("scep_untrusted_reply", "scep",
     "The SCEP reply is not signed by the CA or RA certificate, uses a digest that is not accepted, or does not "
     "verify; it was refused.",
     "Check which server answers; a proxy or another service may be in the way."),
    ("scep_decrypt_failed", "scep",
     "The SCEP reply cannot be decrypted with the request's key.",
     "Check the CA's configuration; run the task again to start a new request."),
    ("scep_failure", "scep",
     "The SCEP server refused the certificate request.",
     "Check the C(password) (the challenge) and the CA's policy for this subject."),
    # ------------------------------------------------------------------------------------------ store
    ("corrupt_store", "store",
     "The store cannot be trusted as it is: a file missing, not JSON, too large or not a regular file, invalid "
     "settings, a key not matching its certificate, a broken C(current) link. It is left exactly as it is.",
     "Restore a previous generation (the generation module), or point C(store_path) elsewhere."),
    ("not_a_store", "store",
     "C(store_path) is a non-empty directory that is not a store.",
     "Point C(store_path) at an empty or missing directory, or at an existing store."),
    ("unsupported_store_version", "store",
     "The store was written by a newer version of the collection (another schema version).",
     "Upgrade the collection, or point C(store_path) at another store."),
    ("platform_mismatch", "store",
     "The C(platform) given differs from the store's; the platform applies only to a new store.",
     "Remove the C(platform) option, or correct it."),
    ("store_locked", "store",
     "Another writer held the store lock for longer than C(lock_timeout).",
     "Run again, or raise C(lock_timeout)."),
    ("store_unwritable", "store",
     "The store, its lock or a new generation cannot be written (permissions, a read-only file system, a full "
     "disk).",
     "Give the user running the task write access, free space, or change C(store_path)."),
    ("store_full", "store",
     "The file system of the store (or a quota) is full; the new generation was not written and C(current) is "
     "unchanged.",
     "Free space, or lower C(keep_generations): a run that lowers it removes the generations it drops before "
     "it writes."),
    ("store_unreadable", "store",
     "The store cannot be read by the user running the task.",
     "Give that user read access, or change C(store_path)."),
    ("store_not_initialised", "store",
     "The store does not exist yet, and the module only reads one (export).",
     "Set the system up first (the baseline role or security_settings), or correct C(store_path)."),
    ("concurrent_change", "store",
     "The store changed while a SCEP enrollment was under way, so the certificate obtained no longer fits; "
     "nothing was installed.",
     "Run the task again."),
    ("unknown_generation", "store",
     "The generation to restore is not kept in the store (the message lists the kept ones).",
     "Choose a kept generation (see the C(generations) result of the generation module)."),
    ("no_previous_generation", "store",
     "There is no generation before the current one to restore.",
     "Nothing to undo; check C(store_path)."),
    # ----------------------------------------------------------------------------------------- output
    ("invalid_output_path", "output",
     "A file issued_certificate is to write cannot be used: it exists and is not a regular file, its directory "
     "does not exist, or it changed while the task ran.",
     "Create the directory first, remove what is in the way, or change the path option."),
    ("export_path_symlink", "output",
     "The export C(path) is a symbolic link (or became one while it was read); export never writes through one.",
     "Point C(path) at the real directory, or remove the link."),
    ("export_path_not_directory", "output",
     "The export C(path) exists and is not a directory (a file, a device, a FIFO).",
     "Choose a directory path (it is created when missing)."),
    ("export_path_parent_missing", "output",
     "The parent of the export C(path) does not exist or is not a directory.",
     "Create the parent directory first, or change C(path)."),
    ("export_path_not_empty", "output",
     "The export C(path) is a non-empty directory that is not an earlier export, or an earlier export holding a "
     "FIFO, a device or someone else's entry where the export writes its own file (the result's C(foreign) lists "
     "them).",
     "Use a new or empty directory per system, or move those entries out."),
    ("export_disk_full", "output",
     "No space was left while the export was written; nothing changed and nothing was left behind.",
     "Free space on that file system (an export takes about 100 KB), or change C(path)."),
    ("export_unwritable", "output",
     "The export cannot be written: permissions, a read-only file system, or C(path) is a mount point.",
     "Give the user running the task write access to the parent, or export below the mount point."),
    # --------------------------------------------------------------------------------------- internal
    ("unexpected_error", "internal",
     "An exception the collection did not expect (a bug): the message names the exception and its text (no_log "
     "values removed); nothing was written unless the message says so.",
     "Report it with the traceback (-vvv; from ansible-core 2.19 ANSIBLE_DISPLAY_TRACEBACK=error)."),
)

CODES = frozenset(code for code, _group, _meaning, _remedy in ERRORS)


def meaning(code):
    """What the code means (KeyError for an unregistered code)."""
    return _BY_CODE[code][1]


def remedy(code):
    """What typically fixes it (KeyError for an unregistered code)."""
    return _BY_CODE[code][2]


_BY_CODE = dict((code, (group, text, fix)) for code, group, text, fix in ERRORS)
