"""What counts as personal data or a secret in a trace's text, one detector per placeholder.

Each detector is a Python pattern (exact: boundaries, shapes) with an optional validator (Luhn,
the resident registration number's check digit, octet ranges), and looser patterns that every
match of the detector also matches, so landing can look for candidates over whole Arrow columns
in C and hand only the rows they hit to the Python patterns (see redaction.py):
- `scan`: the Hyperscan pattern for plain text (candidate_scan.py). For numbers it is the exact
  pattern with its look-arounds dropped and the look-behind turned into one consumed character
  (Hyperscan has no look-behind): tight shapes keep Hyperscan's automaton small, several times
  faster than the loose triggers on text dense with digits.
- `trigger`: the RE2 pattern (looser: any separators, JSON's escaped line breaks), used for JSON
  text and where Hyperscan is not installed.
- `span`: a character class every character of every match (and of every attempt at one) is in,
  so a match lies inside one run of these characters around a candidate hit (None: unbounded).
- `on_bytes`: the pattern (ASCII classes only, no `\\s`) finds the same values in a text's UTF-8
  bytes as in the text, as long as the text holds no decimal digits other than 0-9; redaction.py
  then works on the Arrow buffer's bytes without making Python strings. Validators take matches
  on either.

Boundaries are ASCII on purpose: Python's `\\b` treats Hangul as a word character, so
`카드4111111111111111로` (Korean written without spaces) has no `\\b` around the number and a
`\\b`-based rule misses it. Here a number is delimited by anything that is not an ASCII letter
or digit.
"""

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

# Bumped whenever a detector changes what it finds: it is part of every landed row and of the
# scores' content hash, so new rules rescore what they changed.
REDACTION_VERSION = "pii-1"

# A separator inside a number: one space, dot or hyphen, or a line break (a number split across
# lines), optionally indented.
SEP = r"(?:[ .\-]|[ .\-]?\r?\n[ \t]*)"
# The same inside RE2 triggers (a superset: any run of those characters, and of JSON's escaped
# line breaks, so a trigger that misses a JSON document's text misses its decoded strings too).
TRIGGER_SEP = r"[ .\-\r\n\t\\nrt]*"


@dataclass(frozen=True)
class Detector:
    placeholder: str
    pattern: re.Pattern
    trigger: str
    valid: Callable[[re.Match], bool] | None = None
    group: int = 0  # the part of the match that is replaced (a bearer token keeps "Bearer ")
    # Substrings one of which every match contains: a text without any of them skips the
    # (slower) Python pattern. Empty: always run it.
    needs: tuple[str, ...] = ()
    # What must come before a match in plain text (RE2 has no look-behind): a number that
    # continues a longer run of letters or digits is no match, so hex hashes and ids do not send
    # their rows to Python. Not used on JSON text, where an escape (`\n`, `\uXXXX`) may stand
    # right before a number.
    lead: str = ""
    # The Hyperscan pattern for plain text (empty: `text_trigger`), and the characters a match is
    # made of (see the module's docstring).
    scan: str = ""
    span: str | None = None
    on_bytes: bool = True

    def could_match(self, text: str) -> bool:
        return not self.needs or any(needle in text for needle in self.needs)

    @property
    def text_trigger(self) -> str:
        return f"{self.lead}(?:{self.trigger})" if self.lead else self.trigger

    @property
    def text_scan(self) -> str:
        return self.scan or self.text_trigger

    @cached_property
    def bytes_pattern(self) -> re.Pattern | None:
        """The pattern for UTF-8 bytes (None: search the text); see the module's docstring."""
        if not self.on_bytes or self.span is None:
            return None
        return re.compile(self.pattern.pattern.encode(), self.pattern.flags & ~re.UNICODE)


# Luhn doubles every second digit from the right, subtracting 9 from a two-digit result.
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_LUHN_DOUBLED_ASCII = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_valid(digits: str) -> bool:
    if digits.isascii():
        return _luhn_valid_ascii(digits.encode())
    values = list(map(int, reversed(digits)))
    return (sum(values[0::2]) + sum(_LUHN_DOUBLED[value] for value in values[1::2])) % 10 == 0


def _luhn_valid_ascii(digits: bytes) -> bool:
    # The same sum on the digits' character codes (48 is "0"): no int() a digit.
    backwards = digits[::-1]
    return (sum(backwards[0::2]) + sum(backwards[1::2].translate(_LUHN_DOUBLED_ASCII)) - 48 * len(digits)) % 10 == 0


def _matched(match: re.Match) -> str:
    """The matched text (a match on UTF-8 bytes decoded: bytes patterns match ASCII only)."""
    value = match.group(0)
    return value if isinstance(value, str) else value.decode()


