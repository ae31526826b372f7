#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ipoffice.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: security_settings
short_description: Apply an IP Office system's whole certificate security state in one transaction
version_added: 0.2.0
description:
  - Takes a system's whole desired state in one call, as the areas O(trusted), O(ca), O(identity),
    O(telephony_identity), O(scep), O(checks) and O(lines) (the keys of the C(ipoffice_security) variable of
    the C(ipoffice.security.baseline) role, which applies it through this module). Every area is optional; an
    area left out is left exactly as it is, and so is a key left out of an area.
  - 'The areas are applied in the safe order, each on the state the previous ones planned: 1. the trusted
    store gains O(trusted.certificates); 2. the internal CA (O(ca)); 3. the system identity (O(identity)), then
    the telephony identity (O(telephony_identity)); 4. the SCEP settings and enrollment (O(scep)); 5. the trusted
    store loses O(trusted.absent) and, with O(trusted.exclusive), everything not listed; 6. the check levels and
    lines (O(checks), O(lines)), with the preflight; 7. the removals of step 5 are judged on the planned state;
    8. the retired entries (O(trusted.retire)) that nothing depends on any more are removed.'
  - B(One transaction.) Everything is decided first, then written as B(one) new store generation. If any area
    fails, nothing is written at all (a new store is not even created), and the failure names the area and
    the option (for example C(option=checks.certificate_expiry_warning_days)) with a stable RV(error) code.
  - "B(An exact plan.) Cross-area decisions are made against the planned state of the same call: the preflight
    of a raised check level evaluates each endpoint against the trusted store and identities this call sets
    (so pinning a peer and raising telephony to V(high_remote) in one call passes), and removing a trusted
    certificate warns that an identity's chain still needs it only when the planned identity does (a root
    rotation in one call gives no false warning). When the call changes the trusted store or retires entries,
    the O(checks.preflight) endpoints of levels that check chains are verified again against the planned state,
    so their records follow what they present now. Check mode therefore predicts C(changed), the diff and the
    preflight verdict for the whole state at once."
  - "B(Network work and the store lock.) The SCEP server (enrollment) and the preflight endpoints are
    contacted while planning, before the store lock is taken, each bounded in time (O(scep.timeout) with
    O(scep.retries), O(scep.wait_timeout), O(checks.preflight_timeout) per endpoint). Under the lock, when no
    other writer changed the store since it was read, the planned state is written as it is, with no network
    work. When another writer did, the areas are planned again on what the store now holds: the SCEP server is
    never contacted under the lock (a certificate obtained for an identity that changed meanwhile fails with
    C(error=concurrent_change), writing nothing), and the preflight is repeated only when the trusted store or
    the identities it saw changed, then holding the lock for at most O(checks.preflight_timeout) seconds per
    endpoint. Another writer waiting for the lock meanwhile waits up to its own O(lock_timeout) and then fails
    with C(error=store_locked), changing nothing."
  - "B(States), as network resource modules name them (O(state)): V(merged) (the default) applies what is given
    and leaves the rest as it is; V(overridden) makes the whole configuration exactly what is given; V(gathered)
    returns the store in this module's own input shape (RV(gathered)); V(rendered) returns the state the options
    would produce (RV(rendered)), planned in memory with no network work. V(gathered) and V(rendered) never
    write, never create a store and report C(changed=false)."
  - Results and diffs describe certificates by parsed fields and settings only, never keys or passwords.
author:
  - ipoffice.security maintainers (@ipoffice)
extends_documentation_fragment:
  - ipoffice.security.store
  - ipoffice.security.attributes
