# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The options of each area of a system's certificate security, documented once.  The per-area modules take
# them at the top level (identity_certificate, trusted_certificate, scep, certificate_checks); security_settings
# takes each area as one option whose suboptions are the same text.  Each area's YAML below is written for the
# per-area module (option references such as O(password) name its own options); _render() rewrites the
# references for security_settings (O(identity.password)), so no text is written twice.  The argument specs are
# built the same way, one builder per area, in plugins/module_utils/_specs.py.

# ------------------------------------------------------------------------------------------- identity

_IDENTITY = r"""
source:
  description:
    - V(generate) (Regenerate) creates a new key and a self-signed certificate.
    - V(ca) creates a new key and a certificate issued by the system's internal CA. The V(ip500v2)
      platform has no internal CA; asking for it fails with C(error=no_internal_ca).
    - V(import) (Set) loads a certificate and its private key from O(certificate_path) or
      O(certificate_content) (PKCS#12 with O(password), or PEM/DER with O(private_key_path) or
      O(private_key_content)). CA certificates that come with it (inside the PKCS#12, in the PEM,
      or in O(chain_path) or O(chain_content)) are added to the trusted certificate store; the
      25-entry limit is checked before anything is written (C(error=trusted_store_full)).
    - An imported certificate must be an end-entity certificate (C(error=ca_certificate_as_identity))
      that has not expired (C(error=certificate_expired)); its key must match
      (C(error=key_mismatch)). A certificate that is not valid yet, or has a weak key or signature, is
      imported with a warning.
    - V(issued_by) creates a new key and a certificate issued by the internal CA of the store at
      O(issuer_store), with the naming options as for V(ca).
    - When not set, the identity certificate is not changed (the identity settings still apply).
  type: str
  choices: [generate, ca, import, issued_by]
subject_name:
  description:
    - Subject of a generated or CA-issued identity, as a common name (V(ipo1.example.com)) or an
      RFC 4514 distinguished name (V(CN=ipo1.example.com,O=Example)).
    - Defaults to the system name (the store's FQDN/host name); it is never empty.
  type: str
subject_alt_names:
  description:
    - Subject alternative names as V(DNS:name), V(IP:address), V(URI:sip:domain) or V(email:address).
      Compared as a set (order does not matter).
    - Defaults to the common name as a DNS name (or IP address).
  type: list
  elements: str
signature:
  description:
    - Key and signature of a generated or CA-issued identity.
    - V(sha256_rsa2048) is the vendor default; V(sha1_rsa1024) is the legacy choice and produces a
      warning, because peers at medium check levels and above reject SHA-1 and high levels reject
      1024-bit keys. The other choices are stronger RSA and ECDSA (P-256, P-384) options.
    - Defaults to V(sha256_rsa2048).
  type: str
  choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
            sha384_ecdsa_p384]
valid_days:
  description:
    - Validity of a generated or CA-issued identity in days, from 1 to 3652. Defaults to 825.
    - A CA-issued identity must not outlive the internal CA (C(error=validity_exceeds_ca)).
  type: int
regenerate:
  description:
    - When an existing identity is replaced. An identity I(exists) when the current one came from the
      requested O(source); the identity a new system starts with never counts, so the first request of
      a source always replaces it.
    - V(never) keeps an existing identity whatever it looks like (a warning says what differs).
    - V(fail) keeps a matching identity and fails with C(error=regeneration_refused) when
      V(full_idempotence) would replace it.
    - V(partial_idempotence) replaces it when the key type/size, the subject or the set of subject
      alternative names differ from the request, or when it is inside the renewal window.
    - V(full_idempotence) also replaces it when the signature hash, the validity length
      (O(valid_days)) or the issuer (self-signed for V(generate), the current internal CA for V(ca),
      the current CA of O(issuer_store) for V(issued_by)) differ.
    - An identity of V(ca) or V(issued_by) follows its issuer under V(partial_idempotence) too, so one no
      longer issued by its issuer's current CA is reissued (check mode says so).
    - V(always) replaces it on every run.
    - For O(source=import) an identity matches when it is the very certificate given; V(always) then
      behaves like V(full_idempotence).
  type: str
  choices: [never, fail, partial_idempotence, full_idempotence, always]
  default: full_idempotence
renew_before_days:
  description:
    - A generated or CA-issued identity with fewer days left than this (or expired) is renewed (a new
      key and certificate with the same request) by V(partial_idempotence) and V(full_idempotence), and
      refused by V(fail). Outside this window the passing of time never changes anything.
    - Defaults to the system's Certificate Expiry Warning Days (60 unless changed; a value set by the same
      task counts). V(0) renews only an expired identity. Must be smaller than O(valid_days).
  type: int
certificate_path:
  description:
    - Path on the managed node of the identity to import (O(source=import)), a PKCS#12 (.p12/.pfx,
      modern AES or legacy 3DES/RC2 encryption), PEM (certificate, optionally followed by its key and
      chain) or DER file.
    - Files over 1 MiB or that are not regular files are refused.
  type: path
certificate_content:
  description:
    - The identity to import as content instead of O(certificate_path), as PEM text or the base64 of a
      PKCS#12 or DER file (the C(content) that M(ansible.builtin.slurp) returns is already base64).
  type: str
password:
  description:
    - Password of the PKCS#12 identity to import, given in O(certificate_path) or O(certificate_content).
    - Also used for an encrypted key inside a PEM O(certificate_path) when O(private_key_password) is not set.
  type: str
private_key_path:
  description:
    - Path of the identity's private key (PEM or DER, PKCS#8 or traditional, optionally encrypted) when
      the certificate input does not contain it.
  type: path
private_key_content:
  description:
    - The private key as content instead of O(private_key_path).
  type: str
private_key_password:
  description:
    - Password of an encrypted private key.
  type: str
chain_path:
  description:
    - Path of the identity's issuer certificates (PEM bundle, DER, PKCS#7). CA certificates among them
      are added to the trusted certificate store.
  type: path
chain_content:
  description:
    - The chain as content instead of O(chain_path).
  type: str
issuer_store:
  description:
    - O(source=issued_by) only, and required there. The store (its C(store_path)) of the system whose
      internal CA issues this identity, for example a Server Edition primary's store for a secondary or
      expansion. It is read without a lock and never written.
    - An IP500 V2 store has no internal CA (C(error=issuer_without_ca)); a path that holds no store is
      C(error=issuer_store_missing); this system's own store is refused (use O(source=ca)).
    - The validity (O(valid_days)) is capped at what is left of the issuer CA's life (with a warning).
      The issuer's CA certificate is added to this system's trusted store, so the offered chain reaches
      it. The issuer's CA certificate and fingerprint are recorded with the identity;
      M(ipoffice.security.security_info) reports C(issuer_changed) once the issuer's CA is another one,
      and the next run reissues the identity.
  type: path
"""

