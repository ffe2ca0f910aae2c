"""SMS encoding: GSM 7-bit alphabet, UCS-2, concatenation, SMS-SUBMIT/DELIVER PDUs.

Plain short messages go in text mode (the reference's way, understood by every
modem). Anything else, a character outside the plain set (such as "ő" in "Előszoba
ablak") or a text longer than one SMS, goes in PDU mode: GSM 7-bit packed when every
character is in the GSM alphabet, otherwise UCS-2, and split into parts with a
concatenation header (UDH information element 0x00) that the phone joins again.
Text-mode UCS-2 with several independent messages would arrive as separate texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "Concat",
    "DecodedSms",
    "PduPart",
    "decode_deliver",
    "decode_submit",
    "encode_deliver",
    "encode_submit",
    "fits_text_mode",
    "gsm7_encode",
    "valid_number",
]

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_CODE = {ch: i for i, ch in enumerate(_BASIC) if ch != "\x1b"}
_EXTENSION_CHAR = {code: ch for ch, code in _EXTENSION.items()}

# Characters whose GSM code equals their ASCII code: safe in text mode on any modem.
_TEXT_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    " !\"#%&'()*+,-./:;<=>?\n\r"
)

SINGLE_GSM7 = 160
PART_GSM7 = 153
SINGLE_UCS2 = 70  # UTF-16 code units
PART_UCS2 = 67


def valid_number(number: str) -> bool:
    """A phone number arpi dials or texts: optional "+" then 3..20 digits."""
    digits = number.removeprefix("+")
    return 3 <= len(digits) <= 20 and digits.isdigit() and digits.isascii()


def fits_text_mode(text: str) -> bool:
    return len(text) <= SINGLE_GSM7 and all(ch in _TEXT_SAFE for ch in text)


def gsm7_encode(text: str) -> list[int] | None:
    """Septets of `text` in the GSM default alphabet, None if a character is missing."""
    septets: list[int] = []
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            septets.append(code)
            continue
        ext = _EXTENSION.get(ch)
        if ext is None:
            return None
        septets += (0x1B, ext)
    return septets


def gsm7_decode(septets: list[int]) -> str:
    out = []
    escape = False
    for code in septets:
        if escape:
            out.append(_EXTENSION_CHAR.get(code, " "))
            escape = False
        elif code == 0x1B:
            escape = True
        else:
            out.append(_BASIC[code])
    return "".join(out)


def _pack(header: bytes, septets: list[int]) -> bytes:
    bits: list[int] = []
    for byte in header:
        bits += [byte >> i & 1 for i in range(8)]
    if header:
        bits += [0] * ((7 - len(bits) % 7) % 7)
    for septet in septets:
        bits += [septet >> i & 1 for i in range(7)]
    bits += [0] * ((8 - len(bits) % 8) % 8)
    return bytes(
        sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8)
    )


def _unpack(data: bytes, header_len: int, count: int) -> list[int]:
    bits: list[int] = []
    for byte in data:
        bits += [byte >> i & 1 for i in range(8)]
    start = header_len * 8
    if header_len:
        start += (7 - start % 7) % 7
    septets = []
    for k in range(count):
        pos = start + 7 * k
        septets.append(sum(bits[pos + j] << j for j in range(7)))
    return septets


@dataclass(frozen=True, slots=True)
class Concat:
    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class PduPart:
    """One SMS-SUBMIT: `pdu` in hex and its TPDU length for AT+CMGS=<length>."""

    pdu: str
    length: int


def _address(number: str) -> bytes:
    international = number.startswith("+")
    digits = number.lstrip("+")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if international else 0x81]) + bytes.fromhex(
        swapped
    )


def _read_address(data: bytes, pos: int) -> tuple[str, int]:
    digits, toa = data[pos], data[pos + 1]
    size = (digits + 1) // 2
    raw = data[pos + 2 : pos + 2 + size]
    if toa & 0x70 == 0x50:  # alphanumeric sender, GSM 7-bit packed
        text = gsm7_decode(_unpack(raw, 0, digits * 4 // 7))
        return text, pos + 2 + size
    nibbles = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in raw)[:digits]
    return ("+" if toa & 0x70 == 0x10 else "") + nibbles, pos + 2 + size


def _udh(concat: Concat) -> bytes:
    return bytes([5, 0x00, 3, concat.reference & 0xFF, concat.total, concat.sequence])


def _split(units: list, size: int, breakable) -> list[list]:
    parts, current = [], []
    for unit in units:
        current.append(unit)
        if len(current) >= size:
            # Never end a part in the middle of an escape pair or a surrogate pair.
            if not breakable(current[-1]):
                current.pop()
                parts.append(current)
                current = [unit]
            else:
                parts.append(current)
                current = []
    if current:
        parts.append(current)
    return parts


def encode_submit(number: str, text: str, reference: int) -> list[PduPart]:
    """SMS-SUBMIT PDUs carrying `text` to `number` (parts share `reference`).

    Raises ValueError for an invalid number or an empty text.
    """
    if not valid_number(number):
        raise ValueError("number must be an optional + and 3..20 digits")
    if not text:
        raise ValueError("text must not be empty")
    septets = gsm7_encode(text)
    chunks: list[tuple[int, bytes, int]] = []  # (dcs, user data, udl)
    if septets is not None:
        if len(septets) <= SINGLE_GSM7:
            chunks.append((0x00, _pack(b"", septets), len(septets)))
        else:
            pieces = _split(septets, PART_GSM7, lambda s: s != 0x1B)
            for seq, piece in enumerate(pieces, 1):
                header = _udh(Concat(reference, len(pieces), seq))
                chunks.append((0x00, _pack(header, piece), 7 + len(piece)))
    else:
        encoded = text.encode("utf-16-be")
        units = [encoded[i : i + 2] for i in range(0, len(encoded), 2)]
        if len(units) <= SINGLE_UCS2:
            chunks.append((0x08, encoded, len(encoded)))
        else:
            pieces = _split(units, PART_UCS2, lambda u: not 0xD8 <= u[0] <= 0xDB)
            for seq, piece in enumerate(pieces, 1):
                header = _udh(Concat(reference, len(pieces), seq))
                body = header + b"".join(piece)
                chunks.append((0x08, body, len(body)))
    concatenated = len(chunks) > 1
    parts = []
    for dcs, data, udl in chunks:
        first = 0x01 | (0x40 if concatenated else 0)
        tpdu = bytes([first, 0x00]) + _address(number) + bytes([0x00, dcs, udl]) + data
        parts.append(PduPart(("00" + tpdu.hex()).upper(), len(tpdu)))
    return parts


@dataclass(frozen=True, slots=True)
class DecodedSms:
    number: str
    text: str
    concat: Concat | None
    time: datetime | None = None


def _user_data(
    data: bytes, pos: int, first: int, dcs: int
) -> tuple[str, Concat | None]:
    udl = data[pos]
    ud = data[pos + 1 :]
    concat = None
    header_len = 0
    if first & 0x40:
        header_len = ud[0] + 1
        i = 1
        while i < header_len:
            iei, length = ud[i], ud[i + 1]
            value = ud[i + 2 : i + 2 + length]
            if iei == 0x00 and length == 3:
                concat = Concat(value[0], value[1], value[2])
            elif iei == 0x08 and length == 4:
                concat = Concat(value[0] << 8 | value[1], value[2], value[3])
            i += 2 + length
    coding = dcs & 0x0C
    if coding == 0x00:
        header_septets = (header_len * 8 + 6) // 7
        text = gsm7_decode(_unpack(ud, header_len, udl - header_septets))
    elif coding == 0x08:
        text = ud[header_len:udl].decode("utf-16-be", errors="replace")
    else:
        text = ud[header_len:udl].decode("latin-1")
    return text, concat


def decode_submit(pdu_hex: str) -> DecodedSms:
    """Parse an SMS-SUBMIT PDU (with its SMSC prefix). Raises ValueError."""
    try:
        data = bytes.fromhex(pdu_hex)
        pos = 1 + data[0]
        first = data[pos]
        if first & 0x03 != 0x01:
            raise ValueError("not an SMS-SUBMIT")
        number, pos = _read_address(data, pos + 2)
        dcs = data[pos + 1]
        pos += 2
        vpf = first >> 3 & 0x03
        pos += {0: 0, 2: 1}.get(vpf, 7)
        text, concat = _user_data(data, pos, first, dcs)
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed PDU: {exc}") from exc
    return DecodedSms(number, text, concat)


def _semi_octets(value: int) -> int:
    return (value % 10) << 4 | value // 10


def encode_deliver(
    number: str, text: str, when: datetime, concat: Concat | None = None
) -> str:
    """An SMS-DELIVER PDU (hex, with SMSC prefix) as a modem lists a stored SMS."""
    septets = gsm7_encode(text)
    header = _udh(concat) if concat else b""
    if septets is not None:
        dcs, data = 0x00, _pack(header, septets)
        udl = (len(header) * 8 + 6) // 7 + len(septets)
    else:
        dcs = 0x08
        data = header + text.encode("utf-16-be")
        udl = len(data)
    local = when.astimezone(UTC)
    stamp = bytes(
        _semi_octets(v)
        for v in (
            local.year % 100,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            0,
        )
    )
    first = 0x04 | (0x40 if concat else 0)
    tpdu = bytes([first]) + _address(number) + bytes([0x00, dcs]) + stamp
    tpdu += bytes([udl]) + data
    return ("00" + tpdu.hex()).upper()


def decode_deliver(pdu_hex: str) -> DecodedSms:
    """Parse an SMS-DELIVER PDU as listed by AT+CMGL in PDU mode. Raises ValueError."""
    try:
        data = bytes.fromhex(pdu_hex)
        pos = 1 + data[0]
        first = data[pos]
        if first & 0x03 != 0x00:
            raise ValueError("not an SMS-DELIVER")
        number, pos = _read_address(data, pos + 1)
        dcs = data[pos + 1]
        stamp = data[pos + 2 : pos + 9]
        fields = [(b & 0x0F) * 10 + (b >> 4) for b in stamp]
        tz_raw = stamp[6]
        quarters = (tz_raw & 0x07) * 10 + (tz_raw >> 4)
        offset = timedelta(minutes=15 * quarters) * (-1 if tz_raw & 0x08 else 1)
        try:
            when: datetime | None = datetime(
                2000 + fields[0],
                fields[1],
                fields[2],
                fields[3],
                fields[4],
                fields[5],
                tzinfo=timezone(offset),
            )
        except ValueError:
            when = None
        text, concat = _user_data(data, pos + 9, first, dcs)
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed PDU: {exc}") from exc
    return DecodedSms(number, text, concat, when)