options:
  trusted:
    description:
      - The trusted certificate store (as M(ipoffice.security.trusted_certificate) manages it).
    type: dict
    suboptions:
      certificates:
        description:
          - 'Certificates the system must trust: each a path or content (PEM, DER, bundle, PKCS#7, PKCS#12 with
            password). Added first, before the identities and the preflight need them.'
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: File on the managed node.
            type: path
          content:
            description: The certificate(s) as text.
            type: str
          password:
            description: Password of a PKCS#12 input.
            type: str
      exclusive:
        description:
          - 'Make the store exactly the listed certificates: others are removed after the identity step.'
          - List every CA the identities chain to (an imported PKCS#12's CAs and the internal root CA included),
            or each run would remove what the identity step adds.
        type: bool
        default: false
      absent:
        description:
          - 'Certificates to remove: each a path, content or sha256 fingerprint. Removed after the identity
            step, so a removal is judged against the identities this call sets.'
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: File on the managed node.
            type: path
          content:
            description: The certificate(s) as text.
            type: str
          password:
            description: Password of a PKCS#12 input.
            type: str
          sha256:
            description: SHA-256 fingerprint of the entry.
            type: str
      retire:
        description:
          - 'Certificates on their way out (each a path, content or sha256 fingerprint, as O(trusted.absent)):
            each is removed as soon as nothing depends on it (judged on the state this call plans, so in the same
            run in which its last dependent moves), and otherwise stays without failing.'
          - RV(retiring) lists each retired entry still present with what it is C(blocked_by); a run that changes
            nothing is C(changed=false). So a group variable can hold the end state of a root rotation from its
            first day and converge over runs.
          - Retired entries are kept by O(trusted.exclusive). An entry both listed in O(trusted.certificates) and
            retired is refused (C(invalid_argument)).
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: File on the managed node.
            type: path
          content:
            description: The certificate(s) as text.
            type: str
          password:
            description: Password of a PKCS#12 input.
            type: str
          sha256:
            description: SHA-256 fingerprint of the entry.
            type: str
      allow_in_use:
        description:
          - Removing an entry (O(trusted.absent) or O(trusted.exclusive)) that something depends on (an identity
            chain, a pinned peer certificate's issuers, a preflight endpoint last verified through it, a
            certificate issued by the system CA) fails with C(trusted_entry_in_use), naming every dependent, and
            nothing is written. The dependents are judged on the state the call plans.
          - V(true) removes it anyway and warns, naming the dependents again.
          - Retired entries (O(trusted.retire)) are never forced out.
        type: bool
        default: false
  ca:
    description:
      - The system's internal CA (server platform), declared like an identity. Left out, the CA is left as it is.
      - When it no longer matches (under O(ca.regenerate)), a new key and a new self-signed CA certificate replace
        it and join the trusted store; the identities the previous CA issued (C(source=ca) and the initial
        identity) are reissued by the new one in the same run; the previous CA is retired (see
        O(ca.retire_previous)). Server Edition secondaries issued by this store report C(issuer_changed) in
        M(ipoffice.security.security_info) and are reissued by their next run.
      - Before anything is written, what the previous CA issued and cannot be reissued with it (certificates For
        Different Machine that have not expired, pinned peers that chain to it) refuses the change with
        C(ca_in_use) unless O(ca.allow_in_use).
      - On an IP500 V2 system (no internal CA) the area fails with C(no_internal_ca).
    type: dict
    suboptions:
      subject_name:
        description: Common name or RFC 4514 DN of the CA; default the current CA's subject. A new name is the
          usual way to declare a new CA (for example a year in the name).
        type: str
      signature:
        description: Key and signature of the CA; default V(sha256_rsa2048), what a new system starts with.
        type: str
        choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
                  sha384_ecdsa_p384]
      valid_days:
        description: Validity of the CA in days, 365 to 7305; default 3652 (what a new system starts with).
        type: int
      regenerate:
        description:
          - When to replace the CA, as for identities. V(partial_idempotence) compares key type and size and the
            subject; V(full_idempotence) also the signature hash and the validity length; V(never) keeps it
            (warning when it differs); V(fail) refuses to replace it (C(regeneration_refused)); V(always)
            replaces it on every run (not for a variable applied repeatedly).
        type: str
        choices: [never, fail, partial_idempotence, full_idempotence, always]
        default: full_idempotence
      renew_before_days:
        description: Replace the CA when it has fewer days left than this; default none (a CA is never
          replaced by time alone).
        type: int
      retire_previous:
        description: Retire the previous internal CAs still in the trusted store (as O(trusted.retire) does).
        type: bool
        default: true
      allow_in_use:
        description: Replace the CA although certificates it issued that cannot be reissued with it, or pinned
          peers that chain to it, remain (C(ca_in_use) otherwise); warns, naming them.
        type: bool
        default: false
  identity:
    description:
      - The system identity certificate and its settings (as M(ipoffice.security.identity_certificate) manages
        them with C(purpose=system)).
    type: dict
    suboptions:
      source:
        description:
          - 'generate: a new self-signed identity (Regenerate); ca: issued by the system''s internal CA; import:
            a certificate and key you give (Set); issued_by: issued by the internal CA of another system''s store
            (a Server Edition secondary by its primary, see issuer_store).'
          - Left out, the identity certificate itself is left as it is (its settings below still apply).
        type: str
        choices: [generate, ca, import, issued_by]
      subject_name:
        description: Common name or RFC 4514 DN of a generated or CA-issued identity; default the system name.
        type: str
      subject_alt_names:
        description: 'Subject alternative names with DNS:, IP: or URI: prefixes (e.g. URI:sip:example.com).'
        type: list
        elements: str
      signature:
        description: Key and signature of a generated or CA-issued identity. sha1_rsa1024 is legacy and weak (the
          high check levels reject it).
        type: str
        choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
                  sha384_ecdsa_p384]
      valid_days:
        description: Validity of a generated or CA-issued identity, in days.
        type: int
      regenerate:
        description: When to replace an existing generated identity (the community.crypto regenerate policy).
        type: str
        choices: [never, fail, partial_idempotence, full_idempotence, always]
        default: full_idempotence
      renew_before_days:
        description: Renew a generated or CA-issued identity with fewer days left than this; default the
          Certificate Expiry Warning Days (the value O(checks.certificate_expiry_warning_days) sets, when given).
        type: int
      certificate_path:
        description: 'source import: certificate file on the managed node (PKCS#12, PEM or DER; PEM may carry the
          key and chain).'
        type: path
      certificate_content:
        description: 'source import: the certificate as text (binary forms base64 encoded).'
        type: str
      password:
        description: 'source import: password of a PKCS#12 file.'
        type: str
      private_key_path:
        description: 'source import: private key file when the certificate is PEM or DER.'
        type: path
      private_key_content:
        description: 'source import: the private key as text.'
        type: str
      private_key_password:
        description: 'source import: password of an encrypted private key.'
        type: str
      chain_path:
        description: 'source import: file with the issuing CA certificates (added to the trusted store).'
        type: path
      chain_content:
        description: 'source import: the issuing CA certificates as text.'
        type: str
      issuer_store:
        description:
          - 'source issued_by: the store of the system whose internal CA issues the identity (the Server Edition
            primary''s store_path). Read without a lock and never written; an IP500 V2 store has no CA
            (C(issuer_without_ca)), a path without a store is C(issuer_store_missing).'
          - Subject, SANs and validity as for V(ca); the validity is capped at what is left of the issuer CA's
            life. The issuer's CA certificate joins this system's trusted store (so the offered chain reaches
            it), and its certificate and fingerprint are recorded with the identity. When the issuer's CA
            changes, the next run reissues the identity and retires the previous issuer's root.
        type: path
      offer_id_certificate_chain:
        description: 'Offer ID Certificate Chain: send the identity followed by its issuers from the trusted
          store.'
        type: bool
      automatic_certificate_management:
        description: 'Automatic Certificate Management (subscription systems): while on, manual Set and
          Regenerate are refused.'
        type: bool
      san_details_origin:
        description: 'SAN Details Origin: extra SAN values for automatic certificate management.'
        type: str
      automatic_phone_provisioning:
        description: Automatic Phone Provisioning with automatic certificate management.
        type: bool
  telephony_identity:
    description:
      - The separate SIP telephony identity (as M(ipoffice.security.identity_certificate) manages it with
        C(purpose=telephony)); the same keys as O(identity) but
        the system-wide identity settings, which are set under O(identity).
    type: dict
    suboptions:
      source:
        description:
          - 'generate: a new self-signed identity (Regenerate); ca: issued by the system''s internal CA; import:
            a certificate and key you give (Set); issued_by: issued by the internal CA of another system''s store
            (a Server Edition secondary by its primary, see issuer_store).'
          - Left out, the identity certificate itself is left as it is (its settings below still apply).
        type: str
        choices: [generate, ca, import, issued_by]
      subject_name:
        description: Common name or RFC 4514 DN of a generated or CA-issued identity; default the system name.
        type: str
      subject_alt_names:
        description: 'Subject alternative names with DNS:, IP: or URI: prefixes (e.g. URI:sip:example.com).'
        type: list
        elements: str
      signature:
        description: Key and signature of a generated or CA-issued identity. sha1_rsa1024 is legacy and weak (the
          high check levels reject it).
        type: str
        choices: [sha256_rsa2048, sha1_rsa1024, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072, sha256_ecdsa_p256,
                  sha384_ecdsa_p384]
      valid_days:
        description: Validity of a generated or CA-issued identity, in days.
        type: int
      regenerate:
        description: When to replace an existing generated identity (the community.crypto regenerate policy).
        type: str
        choices: [never, fail, partial_idempotence, full_idempotence, always]
        default: full_idempotence
      renew_before_days:
        description: Renew a generated or CA-issued identity with fewer days left than this; default the
          Certificate Expiry Warning Days (the value O(checks.certificate_expiry_warning_days) sets, when given).
        type: int
      certificate_path:
        description: 'source import: certificate file on the managed node (PKCS#12, PEM or DER; PEM may carry the
          key and chain).'
        type: path
      certificate_content:
        description: 'source import: the certificate as text (binary forms base64 encoded).'
        type: str
      password:
        description: 'source import: password of a PKCS#12 file.'
        type: str
      private_key_path:
        description: 'source import: private key file when the certificate is PEM or DER.'
        type: path
      private_key_content:
        description: 'source import: the private key as text.'
        type: str
      private_key_password:
        description: 'source import: password of an encrypted private key.'
        type: str
      chain_path:
        description: 'source import: file with the issuing CA certificates (added to the trusted store).'
        type: path
      chain_content:
        description: 'source import: the issuing CA certificates as text.'
        type: str
      issuer_store:
        description:
          - 'source issued_by: the store of the system whose internal CA issues the identity (the Server Edition
            primary''s store_path). Read without a lock and never written; an IP500 V2 store has no CA
            (C(issuer_without_ca)), a path without a store is C(issuer_store_missing).'
          - Subject, SANs and validity as for V(ca); the validity is capped at what is left of the issuer CA's
            life. The issuer's CA certificate joins this system's trusted store (so the offered chain reaches
            it), and its certificate and fingerprint are recorded with the identity. When the issuer's CA
            changes, the next run reissues the identity and retires the previous issuer's root.
        type: path
  scep:
    description:
      - SCEP settings and enrollment (as M(ipoffice.security.scep) manages them). The SCEP server is contacted
        while planning, never under the store lock.
    type: dict
    suboptions:
      active:
        description: 'Active: obtain the identity from the SCEP server.'
        type: bool
      request_interval:
        description: Request Interval (sec), 5 to 3600.
        type: int
      server:
        description: SCEP Server IP Address/Name.
        type: str
      scheme:
        description: SCEP Server Scheme.
        type: str
        choices: [http, https]
      port:
        description: SCEP Server Port; unset means 80 for http, 443 for https.
        type: int
      uri:
        description: SCEP URI (default the EJBCA path).
        type: str
      password:
        description: SCEP Password (write-only).
        type: str
      update_password:
        description: always, or on_create (only when no password is stored yet).
        type: str
        choices: [always, on_create]
        default: always
      enroll:
        description: Obtain or renew the identity over SCEP when needed.
        type: bool
        default: false
      subject_name:
        description: Subject of the requested certificate.
        type: str
      subject_alt_names:
        description: SANs of the request.
        type: list
        elements: str
      signature:
        description: RSA key and request signature.
        type: str
        choices: [sha256_rsa2048, sha256_rsa3072, sha256_rsa4096, sha384_rsa3072]
        default: sha256_rsa2048
      renew_before_days:
        description: Renew the SCEP identity with fewer days left than this.
        type: int
        default: 30
      renewal_message:
        description: Message that renews an existing SCEP identity.
        type: str
        choices: [pkcsreq, renewalreq]
        default: pkcsreq
      ca_fingerprint:
        description: SHA-256 fingerprint the SCEP CA must have.
        type: str
      ca_identifier:
        description: CA identifier sent with GetCACaps/GetCACert.
        type: str
      install_ca_certificate:
        description: Add the SCEP CA certificate to the trusted store on enrollment.
        type: bool
        default: false
      ca_file:
        description: PEM file of the CAs that verify an HTTPS SCEP server.
        type: path
      wait_timeout:
        description: Seconds to keep polling a pending request.
        type: int
        default: 0
      timeout:
        description: Seconds allowed for one whole SCEP request (not each read); a reply holds at most 1 MiB.
        type: int
        default: 30
      retries:
        description: Retries on connection errors, timeouts and HTTP 5xx.
        type: int
        default: 3
  checks:
    description:
      - Certificate checks settings (as M(ipoffice.security.certificate_checks) manages them), applied last with
        the preflight on.
    type: dict
    suboptions:
      certificate_expiry_warning_days:
        description: Certificate Expiry Warning Days, 30 to 180.
        type: int
      sip_telephony_certificate:
        description: Use different certificate for SIP telephony.
        type: str
        choices: [none, sip_trunks, sip_and_sm_trunks, sip_phones]
      management_interfaces:
        description: Received certificate checks (Management interfaces).
        type: str
        choices: [none, low, medium, high, medium_remote, high_remote]
      telephony_endpoints:
        description: Received certificate checks (Telephony endpoints).
        type: str
        choices: [none, low, medium, high, medium_remote, high_remote]
      h323_security_level:
        description: H.323 Security Level.
        type: str
        choices: [low, medium, high]
      sip_security_level:
        description: SIP Security Level.
        type: str
        choices: [low, medium, high]
      release:
        description:
          - The IP Office release the system runs, for example V(11.1.3.0); empty when not stated.
          - From R11.1.3 medium also checks key usage, extended key usage and unknown critical extensions, on an
            upgraded system only once the level is set again (see O(checks.medium_reapplied), docs/check-levels.md).
        type: str
      medium_reapplied:
        description:
          - Whether a medium level was set (again) on the system while it ran R11.1.3 or later (or it was installed
            at R11.1.3 or later). Setting it V(true) counts as raising each medium level, so its preflight endpoints
            are verified first.
        type: bool
      preflight:
        description:
          - 'Endpoints verified at a raised level before it is written (setting: management, telephony or
            line:<name>), against the trusted store and identities this call sets.'
          - The endpoint item of certificate_verify, security_info's live_endpoints and the audit, with the same
            defaults and meaning (docs/check-levels.md), plus setting.
          - When the call changes the trusted store or retires entries, the endpoints of settings that check
            chains (medium and above) are verified again at their level against the planned state (C(reverified)
            in the result); a passing endpoint's record of what it presented is replaced, so an endpoint that now
            verifies against a new root no longer holds the old one.
        type: list
        elements: dict
        default: []
        suboptions:
          host:
            description: Host name or address of the endpoint.
            type: str
            required: true
          port:
            description: 'TLS port (default by setting: 443 management and lines, 5061 telephony).'
            type: int
          server_name:
            description: SNI server name (default the host unless it is an address).
            type: str
          purpose:
            description:
              - 'What the endpoint is to the system (default by setting: sip_server for telephony, else server).'
            type: str
            choices: [server, client, sip_server, sip_client]
          peer_name:
            description:
              - Name the certificate must match at the remote levels (default server_name, else host, unless only
                sip_domain is given).
            type: str
          sip_domain:
            description: SIP domain the certificate must be authoritative for.
            type: str
          timeout:
            description: Seconds for the whole exchange with this endpoint (default preflight_timeout).
            type: float
          setting:
            description: 'The setting the endpoint belongs to: management, telephony or line:<name>.'
            type: str
            required: true
      preflight_mode:
        description: 'enforce: refuse the change if an endpoint would fail; warn: change and report; skip: contact
          no endpoint and do not warn about a raised setting without one (no preflight is intended).'
        type: str
        choices: [enforce, warn, skip]
        default: enforce
      preflight_timeout:
        description: Seconds allowed for the whole exchange with each preflight endpoint (not each read).
        type: float
        default: 10.0
  lines:
    description:
      - 'IP Office lines with WebSocket transport and their own check level: the complete set (lines not listed
        are removed).'
      - Left out, the lines are left as they are; an empty list removes every line.
    type: list
    elements: dict
    suboptions:
      name:
        description: Line name.
        type: str
        required: true
      transport:
        description: Transport.
        type: str
        choices: [websocket_client, websocket_server]
      check_level:
        description: Received certificate checks of the line (the remote levels are not available on lines).
        type: str
        choices: [none, medium, high]
  state:
    description:
      - V(merged) applies what is given; an area or a key left out is left as it is. Lists follow their own
        options (O(trusted.exclusive), O(trusted.absent); O(lines) is the complete set of lines).
      - 'V(overridden) makes the whole configuration exactly what is given; what is left out takes the default a
        new system of the store''s platform has. The trusted store holds exactly O(trusted.certificates) (as with
        O(trusted.exclusive)=true), except the store''s own internal root CA entry, which is kept unless
        O(trusted.absent) names it; the lines are exactly O(lines) (none when left out); every identity, SCEP
        and checks setting left out takes its default, and a SCEP password not given is removed. Identities are
        never made or removed by leaving them out: an identity left out (or given without O(identity.source)) is
        left as it is. Removing a trusted certificate something depends on still fails with
        C(error=trusted_entry_in_use) unless O(trusted.allow_in_use=true); list the CAs an imported or enrolled
        identity chains to.'
      - V(gathered) reads the store and returns it as RV(gathered) in this module's input shape, so that feeding
        it back as V(merged) changes nothing. Keys and passwords are never included; an identity that cannot be
        given back without its key (imported, enrolled over SCEP, the one the system started with) is gathered as
        its settings alone, and RV(notes) says what to add back. Takes no area option. A store that does not
        exist fails with C(error=store_not_initialised) and is not created.
      - V(rendered) plans the given areas as V(merged) would, on the store as it is (on a new system's initial
        state, in memory, when there is none), and returns the planned state as RV(rendered). Nothing is written
        or created, no SCEP request is sent and no preflight endpoint is contacted (RV(notes) says what a real
        run would do there).
    type: str
    choices: [merged, overridden, gathered, rendered]
    default: merged
