# pyasn1's stubs leave subtype()/tagImplicitly() untyped, and its specs must use its names.
# mypy: disable-error-code="no-untyped-call"
# ruff: noqa: N815
"""LDAP StartTLS on the wire: the BER request and the parsed ExtendedResponse.

Only the part of RFC 4511 that StartTLS needs is declared (pyasn1 specs):
an LDAPMessage whose protocolOp is an ExtendedRequest or ExtendedResponse.
Anything else a server sends is not a StartTLS answer and is rejected as a
protocol error.
"""

from __future__ import annotations

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, tag, univ

from certmgr.probe.result import ProbeFailure, Reason

__all__ = ["NOTICE_OF_DISCONNECTION_OID", "STARTTLS_OID", "STARTTLS_REQUEST",
           "parse_extended_response"]

STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"
_MESSAGE_ID = 1


def _context(number: int, *, constructed: bool = False) -> tag.Tag:
    fmt = tag.tagFormatConstructed if constructed else tag.tagFormatSimple
    return tag.Tag(tag.tagClassContext, fmt, number)


def _application(number: int) -> tag.TagSet:
    tags: tag.TagSet = univ.Sequence.tagSet.tagImplicitly(
        tag.Tag(tag.tagClassApplication, tag.tagFormatConstructed, number))
    return tags


class ExtendedRequest(univ.Sequence):
    """``ExtendedRequest ::= [APPLICATION 23] SEQUENCE { requestName [0] LDAPOID, ... }``."""

    tagSet = _application(23)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("requestName", univ.OctetString().subtype(implicitTag=_context(0))),
        namedtype.OptionalNamedType("requestValue",
                                    univ.OctetString().subtype(implicitTag=_context(1))),
    )


class ExtendedResponse(univ.Sequence):
    """``ExtendedResponse ::= [APPLICATION 24] SEQUENCE { COMPONENTS OF LDAPResult, ... }``."""

    tagSet = _application(24)
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("resultCode", univ.Enumerated()),
        namedtype.NamedType("matchedDN", univ.OctetString()),
        namedtype.NamedType("diagnosticMessage", univ.OctetString()),
        namedtype.OptionalNamedType(
            "referral", univ.SequenceOf(componentType=univ.OctetString()).subtype(
                implicitTag=_context(3, constructed=True))),
        namedtype.OptionalNamedType("responseName",
                                    univ.OctetString().subtype(implicitTag=_context(10))),
        namedtype.OptionalNamedType("responseValue",
                                    univ.OctetString().subtype(implicitTag=_context(11))),
    )


class ProtocolOp(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("extendedReq", ExtendedRequest()),
        namedtype.NamedType("extendedResp", ExtendedResponse()),
    )


class Control(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("controlType", univ.OctetString()),
        namedtype.DefaultedNamedType("criticality", univ.Boolean(False)),
        namedtype.OptionalNamedType("controlValue", univ.OctetString()),
    )


class LDAPMessage(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("messageID", univ.Integer()),
        namedtype.NamedType("protocolOp", ProtocolOp()),
        namedtype.OptionalNamedType("controls", univ.SequenceOf(componentType=Control()).subtype(
            implicitTag=_context(0, constructed=True))),
    )


def _starttls_request() -> bytes:
    message = LDAPMessage()
    message["messageID"] = _MESSAGE_ID
    request = message["protocolOp"]["extendedReq"]
    request["requestName"] = STARTTLS_OID.encode()
    return bytes(encoder.encode(message))


#: The StartTLS extended request, message ID 1, as sent on the wire.
STARTTLS_REQUEST = _starttls_request()


def parse_extended_response(data: bytes) -> tuple[int, str]:
    """Parse one BER LDAPMessage answering StartTLS.

    Args:
        data: exactly one LDAPMessage (tag, length and contents).

    Returns:
        (resultCode, diagnosticMessage): 0 means the server starts TLS now.
        A Notice of Disconnection (message ID 0) comes back with its own code.

    Raises:
        ProbeFailure: PROTOCOL_ERROR when the bytes are not an ExtendedResponse
            to our request.
    """
    try:
        message, rest = decoder.decode(data, asn1Spec=LDAPMessage())
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise ProbeFailure(Reason.PROTOCOL_ERROR,
                           f"LDAP answer to StartTLS is not valid BER: {exc}") from None
    if rest:
        raise ProbeFailure(Reason.PROTOCOL_ERROR, "LDAP answer to StartTLS has trailing bytes")
    op = message["protocolOp"]
    if op.getName() != "extendedResp":
        raise ProbeFailure(Reason.PROTOCOL_ERROR,
                           f"LDAP server answered StartTLS with a {op.getName()}")
    response = op["extendedResp"]
    message_id = int(message["messageID"])
    if message_id not in (0, _MESSAGE_ID):
        raise ProbeFailure(Reason.PROTOCOL_ERROR,
                           f"LDAP answer to StartTLS has message ID {message_id}, not "
                           f"{_MESSAGE_ID}")
    code = int(response["resultCode"])
    text = bytes(response["diagnosticMessage"]).decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)[:200]
    if message_id == 0 and code == 0:
        # A Notice of Disconnection with success would be nonsense: the server is leaving.
        raise ProbeFailure(Reason.STARTTLS_REFUSED,
                           "LDAP server sent a Notice of Disconnection instead of StartTLS")
    return code, text