def _text_before(match: re.Match, characters: int) -> str:
    """Up to `characters` characters before the match, from a text or from UTF-8 bytes (four
    bytes a character at most; a character cut at the window's start is left out)."""
    if isinstance(match.string, str):
        return match.string[max(0, match.start() - characters) : match.start()]
    window = bytes(match.string[max(0, match.start() - 4 * characters - 4) : match.start()])
    return window.decode(errors="ignore")[-characters:]


_NON_DIGIT = re.compile(r"\D")

# Issuer prefixes of the card networks (Visa, Mastercard incl. 2-series, Amex, Discover, JCB,
# Diners, UnionPay, Maestro): a Luhn-valid number starting otherwise (epoch milliseconds start
# with 1) is not taken for a card.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[5]|3[068]|6[0-9]|50|5[6-8]")
_CARD_PREFIX_ASCII = re.compile(_CARD_PREFIX.pattern.encode())


# What a card number's separators are made of (its pattern holds nothing else but digits).
_DROP_SEPARATORS = str.maketrans("", "", " .-\r\n\t")


def _card(match: re.Match) -> bool:
    number = match.group(0)
    if isinstance(number, str):
        if not number.isascii():
            digits = number.translate(_DROP_SEPARATORS)
            return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_valid(digits)
        number = number.encode()
    digits = number.translate(None, b" .-\r\n\t")
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX_ASCII.match(digits)) and _luhn_valid_ascii(digits)


_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def rrn_check_digit_valid(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS))
    return (11 - total % 11) % 10 == int(digits[12])