attributes:
  check_mode:
    support: full
    details:
      - Plans every area against the state the call would produce, runs the preflight, and predicts C(changed)
        exactly; nothing is written and no certificate request is sent. The same with O(state=overridden).
      - O(state=gathered) and O(state=rendered) never write; they return the same in check mode.
  diff_mode:
    support: full
    details:
      - Shows each given area (with O(state=overridden), every area) before and after as parsed fields and
        settings; never keys or passwords. O(state=gathered) and O(state=rendered) return no diff.
seealso:
  - module: ipoffice.security.trusted_certificate
  - module: ipoffice.security.identity_certificate
  - module: ipoffice.security.scep
  - module: ipoffice.security.certificate_checks
notes:
  - The per-area modules remain for granular tasks; they run the same core functions one area at a time.
"""

EXAMPLES = r"""
- name: A system's whole certificate security state, in one transaction
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    trusted:
      certificates:
        - path: /etc/pki/corp/root-ca.pem
        - path: /etc/pki/partners/sip-provider.pem   # pinned for the high levels
    identity:
      source: ca
      subject_name: ipo1.example.com
      subject_alt_names: [DNS:ipo1.example.com, IP:192.0.2.10]
      offer_id_certificate_chain: true
    scep:
      server: ca.example.com
      password: "{{ vault_scep_password }}"
      update_password: on_create
    checks:
      certificate_expiry_warning_days: 90
      telephony_endpoints: high_remote
      preflight:
        - host: sip.provider.example
          port: 5061
          setting: telephony
          sip_domain: provider.example
    lines:
      - name: branch-1
        check_level: medium

