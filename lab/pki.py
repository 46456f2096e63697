"""The lab CA and the TLS certificates it signs (EC P-256). Generated at `up`, never committed."""
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab import state

_DAYS = 825



def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def ensure_ca(paths):
    """Create the lab CA once; return the path of its certificate."""
    paths.pki.mkdir(parents=True, exist_ok=True)
    if paths.ca_cert.exists() and paths.ca_key.exists():
        return paths.ca_cert
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"okd-registry-toolkit lab CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    state.write_private(paths.ca_key, _key_pem(key))
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths.ca_cert


def _san(s):
    try:
        return x509.IPAddress(ipaddress.ip_address(s))
    except ValueError:
        return x509.DNSName(s)


def _load_ca(paths):
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    return ca_cert, ca_key


def issue(paths, name, sans, client=False):
    """Issue (or reuse) a leaf certificate 'name' for the given SANs. Returns (cert_path, key_path)."""
    ensure_ca(paths)
    cert_path = paths.pki / (name + ".crt")
    key_path = paths.pki / (name + ".key")
    wanted = sorted(set(sans))
    if cert_path.exists() and key_path.exists():
        try:
            cur = x509.load_pem_x509_certificate(cert_path.read_bytes())
            ext = cur.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = sorted([str(v) for v in ext.get_values_for_type(x509.DNSName)]
                          + [str(v) for v in ext.get_values_for_type(x509.IPAddress)])
            if have == wanted and cur.not_valid_after_utc > _now() + datetime.timedelta(days=1):
                return cert_path, key_path
        except Exception:  # unreadable: reissue
            pass
    ca_cert, ca_key = _load_ca(paths)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    if client:
        usage.append(x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0] if wanted else name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(s) for s in wanted]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    state.write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def signing_key(paths, name):
    """An EC P-256 private key (PEM path) for signing tokens, created once."""
    ensure_ca(paths)
    key_path = paths.pki / (name + ".key")
    if not key_path.exists():
        state.write_private(key_path, _key_pem(ec.generate_private_key(ec.SECP256R1())))
    return key_path