# The system-wide identity settings (identity_certificate; the 'identity' area of security_settings).
_IDENTITY_SETTINGS = r"""
offer_id_certificate_chain:
  description:
    - Offer ID Certificate Chain. When on, TLS peers receive the identity followed by its issuers from
      the trusted certificate store up to the root (the store's C(fullchain.pem)); when off, only the
      identity. New systems start with it on.
  type: bool
automatic_certificate_management:
  description:
    - Automatic Certificate Management (subscription systems). While it is on, an external service
      supplies the identity and manual Set/Regenerate is refused with
      C(error=automatic_management_on); turn it off in the same task to replace the identity.
  type: bool
san_details_origin:
  description:
    - SAN Details Origin, extra location-specific SAN values used by automatic certificate management
      (warns when set while it is off).
  type: str
automatic_phone_provisioning:
  description:
    - Automatic Phone Provisioning, used by automatic certificate management (warns when changed while it
      is off).
  type: bool
"""

# -------------------------------------------------------------------------------------------- trusted

# One certificate item: trusted_certificate's certificates, security_settings' trusted.certificates/absent.
_ITEM = r"""
path:
  description:
    - Path on the managed node of a file holding the certificate(s).
    - PEM (one certificate or a bundle), DER, base64 DER, PKCS#7 or PKCS#12 (C(.p12)/C(.pfx)), including
      a certificate-only PKCS#12 truststore.
  type: path
content:
  description:
    - The certificate(s) as text, in any form O(path) accepts (binary forms base64 encoded).
    - Not logged, so that a private key pasted by mistake never reaches a log.
  type: str
password:
  description:
    - Password of a PKCS#12 input. Not needed for a password-less PKCS#12.
    - A private key inside a PKCS#12 is never stored; only its certificates are trusted.
  type: str
"""