- name: A root rotation as declared state (converges over runs; trusted.retire never fails)
  ipoffice.security.security_settings:
    trusted:
      certificates:
        - path: /etc/pki/corp/root-2027.pem
        - path: /etc/pki/partners/sbc-2027.pem       # the SBC's new certificate, pinned
      retire:
        - sha256: "3a:5f:...:9c"                      # the old root: goes once nothing depends on it
        - path: /etc/pki/partners/sbc-2015.pem       # the SBC's old certificate
    identity:
      source: ca
    ca:
      subject_name: CN=IP Office Root CA ipo1 2027   # the store's own CA moves too
    checks:
      preflight:                                     # verified again while anything is retiring
        - {host: sbc.example.com, port: 5061, setting: telephony, sip_domain: example.com}
  register: rotation

- name: A Server Edition secondary, its identity issued by the primary's CA
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security/secondary-1
    identity:
      source: issued_by
      issuer_store: /var/lib/ipoffice-security/primary
      subject_name: sec1.example.com
      subject_alt_names: [DNS:sec1.example.com, IP:192.0.2.21]

- name: Rotate the enterprise root in one call (no intermediate state is ever written)
  ipoffice.security.security_settings:
    trusted:
      certificates:
        - path: /etc/pki/corp/root-2027.pem
      absent:
        - sha256: "3a:5f:...:9c"   # the old root
    identity:
      source: import
      certificate_path: /etc/pki/ipo1-2027.p12
      password: "{{ vault_p12_password }}"