def _rrn(match: re.Match) -> bool:
    number = _matched(match)
    digits = _NON_DIGIT.sub("", number)
    if len(digits) != 13:
        return False
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}[digits[6]]
    try:
        date(century + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    # Written with its hyphen, a valid birth date and sex digit are evidence enough (numbers
    # issued since October 2020 end in random digits); thirteen digits in a row need the check
    # digit as well, or every 13-digit id with a date-like head would go.
    return "-" in number or rrn_check_digit_valid(digits)


def _phone_digits(match: re.Match) -> bool:
    return 8 <= len(_NON_DIGIT.sub("", _matched(match))) <= 15


_VERSION_BEFORE = re.compile(r"(?<![A-Za-z])(?:version|release|ver\.?|버전|v)\s*[:=]?\s*$", re.IGNORECASE)


def _ipv4(match: re.Match) -> bool:
    if any(int(octet) > 255 for octet in _matched(match).split(".")):
        return False
    # A four-part version string written as one ("version 1.2.3.4") stays.
    return not _VERSION_BEFORE.search(_text_before(match, 12))


def _ipv6(match: re.Match) -> bool:
    text = _matched(match)
    if sum(1 for group in text.split(":") if group) < 3 or not re.search(r"\d", text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# `\d(?<![0-9A-Za-z]\d)`: a digit not preceded by a letter or digit. Written after the first
# digit rather than before it, so Python's regex engine can still skip ahead to digits.
_NUM_START = r"\d(?<![0-9A-Za-z]\d)"
_NUM_END = r"(?![0-9A-Za-z])"
# The same in Hyperscan: the character before a number, consumed (or the start of the text).
_SCAN_LEAD = r"(?:^|[^0-9A-Za-z])"
# What numbers are made of: Unicode digits (Python's `\d`) and the separators of SEP.
_NUMBER_SPAN = r"[\d .\-\r\n\t]"

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "SECRET",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        r"PRIVATE KEY",
        needs=("PRIVATE KEY",),
    ),
    Detector(
        "SECRET",
        re.compile(
            r"(?<![A-Za-z0-9])(?:"
            r"(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
            r"|(?:sk|pk)-lf-[0-9A-Za-z-]{8,}"  # Langfuse keys
            r"|sk-(?:proj-|ant-|svcacct-)?[0-9A-Za-z_\-]{20,}"  # OpenAI / Anthropic style keys
            r"|(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{30,}|github_pat_[0-9A-Za-z_]{30,}"  # GitHub
            r"|xox[abposr]-[0-9A-Za-z-]{10,}"  # Slack
            r"|AIza[0-9A-Za-z_\-]{35}"  # Google API keys
            r"|eyJ[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}"  # JWTs
            r")(?![0-9A-Za-z])"
        ),
        r"AKIA|ASIA|sk-|pk-lf-|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ",
        needs=("AKIA", "ASIA", "sk-", "pk-lf-", "_", "xox", "AIza", "eyJ"),
        span=r"[0-9A-Za-z_\-.]",
    ),
    Detector(
        "SECRET",
        re.compile(r"(?<![A-Za-z0-9])[Bb]earer\s+([0-9A-Za-z\-._~+/]{16,}=*)"),
        r"[Bb]earer",
        group=1,
        needs=("earer",),
        span=r"[0-9A-Za-z\-._~+/=\s]",
        on_bytes=False,  # `\s` takes more than ASCII whitespace in a text
    ),
    Detector(
        "EMAIL",
        re.compile(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
        ),
        r"@",
        needs=("@",),
        span=r"[A-Za-z0-9._%+\-@]",
    ),
    # Resident registration numbers before cards and phones: 13 digits that satisfy the RRN's
    # rules are an RRN even when they would also pass Luhn.
    Detector(
        "KR_RRN",
        re.compile(_NUM_START + r"\d{5}(?:-|" + SEP + r")?[1-8]\d{6}" + _NUM_END),
        r"\d{6}" + TRIGGER_SEP + r"[1-8]\d{6}",
        _rrn,
        lead=r"(?:^|[^0-9A-Za-z])",
        scan=_SCAN_LEAD + r"\d{6}(?:-|" + SEP + r")?[1-8]\d{6}",
        span=_NUMBER_SPAN,
    ),
    Detector(
        "CARD",
        re.compile(
            # Not after "-" or "." and not followed by them and a digit: UUIDs, version strings
            # and dotted ids keep their groups of digits.
            r"\d(?<![0-9A-Za-z.\-]\d)"
            r"(?:\d{12,18}|\d{3}(?:" + SEP + r"\d{4}){2}" + SEP + r"\d{1,7}|\d{3}" + SEP + r"\d{6}" + SEP + r"\d{4,5})"
            r"(?![0-9A-Za-z]|[.\-]\d)"
        ),
        r"\d(?:" + TRIGGER_SEP + r"\d){12}",
        _card,
        lead=r"(?:^|[^0-9A-Za-z.\-])",
        # The shortest beginning of each shape (13 digits): fewer matches to report than the
        # whole number, and every card begins so.
        scan=r"(?:^|[^0-9A-Za-z.\-])\d(?:\d{12}|\d{3}(?:" + SEP + r"\d{4}){2}" + SEP + r"\d|\d{3}" + SEP + r"\d{6}" + SEP + r"\d{4})",
        span=_NUMBER_SPAN,
    ),
    Detector(
        "PHONE",
        re.compile(r"(?<![0-9A-Za-z+])\+\d{1,3}(?:" + SEP + r"?\(?\d{1,4}\)?){2,5}" + _NUM_END),
        r"\+[ (]*\d",
        _phone_digits,
        needs=("+",),
        span=r"[\d+() .\-\r\n\t]",
    ),
    Detector(
        "PHONE",
        # Korean mobile (010, 011, 016-019), Seoul (02), regional (031-064) and 070 numbers.
        re.compile(r"0(?<![0-9A-Za-z]0)(?:1[016789]|2|[3-6][1-5]|70)" + SEP + r"?\d{3,4}" + SEP + r"?\d{4}" + _NUM_END),
        r"0\d{1,2}" + TRIGGER_SEP + r"\d{3,4}" + TRIGGER_SEP + r"\d{4}",
        lead=r"(?:^|[^0-9A-Za-z])",
        scan=_SCAN_LEAD + r"0(?:1[016789]|2|[3-6][1-5]|70)" + SEP + r"?\d{3,4}" + SEP + r"?\d{4}",
        span=_NUMBER_SPAN,
    ),
    Detector(
        "PHONE",
        # North American numbers written with separators: (415) 555-2671, 415-555-2671.
        re.compile(r"(?:\(\d{3}\)[ .\-]?|" + _NUM_START + r"\d{2}[.\-])\d{3}[.\-]\d{4}" + _NUM_END),
        r"\d{3}\)?[ .\-]*\d{3}[.\-]\d{4}",
        lead=r"(?:^|[^0-9A-Za-z])",
        scan=r"(?:\(\d{3}\)[ .\-]?|" + _SCAN_LEAD + r"\d{3}[.\-])\d{3}[.\-]\d{4}",
        span=r"[\d() .\-]",
    ),
    Detector(
        "IP",
        re.compile(r"\d(?<![0-9A-Za-z.]\d)\d{0,2}(?:\.\d{1,3}){3}(?![0-9A-Za-z]|\.\d)"),
        r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d",
        _ipv4,
        lead=r"(?:^|[^0-9A-Za-z.])",
        needs=(".",),
        span=r"[\d.]",
    ),
    Detector(
        "IP",
        re.compile(r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,6}[0-9A-Fa-f]{1,4}(?![0-9A-Za-z:])"),
        r"::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:",
        _ipv6,
        needs=(":",),
        span=r"[0-9A-Fa-f:]",
    ),
)

PLACEHOLDERS = tuple(dict.fromkeys(f"<{detector.placeholder}>" for detector in DETECTORS))

# One RE2 pattern that matches every text any detector could match: in plain text, and in JSON
# text (looser: no leads).
TEXT_TRIGGER = "|".join(f"(?:{detector.text_trigger})" for detector in DETECTORS)
JSON_TRIGGER = "|".join(f"(?:{detector.trigger})" for detector in DETECTORS)