_SHA256 = r"""
sha256:
  description:
    - The SHA-256 fingerprint of an entry to remove, when the certificate itself is not at hand (64 hex
      digits; colons, spaces, case and a C(sha256:) prefix are accepted). A fingerprint can only remove an
      entry; M(ipoffice.security.security_info) shows the fingerprints of the current entries.
  type: str
"""

_CERTIFICATES = r"""
certificates:
  description:
    - The certificates to add or remove. Each item gives exactly one of O(certificates[].path),
      O(certificates[].content) or (with O(state=absent) only) O(certificates[].sha256).
    - An item may hold several certificates (a PEM bundle, PKCS#7, or a PKCS#12); every certificate in it
      counts.
  type: list
  elements: dict
  required: true
"""

_TRUSTED_AREA = r"""
trusted:
  description:
    - The trusted certificate store (as M(ipoffice.security.trusted_certificate) manages it).
  type: dict
  suboptions:
    certificates:
      description:
        - Certificates the system must trust, each a path or a content (an item may hold several
          certificates). Added first, before the identities and the preflight need them.
      type: list
      elements: dict
      default: []
    exclusive:
      description:
        - Make the store exactly the listed certificates; the others are removed after the identity step.
        - List every CA the identities chain to (an imported PKCS#12's CAs and the internal root CA included),
          or each run would remove what the identity step adds.
      type: bool
      default: false
    absent:
      description:
        - Certificates to remove, each a path, a content or a sha256 fingerprint. Removed after the identity
          step, so a removal is judged against the identities this call sets.
      type: list
      elements: dict
      default: []
    retire:
      description:
        - 'Certificates on their way out (each a path, content or sha256 fingerprint, as O(trusted.absent)):
          each is removed as soon as nothing depends on it (judged on the state this call plans, so in the same
          run in which its last dependent moves), and otherwise stays without failing.'
        - RV(retiring) lists each retired entry still present with what it is C(blocked_by); a run
          that changes nothing is C(changed=false). So a group variable can hold the end state of a root
          rotation from its first day and converge over runs.
        - Retired entries are kept by O(trusted.exclusive). An entry both listed in O(trusted.certificates) and
          retired is refused (C(error=conflicting_options)).
      type: list
      elements: dict
      default: []
    allow_in_use:
      description:
        - Removing an entry (O(trusted.absent) or O(trusted.exclusive)) that something depends on (an identity
          chain, a pinned peer certificate's issuers, a preflight endpoint last verified through it, a
          certificate issued by the system CA) fails with C(error=trusted_entry_in_use), naming every dependent,
          and nothing is written. The dependents are judged on the state the call plans.
        - V(true) removes it anyway and warns, naming the dependents again.
        - Retired entries (O(trusted.retire)) are never forced out.
      type: bool
      default: false
"""

# ----------------------------------------------------------------------------------------------- scep