- name: Read the system's state in this module's own input shape (writes nothing)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    state: gathered
  register: current

- name: Fed back, it changes nothing (merged; overridden once the SCEP password is added back)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    trusted: "{{ current.gathered.trusted }}"
    identity: "{{ current.gathered.identity }}"
    scep: "{{ current.gathered.scep | combine({'password': vault_scep_password}) }}"
    checks: "{{ current.gathered.checks }}"
    lines: "{{ current.gathered.lines }}"
    state: overridden

- name: What these options would make of the system, planned offline (no store written or created)
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    identity:
      source: ca
      subject_name: ipo1.example.com
    lines:
      - name: branch-1
        check_level: high
    state: rendered
  register: plan

- name: The trusted store and lines are exactly these; every other setting returns to its default
  ipoffice.security.security_settings:
    store_path: /var/lib/ipoffice-security
    state: overridden
    trusted:
      certificates:
        - path: /etc/pki/corp/root-ca.pem
    checks:
      management_interfaces: medium
    lines:
      - name: branch-1
        check_level: medium
"""

RETURN = r"""
generation:
  description: The store generation after the run (the new one when something changed); null in check mode on a
    new store. With O(state=gathered) or O(state=rendered), the generation read (null when there is no store).
  returned: always
  type: int
areas:
  description: The areas given, in the order of the options (with O(state=overridden), every area).
  returned: unless O(state=gathered)
  type: list
  elements: str
