# -*- coding: utf-8 -*-
# okd-registry-toolkit: the controller's decisions for the stand-alone registry's files (action
# okd_standalone_registry_files): htpasswd content (bcrypt; hashes kept while the password matches) and
# the server certificate (re-issued only when missing, unreadable, expiring, its SANs changed, not from
# the CA, or not matching the key; issued here with the `cryptography` package, as community.crypto's
# openssl_privatekey_pipe / openssl_csr_pipe / x509_certificate_pipe (provider ownca) did before).
# Controller only (needs bcrypt and cryptography, which the controller has: paramiko and
# community.crypto depend on them).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

try:
    import bcrypt
    HAS_BCRYPT = True
except ImportError:  # pragma: no cover
    HAS_BCRYPT = False

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False


from ansible_collections.okd.registry_toolkit.plugins.module_utils import htpasswd
from ansible_collections.okd.registry_toolkit.plugins.module_utils.errors import ToolkitError


class PlanError(Exception):
    pass


# ----------------------------------------------------------------------------------------- htpasswd

def htpasswd_content(existing, users, cost=10):
    """(content, users_changed): the wanted users' bcrypt lines, keeping a hash while its password
    still matches; users not wanted are dropped (and listed as changed). The core's htpasswd.content."""
    if not HAS_BCRYPT:
        raise PlanError("the Python package bcrypt is needed on the controller for the htpasswd file")
    try:
        return htpasswd.content(bcrypt, existing, users, cost)
    except ToolkitError as e:
        raise PlanError(str(e))


# -------------------------------------------------------------------------------------- certificate

def _need_crypto():
    if not HAS_CRYPTOGRAPHY:
        raise PlanError("the Python package cryptography is needed on the controller to issue the registry certificate")


def _utc(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def _not_before(cert):
    return _utc(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before)


def _not_after(cert):
    return _utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)


def san_strings(cert):
    """The certificate's SANs as community.crypto writes them: 'DNS:name', 'IP:address'."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for n in ext:
        if isinstance(n, x509.DNSName):
            out.append("DNS:" + n.value)
        elif isinstance(n, x509.IPAddress):
            out.append("IP:" + str(n.value))
        else:
            out.append("other:" + repr(n.value))
    return out


def _ski(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _aki(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_ca_cert(pem):
    _need_crypto()
    try:
        return x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else pem.encode("utf-8"))
    except ValueError as e:
        raise PlanError("the CA certificate does not parse as PEM: %s" % e)


def cert_reasons(cert_pem, key_pem, ca_cert, sans, renew_days, now=None):
    """Why the certificate must be (re)issued; [] when the current one is kept. Same rules as the
    role's community.crypto checks before (x509_certificate_info valid_at, issuer/AKI, public keys)."""
    _need_crypto()
    if not cert_pem or not key_pem:
        return ["certificate or key missing"]
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode("utf-8"))
        cert_spki = _spki(cert.public_key())
    except (ValueError, TypeError):
        return ["certificate unreadable"]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    reasons = []
    at = now + datetime.timedelta(days=int(renew_days))
    if not (_not_before(cert) <= at <= _not_after(cert)):
        reasons.append("expires within %s days" % renew_days)
    if sorted(san_strings(cert)) != sorted(set(sans)):
        reasons.append("SANs differ")
    ca_ski = _ski(ca_cert)
    if cert.issuer != ca_cert.subject or (ca_ski and _aki(cert) != ca_ski):
        reasons.append("not issued by the CA")
    try:
        key = serialization.load_pem_private_key(key_pem.encode("utf-8"), password=None)
        key_spki = _spki(key.public_key())
    except (ValueError, TypeError):
        key_spki = None
    if key_spki != cert_spki:
        reasons.append("key does not match")
    return reasons


def _general_name(san):
    kind, value = san.partition(":")[0::2]
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "DNS":
        return x509.DNSName(value)
    raise PlanError("subject alternative name %r is neither DNS:... nor IP:..." % san)


def issue(ca_cert, ca_key_pem, ca_key_passphrase, common_name, sans, valid_days, now=None):
    """(key_pem, cert_pem): a new P-256 key (as openssl_privatekey_pipe type ECC, secp256r1) and a
    certificate signed by the CA: CN, SANs, CA:FALSE (critical), digitalSignature+keyEncipherment
    (critical), serverAuth, subject and authority key identifiers, valid from 5 minutes ago for
    valid_days (x509_certificate_pipe provider ownca, ownca_not_before -5m)."""
    _need_crypto()
    try:
        ca_key = serialization.load_pem_private_key(
            ca_key_pem, password=ca_key_passphrase.encode("utf-8") if ca_key_passphrase else None)
    except (ValueError, TypeError) as e:
        raise PlanError("the CA key cannot be loaded (wrong or missing passphrase, or not a PEM key): %s" % e)
    if _spki(ca_key.public_key()) != _spki(ca_cert.public_key()):
        raise PlanError("the CA key does not belong to the CA certificate")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = _ski(ca_cert)
    aki = (x509.AuthorityKeyIdentifier(ca_ski, None, None) if ca_ski
           else x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()))
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=int(valid_days)))
               .add_extension(x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(aki, critical=False))
    cert = builder.sign(ca_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