_SCEP = r"""
active:
  description:
    - Active. When on, the system obtains its identity certificate from the SCEP server.
    - Requires O(server) (given now or already stored).
    - Left out, the stored value is kept (a new system starts with V(false)).
  type: bool
request_interval:
  description:
    - Request Interval (sec), 5 to 3600. How often a pending request is polled.
    - Left out, the stored value is kept (a new system starts with 120).
  type: int
server:
  description:
    - SCEP Server IP Address/Name (host name or IP address only).
    - Left out, the stored value is kept.
  type: str
scheme:
  description:
    - SCEP Server Scheme.
    - With V(https) the server's certificate is verified against the trusted certificate store, or
      O(ca_file) when given.
  type: str
  choices: [http, https]
port:
  description:
    - SCEP Server Port, 1 to 65535. Unset means 80 for V(http) and 443 for V(https).
  type: int
uri:
  description:
    - SCEP URI. A new system uses the EJBCA path C(/ejbca/publicweb/apply/scep/pkiclient.exe).
  type: str
password:
  description:
    - SCEP Password, sent as the request's challenge password. Write-only; stored 0600 and never
      returned, logged or shown in diffs. An empty string removes it.
  type: str
update_password:
  description:
    - V(always) stores O(password) whenever it is given; V(on_create) only when no password is stored yet.
  type: str
  choices: [always, on_create]
  default: always
enroll:
  description:
    - Obtain or renew the identity certificate over SCEP when needed (when the identity is missing, not
      SCEP-issued, no longer matches O(subject_name), O(subject_alt_names) and O(signature), or is inside
      O(renew_before_days)).
    - Requires SCEP to be active.
  type: bool
  default: false
subject_name:
  description:
    - Subject of the requested certificate, a common name or an RFC 4514 DN.
    - Defaults to the current identity's requested subject, else the system name.
  type: str
subject_alt_names:
  description:
    - Subject alternative names of the request (C(DNS:), C(IP:), C(URI:), C(email:) prefixes).
    - Defaults to the current identity's.
  type: list
  elements: str
signature:
  description:
    - Key type and request signature of the new key. SCEP needs RSA (the CA encrypts its reply to the key).
  type: str
  choices: [sha256_rsa2048, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072]
  default: sha256_rsa2048
renew_before_days:
  description:
    - Renew the SCEP identity when it has fewer than this many days left.
  type: int
  default: 30
renewal_message:
  description:
    - The message that renews an existing SCEP identity (signed with it). V(pkcsreq) works with EJBCA,
      which advertises Renewal but rejects RenewalReq; V(renewalreq) sends RenewalReq (17).
  type: str
  choices: [pkcsreq, renewalreq]
  default: pkcsreq
ca_fingerprint:
  description:
    - SHA-256 fingerprint of the CA certificate the SCEP server must return (colons optional). A different
      CA is refused before any request is sent.
  type: str
ca_identifier:
  description:
    - The CA identifier sent as C(message=) with GetCACaps and GetCACert (some EJBCA setups want the CA name).
  type: str
install_ca_certificate:
  description:
    - Add the SCEP CA certificate(s) to the trusted certificate store when a certificate is installed
      (the 25-entry limit applies).
  type: bool
  default: false
ca_file:
  description:
    - PEM file of the CA(s) that verify an HTTPS SCEP server, instead of the trusted certificate store.
  type: path
wait_timeout:
  description:
    - Seconds to keep polling a pending request (every O(request_interval) seconds). V(0) returns at once
      with the status C(pending); the next run resumes the transaction.
  type: int
  default: 0
timeout:
  description:
    - Seconds allowed for one whole request to the SCEP server (connecting, sending, and reading the
      whole answer), not for each read, so a server that trickles bytes cannot hold the run.
    - A reply may hold at most 1 MiB (a SCEP reply needs a few KiB). Breaking either limit fails at
      once with C(scep_unreachable), naming the server and the limit; it is not retried.
  type: int
  default: 30
retries:
  description:
    - How many times a connection error, timeout or HTTP 5xx is retried (bounded exponential backoff).
  type: int
  default: 3
use_proxy:
  description:
    - Reach the SCEP server through the HTTP proxy the environment of the task names, as curl and Python do
      it. E(http_proxy) or E(HTTP_PROXY) for an V(http) server (the request goes to the proxy), E(https_proxy)
      or E(HTTPS_PROXY) for an V(https) one (a CONNECT tunnel, TLS with the SCEP server end to end), and
      E(no_proxy) or E(NO_PROXY) for the hosts to reach directly (host names and domains, IP addresses, CIDR
      networks, V(*)). Set them with the task's C(environment) keyword.
    - Only C(http://) proxies are supported; credentials in the proxy URL are sent as Basic
      Proxy-Authorization and never shown. The O(timeout) and the 1 MiB reply limit apply through the proxy
      too, the proxy's handshake included.
    - V(false) ignores those variables and connects directly.
  type: bool
  default: true
"""