steps:
  description: The steps of the safe order that ran, each with whether it changed the state (C(trusted), C(ca),
    C(identity), C(telephony_identity), C(scep), C(trusted_removals), C(checks), C(retire)).
  returned: unless O(state=gathered)
  type: list
  elements: dict
trusted:
  description:
    - The trusted store after the run (C(entries), C(trusted_count), C(limit)), what was C(added) and
      C(removed) (each removal with C(by) V(absent), V(exclusive) or V(retire) and C(needed_by), the identities
      whose chain used it), C(findings) about what was added (C(weak_key) for a key under 2048 bits, also a
      warning), and C(steps) with each trusted step's own C(changed) (C(present), C(absent), C(exclusive),
      C(retire)).
  returned: when O(trusted) is given
  type: dict
retiring:
  description:
    - One item per retired entry still present after the run (O(trusted.retire), a previous internal CA, an
      identity's previous issuer), with what still depends on it; empty when nothing is retiring.
  returned: unless O(state=gathered)
  type: list
  elements: dict
  contains:
    sha256:
      description: Fingerprint of the entry.
      type: str
    subject:
      description: Subject of the entry.
      type: str
    blocked_by:
      description: The dependents that keep it, as C(trusted_entry_in_use) names them (C(kind), C(description),
        ...).
      type: list
      elements: dict
    retired_by:
      description: Why it is retired (C(trusted.retire), C(ca.retire_previous), C(identity.previous_issuer),
        C(telephony_identity.previous_issuer)).
      type: str
retired:
  description: The retired entries this run removed (C(sha256), C(subject), C(retired_by)).
  returned: unless O(state=gathered)
  type: list
  elements: dict
ca:
  description: The internal CA after the run (C(certificate)), C(action) (V(kept) or V(regenerated)), C(reasons),
    the identities it C(reissued), the C(previous) CAs still trusted, what the previous CA left C(in_use), and
    C(changed) for this area.
  returned: when O(ca) is given
  type: dict
identity:
  description: As M(ipoffice.security.identity_certificate) returns it (C(certificate), C(chain), C(settings),
    C(action), C(reasons), C(added_to_trusted_store), C(files)), with C(changed) for this area.
  returned: when O(identity) is given
  type: dict
telephony_identity:
  description: The same for the telephony identity.
  returned: when O(telephony_identity) is given
  type: dict
scep:
  description: As M(ipoffice.security.scep) returns it (C(status), C(reason), C(settings), C(server_url), ...),
    with C(changed) for this area.
  returned: when O(scep) is given
  type: dict
checks:
  description: As M(ipoffice.security.certificate_checks) returns it (C(before), C(after), C(changes),
    C(level_changes), C(preflight)), with C(changed) for this area (the lines included).
  returned: when O(checks) or O(lines) is given
  type: dict
gathered:
  description:
    - With O(state=gathered), the store in this module's own input shape (the areas O(trusted), O(identity),
      O(telephony_identity) when the system has one, O(scep), O(checks), O(lines)), to feed back to this module
      or to the baseline role's variable. Certificates are PEM C(content) (public); the store's own internal
      root CA entry is left out (every state keeps it). Never a key or a password.
  returned: when O(state=gathered)
  type: dict
  sample:
    trusted:
      certificates:
        - content: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
    identity:
      source: ca
      subject_name: ipo1.example.com
      subject_alt_names: ["DNS:ipo1.example.com"]
      signature: sha256_rsa2048
      valid_days: 825
      offer_id_certificate_chain: true
      automatic_certificate_management: false
      san_details_origin: ""
      automatic_phone_provisioning: true
    scep:
      active: false
      request_interval: 120
      server: ""
      scheme: http
      uri: /ejbca/publicweb/apply/scep/pkiclient.exe
    checks: {certificate_expiry_warning_days: 60, management_interfaces: medium}
    lines: [{name: branch-1, transport: websocket_client, check_level: medium}]
