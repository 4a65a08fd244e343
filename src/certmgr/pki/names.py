"""Names in certificates: validating SANs, reading them back, matching hostnames.

Matching follows RFC 6125 as browsers and OpenSSL apply it: a wildcard is only
the whole leftmost label (``*.example.com``), matches exactly one label, and
never matches an IP address; names compare case-insensitively; when a
certificate has a subjectAltName its CN is ignored.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from certmgr.errors import PKIError

__all__ = [
    "CertNames",
    "certificate_covers",
    "common_name",
    "name_matches",
    "names_of",
    "normalize_san",
    "parse_ip",
    "san_entries",
]

# fullmatch, never match with ^...$: "$" also matches before a final newline.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` spells, or None if it is not an IP address."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def normalize_san(text: str) -> str:
    """A SAN as given by the user, checked and in canonical form (lower case, no final dot).

    Accepts DNS names (IDNA is converted to its ``xn--`` form), a leading
    ``*.`` wildcard label, and IPv4/IPv6 addresses.

    Raises:
        PKIError: ``text`` is neither a valid DNS name nor an IP address.
    """
    raw = text.strip()
    ip = parse_ip(raw)
    if ip is not None:
        return str(ip)
    name = raw.rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise PKIError(f"SAN {text!r} is not a valid DNS name or IP address") from None
    labels = name.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise PKIError(f"SAN {text!r}: a wildcard needs at least two labels after '*.'")
    if (
        not labels
        or len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise PKIError(f"SAN {text!r} is not a valid DNS name or IP address")
    return name


def san_entries(names: list[str] | tuple[str, ...]) -> list[x509.GeneralName]:
    """subjectAltName entries for ``names`` (validated), DNS names and IPs, without duplicates."""
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for text in names:
        name = normalize_san(text)
        if name in seen:
            continue
        seen.add(name)
        ip = parse_ip(name)
        out.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(name))
    return out


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The subject's (last) CN, or None."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[-1].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True)
class CertNames:
    """The names a certificate (or CSR) is for."""

    common_name: str | None
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    has_san: bool

    @property
    def all(self) -> tuple[str, ...]:
        """SAN names and addresses; the CN only when there is no SAN extension."""
        if self.has_san:
            return self.dns + self.ips
        return (self.common_name,) if self.common_name else ()


def names_of(cert: x509.Certificate | x509.CertificateSigningRequest) -> CertNames:
    """The CN and subjectAltName DNS names and IPs of a certificate or CSR."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return CertNames(common_name(cert), (), (), False)
    except ValueError as exc:  # a malformed extension: report, do not crash
        raise PKIError(f"certificate {cert.subject.rfc4514_string()!r} has a bad "
                       f"extension: {exc}") from None
    dns = tuple(n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName))
    ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    return CertNames(common_name(cert), dns, ips, True)


def name_matches(pattern: str, hostname: str) -> bool:
    """True if certificate name ``pattern`` (maybe ``*.x.y``) covers ``hostname``."""
    host = hostname.strip().rstrip(".").lower()
    pat = pattern.strip().rstrip(".").lower()
    host_ip = parse_ip(host)
    if host_ip is not None:
        pat_ip = parse_ip(pat)
        return pat_ip is not None and pat_ip == host_ip
    if not pat.startswith("*."):
        return pat == host
    suffix = pat[1:]  # ".example.com"
    if not host.endswith(suffix):
        return False
    first = host[: -len(suffix)]
    return bool(first) and "." not in first and suffix.count(".") >= 2


def certificate_covers(cert: x509.Certificate, hostname: str) -> bool:
    """True if ``cert`` is valid for ``hostname`` by its SANs (or CN when it has no SAN)."""
    names = names_of(cert)
    if parse_ip(hostname) is not None:
        candidates = names.ips if names.has_san else names.all
    else:
        candidates = names.dns if names.has_san else names.all
    return any(name_matches(p, hostname) for p in candidates)