# --------------------------------------------------------------------------------------------- checks

_CHECKS = r"""
certificate_expiry_warning_days:
  description:
    - Certificate Expiry Warning Days. Warn about any stored certificate that expires within this many days.
    - An integer from 30 to 180. A new system starts with 60.
  type: int
sip_telephony_certificate:
  description:
    - Use different certificate for SIP telephony. A new system starts with V(none).
    - Choosing anything but V(none) while the system has no telephony identity certificate is allowed
      with a warning; the system presents its system identity on those links until one is set
      (M(ipoffice.security.identity_certificate)).
  type: str
  choices: [none, sip_trunks, sip_and_sm_trunks, sip_phones]
management_interfaces:
  description:
    - Received certificate checks (Management interfaces). A new system starts with V(none).
    - Raising it runs the preflight of the O(preflight) endpoints whose C(setting) is C(management).
  type: str
  choices: [none, low, medium, high, medium_remote, high_remote]
telephony_endpoints:
  description:
    - Received certificate checks (Telephony endpoints), applied on SIP and SM lines. A new system starts
      with V(none).
    - Raising it runs the preflight of the O(preflight) endpoints whose C(setting) is C(telephony).
  type: str
  choices: [none, low, medium, high, medium_remote, high_remote]
h323_security_level:
  description:
    - H.323 Security Level, the minimum cipher strength on TLS for H.323. A new system starts with V(high)
      (V(medium) on IP500 V2).
  type: str
  choices: [low, medium, high]
sip_security_level:
  description:
    - SIP Security Level, the minimum cipher strength on TLS for SIP. A new system starts with V(high)
      (V(medium) on IP500 V2).
  type: str
  choices: [low, medium, high]
release:
  description:
    - The IP Office release the system runs, for example V(11.1.3.0) (two to five numbers separated by dots,
      optionally followed by C( build <number>)); empty when not stated. A new system starts with it empty.
    - It says what the medium level means. From R11.1.3 medium also checks key usage, extended key usage and
      unknown critical extensions; on a system upgraded to R11.1.3 they start only once the level is set again.
      With a release of 11.1.3 or later and O(medium_reapplied=false), security_info reports the finding
      C(medium_checks_latent) and certificate_verify judges peers at medium both ways (docs/check-levels.md).
  type: str
medium_reapplied:
  description:
    - Whether a medium level was set (again) on the system while it ran R11.1.3 or later, so that it runs the
      medium checks R11.1.3 added. Set it V(true) once you have re-applied the level on the system (for example
      medium, high, medium), or when the system was installed at R11.1.3 or later. A new system starts with
      V(false).
    - Setting it V(true) while the release is 11.1.3 or later and a level is medium counts as raising that level
      (it adds the checks R11.1.3 brought), so the O(preflight) endpoints of those settings are verified first.
  type: bool
preflight:
  description:
    - Endpoints to verify before a level is raised. Only the endpoints of a setting whose level is raised
      by this run are contacted; the others are listed as not evaluated.
    - An endpoint that cannot be reached (refused, timed out, not TLS) counts as failing, with the finding
      C(endpoint_unreachable) whose C(reason) is the precise code.
    - Each entry is the endpoint item of certificate_verify's C(endpoint), security_info's C(live_endpoints) and
      the audit role's C(audit_endpoints), with the same defaults and meaning (docs/check-levels.md), plus
      C(setting).
    - Each endpoint is evaluated at the new level against the trusted certificate store and the identities
      the same task leaves (so trusting a peer and raising its level in one task passes).
  type: list
  elements: dict
  default: []
  suboptions:
    host:
      description: Host name or IP address of the endpoint.
      type: str
      required: true
    port:
      description: TLS port. Defaults to 443 for C(management) and lines, 5061 for C(telephony).
      type: int
    server_name:
      description: SNI server name to send; defaults to the host unless it is an IP address.
      type: str
    purpose:
      description:
        - What the endpoint's certificate is used for. Defaults to V(server) for C(management) and lines,
          V(sip_server) for C(telephony).
      type: str
      choices: [server, client, sip_server, sip_client]
    peer_name:
      description:
        - The name the certificate must match at the remote levels. Defaults to O(preflight[].server_name),
          then O(preflight[].host), unless O(preflight[].sip_domain) is given (then only the SIP domain is
          checked).
      type: str
    sip_domain:
      description: The SIP domain the certificate must be authoritative for at the remote levels (RFC 5922).
      type: str
    timeout:
      description: Seconds for the whole exchange with this endpoint (default O(preflight_timeout)).
      type: float
    setting:
      description:
        - The setting the endpoint belongs to, C(management), C(telephony), or C(line:<name>) naming one of
          the O(lines) (after this run).
      type: str
      required: true
preflight_mode:
  description:
    - V(enforce) fails, changing nothing, when any endpoint of a raised setting would fail the new level.
    - V(warn) makes the change and reports each failing endpoint as a warning and in the C(preflight) result.
    - V(skip) contacts no endpoint (each is listed in the C(preflight) result as not evaluated) and states that
      no preflight is intended, so a raised setting without endpoints is not warned about.
  type: str
  choices: [enforce, warn, skip]
  default: enforce
preflight_timeout:
  description:
    - Seconds allowed for the whole exchange with each preflight endpoint (connect and handshake, not each
      read), more than 0 and at most 300.
  type: float
  default: 10.0
"""