store:
  description: With O(state=gathered), the store options to go with RV(gathered) (C(path), C(platform), C(system_name),
    C(keep_generations)), as the C(store) key of the baseline role's variable takes them.
  returned: when O(state=gathered)
  type: dict
rendered:
  description:
    - With O(state=rendered), the state the options would produce, every area as parsed, secret-free fields
      (C(platform), C(system_name), C(trusted), C(identity) with C(source), C(action), C(certificate), C(chain) and
      C(settings), C(telephony_identity), C(internal_ca), C(scep) with C(password_set), C(checks), C(lines)).
    - A certificate a real run would generate (C(generated=true)) is shown without its fingerprint, serial number
      and validity dates, which are made when a run writes it; C(valid_days) gives its validity.
  returned: when O(state=rendered)
  type: dict
notes:
  description: With O(state=gathered), what could not be gathered and what to add back (a SCEP password, an
    imported identity, ...); with O(state=rendered), what the planning was based on and what it did not do (no
    SCEP request, no preflight).
  returned: when O(state=gathered) or O(state=rendered)
  type: list
  elements: str
initialised:
  description: With O(state=rendered), whether the store existed (else the options were planned on a new system's
    initial state, in memory).
  returned: when O(state=rendered)
  type: bool
error:
  description: Stable error code on failure (for example C(preflight_failed), C(out_of_range), C(wrong_password)).
  returned: failure
  type: str
option:
  description: The option to change, named with its area (for example C(checks.telephony_endpoints),
    C(identity.certificate_path), C(trusted.absent[0].sha256)).
  returned: failure
  type: str
area:
  description: The area that failed.
  returned: failure, when an area failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ipoffice.security.plugins.module_utils._module import run_module
from ansible_collections.ipoffice.security.plugins.module_utils._settings import library_features, run
from ansible_collections.ipoffice.security.plugins.module_utils._specs import module_kwargs


def main():
    module = AnsibleModule(**module_kwargs("security_settings"))
    run_module(module, run, features=library_features)


if __name__ == "__main__":
    main()