_LINES = r"""
lines:
  description:
    - The IP Office lines with WebSocket transport (port 443) and their own received-certificate check level.
    - The list is the B(complete) desired set of lines. Lines not listed are removed; a listed line's
      left-out fields take their defaults. An empty list removes every line; left out, the lines are left
      as they are. Order does not matter.
    - Raising a line's level (a new line counts as coming from V(none)) runs the preflight of the
      O(preflight) endpoints whose C(setting) is C(line:<name>).
    - The store keeps them under the setting name C(ip_office_lines); results that show the settings
      use that name.
  type: list
  elements: dict
  suboptions:
    name:
      description: The line's name; unique among the lines.
      type: str
      required: true
    transport:
      description: V(websocket_client) (default) or V(websocket_server).
      type: str
    check_level:
      description:
        - V(none) (default), V(medium) or V(high). The remote levels (V(medium_remote), V(high_remote))
          and V(low) are not available on IP Office lines and are refused (C(error=invalid_choice), naming
          the line).
      type: str
"""

# ------------------------------------------------------------------------------- security_settings areas

_AREA_DESCRIPTIONS = r"""
identity:
  description:
    - The system identity certificate and its settings (as M(ipoffice.security.identity_certificate) manages
      them with C(purpose=system)).
  type: dict
telephony_identity:
  description:
    - The separate SIP telephony identity (as M(ipoffice.security.identity_certificate) manages it with
      C(purpose=telephony)); the same keys as O(identity) but the system-wide identity settings, which are set
      under O(identity).
  type: dict
scep:
  description:
    - SCEP settings and enrollment (as M(ipoffice.security.scep) manages them). The SCEP server is contacted
      while planning, never under the store lock.
  type: dict
checks:
  description:
    - Certificate checks settings (as M(ipoffice.security.certificate_checks) manages them, the lines being
      O(lines)), applied last with the preflight on.
  type: dict
"""


def _names(text):
    """The option names a YAML source defines at its top level."""
    return re.findall(r"^([a-z0-9_]+):", text, re.MULTILINE)


def _indent(text, spaces):
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.lstrip("\n").splitlines(True))


def _render(text, names, prefix):
    """Option references O(name...) to the options ``names`` of ``text``, as security_settings names them."""
    pattern = re.compile(r"O\((%s)(?=[\[.=)])" % "|".join(sorted(names, key=len, reverse=True)))
    return pattern.sub(lambda match: "O(%s%s" % (prefix, match.group(1)), text)


def _suboptions(source, prefix, names=None):
    """``source`` as the suboptions of an area option at the second level of security_settings."""
    return "    suboptions:\n" + _indent(_render(source, names or _names(source), prefix), 6)


def _area(name, source, names=None):
    """One area option of security_settings: its description and ``source`` as its suboptions."""
    head = re.search(r"^%s:\n(?:  .*\n)+" % name, _AREA_DESCRIPTIONS, re.MULTILINE).group(0)
    return _indent(head, 2) + _suboptions(source, name + ".", names)


def _lines(alias):
    """The lines option; certificate_checks still accepts its former name as a deprecated alias."""
    if not alias:
        return _LINES
    text = _LINES.replace("  type: list\n", "  aliases: [ip_office_lines]\n  type: list\n", 1)
    marker = "      use that name.\n"
    note = "    - The former name C(ip_office_lines) is a deprecated alias, to be removed in version 2.0.0.\n"
    return text.replace(marker, marker + note, 1)


def _trusted_item(sha256, prefix):
    """The suboptions of a certificate item list (``prefix``: how the module names the list's items)."""
    source = _ITEM + (_SHA256 if sha256 else "")
    return _render(source, _names(source), prefix)


def _trusted_module():
    items = _trusted_item(True, "certificates[].")
    return "options:\n" + _indent(_CERTIFICATES, 2) + "    suboptions:\n" + _indent(items, 6)


def _trusted_area():
    area = _indent(_TRUSTED_AREA, 2)
    for name, sha256 in (("certificates", False), ("absent", True), ("retire", True)):
        marker = "      %s:\n        description:\n" % name
        start = area.index(marker)
        end = area.index("        default: []\n", start) + len("        default: []\n")
        items = "        suboptions:\n" + _indent(_trusted_item(sha256, "trusted.%s[]." % name), 10)
        area = area[:end] + items + area[end:]
    return area


# What the preflight does beyond certificate_checks' in security_settings, where one call can change the trusted
# store as well.
_PREFLIGHT_MARKER = "      the same task leaves (so trusting a peer and raising its level in one task passes).\n"
_PREFLIGHT_REVERIFIED = """\
    - When the call changes the trusted store or retires entries, the endpoints of settings that check
      chains (medium and above) are verified again at their level against the planned state (C(reverified)
      in the result); a passing endpoint's record of what it presented is replaced, so an endpoint that now
      verifies against a new root no longer holds the old one.
"""


def _settings():
    identity_names = _names(_IDENTITY) + _names(_IDENTITY_SETTINGS)
    checks = _render(_LINES, ["preflight"], "checks.")
    return ("options:\n" + _trusted_area()
            + _area("identity", _IDENTITY + _IDENTITY_SETTINGS, identity_names)
            + _area("telephony_identity", _IDENTITY)
            + _area("scep", _SCEP)
            + _area("checks", _CHECKS.replace(_PREFLIGHT_MARKER, _PREFLIGHT_MARKER + _PREFLIGHT_REVERIFIED))
            + _indent(checks, 2))


class ModuleDocFragment(object):
    """The options of each area, for the per-area module and for security_settings, from one text."""

    DOCUMENTATION = r"""
options: {}
"""


# The area texts are composed from the pieces above, so they are set on the class after it: ansible-test's
# yamllint sanity test reads a fragment class's own assignments as string literals only (Ansible reads the
# fragments as attributes of the class, and validate-modules checks every module that uses them).

# identity_certificate: the identity options and the system-wide identity settings.
ModuleDocFragment.IDENTITY = "options:\n" + _indent(_IDENTITY + _IDENTITY_SETTINGS, 2)

# trusted_certificate: the certificates list (state, exclusive and allow_in_use are the module's own).
ModuleDocFragment.TRUSTED = _trusted_module()

# scep: every option but the store's.
ModuleDocFragment.SCEP = "options:\n" + _indent(_SCEP, 2)

# certificate_checks: the settings, the preflight and the lines (with the deprecated alias).
ModuleDocFragment.CHECKS = "options:\n" + _indent(_CHECKS + _lines(alias=True), 2)

# security_settings: the six areas as its options trusted, identity, telephony_identity, scep, checks and lines.
ModuleDocFragment.SETTINGS = _settings()
