"""Redaction of personal data and secrets: a corpus of PII in Korean and English, and look-alikes
that must come through untouched (UUIDs, order numbers failing Luhn, dates, versions, hashes)."""

import json
import random
import re
import uuid
from collections import Counter

import pyarrow as pa
import pytest

from trace_assets.governance.pii_detectors import luhn_valid, rrn_check_digit_valid
from trace_assets.governance.redaction import redact_json_text, redact_landed_batch, redact_text

# (text, what it must become)
PII = [
    ("메일 hong.gildong@example.co.kr 로 보내주세요", "메일 <EMAIL> 로 보내주세요"),
    ("고객hong@example.com님께 연락", "고객<EMAIL>님께 연락"),
    ("Contact: Jane.Doe+test@mail.example.org.", "Contact: <EMAIL>."),
    ("휴대폰 010-1234-5678 입니다", "휴대폰 <PHONE> 입니다"),
    ("전화번호는01012345678입니다", "전화번호는<PHONE>입니다"),
    ("+82 10 1234 5678 로 전화", "<PHONE> 로 전화"),
    ("call +82-10-1234-5678 or +1 (415) 555-2671", "call <PHONE> or <PHONE>"),
    ("서울 02-123-4567, 경기 031-123-4567", "서울 <PHONE>, 경기 <PHONE>"),
    ("US (415) 555-2671 / 415-555-2671", "US <PHONE> / <PHONE>"),
    ("전화번호는 010-1234-\n5678 입니다", "전화번호는 <PHONE> 입니다"),
    ("card 4111 1111 1111 1111 exp 12/29", "card <CARD> exp 12/29"),
    ("카드번호4111111111111111로 결제", "카드번호<CARD>로 결제"),
    ("amex 3782 822463 10005", "amex <CARD>"),
    ("mc 5500-0000-0000-0004.", "mc <CARD>."),
    ("card 4111 1111\n1111 1111", "card <CARD>"),
    ("주민등록번호 900101-1234568 입니다", "주민등록번호 <KR_RRN> 입니다"),
    ("주민번호는9001011234568이고", "주민번호는<KR_RRN>이고"),
    ("server 10.0.0.1, 서버192.168.0.10접속", "server <IP>, 서버<IP>접속"),
    ("v6 2001:db8::8a2e:370:7334 and fe80:0:0:0:202:b3ff:fe1e:8329", "v6 <IP> and <IP>"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws <SECRET> here"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234", "OPENAI_API_KEY=<SECRET>"),
    ("langfuse pk-lf-1234abcd-5678-90ef sk-lf-9f8e7d6c-aaaa-bbbb", "langfuse <SECRET> <SECRET>"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "Authorization: Bearer <SECRET>"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0", "token <SECRET>"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nqwerty\n-----END RSA PRIVATE KEY----- ok", "<SECRET> ok"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg (truncated", "<SECRET>"),
]

LOOK_ALIKES = [
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "uuid 41111111-1111-1111-1111-111111111111 and 4111-1111-1111-1111-111111111111",
    "order 1234567812345678 (fails Luhn)",
    "주문번호1234567812345678입니다",
    "2026-11-27 13:34:31, 2026-11-27T13:34:31.123Z, 2026/11/27, 27.11.2026",
    "epoch ms 1732712345678, µs 1732712345678901, ns 1732712345678901234",
    "version 1.2.3.4, v1.2.3, 버전 2.0.1.3, python 3.11.7",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "git 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "time 12:30:45, std::vector<int>, ::1, a::b::c",
    "task-management-system-abcdefghijklmnop, disk-usage-monitoring-dashboard-v22",
    "price 1,234,567.89 KRW, 12345 tokens, latency 987654 ms",
    "RRN-shaped but invalid: 9013011234568, 9001011234567",
    "isbn 978-3-16-148410-0",
    "C++11 and 3+4=7",
    "user@localhost",
]


@pytest.mark.parametrize(("text", "expected"), PII)
def test_pii_is_replaced_by_typed_placeholders(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_stay_intact(text):
    assert redact_text(text) == text


def test_ten_thousand_uuids_and_luhn_failing_order_numbers_survive():
    rng = random.Random(12)
    uuids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(10_000)]
    # UUIDs made of digits only, the shape that tripped other tools' card rules.
    digit_uuids = ["-".join("".join(rng.choice("0123456789") for _ in range(n)) for n in (8, 4, 4, 4, 12)) for _ in range(2_000)]
    orders = []
    while len(orders) < 5_000:
        number = "".join(rng.choice("0123456789") for _ in range(16))
        if not luhn_valid(number):
            orders.append(number)
    text = " ".join(uuids + digit_uuids + orders)
    assert redact_text(text) == text


def test_counts_per_type_and_never_the_values():
    counts = Counter()
    redact_text("a@b.io, c@d.io, 010-1234-5678, 4111111111111111, sk-lf-0123456789abcdef", counts)
    assert counts == Counter({"EMAIL": 2, "PHONE": 1, "CARD": 1, "SECRET": 1})


def test_validators():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert rrn_check_digit_valid("9001011234568") and not rrn_check_digit_valid("9001011234567")


def test_json_string_values_are_redacted_and_numbers_kept():
    document = json.dumps(
        {"order_id": 4111111111111111, "email": "kim@example.com", "turns": [{"content": "010-1234-5678로 연락"}]},
        ensure_ascii=False,
    )
    counts = Counter()
    redacted = json.loads(redact_json_text(document, counts))
    assert redacted == {"order_id": 4111111111111111, "email": "<EMAIL>", "turns": [{"content": "<PHONE>로 연락"}]}
    assert counts == Counter({"EMAIL": 1, "PHONE": 1})


def test_a_landed_batch_is_redacted_in_every_free_text_column():
    batch = pa.RecordBatch.from_pydict(
        {
            "id": ["t-4111111111111111", "t2", "t3"],
            "input": ["내 메일은 lee@example.com", "plain question", None],
            "output": ["answer 1234567812345678", "call 010-9876-5432", "ok"],
            "metadata_json": ['{"ip": "10.1.2.3", "n": 4111111111111111}', None, "{}"],
            "messages": [json.dumps([{"role": "user", "content": "카드 4111 1111 1111 1111"}], ensure_ascii=False), None, None],
            "contexts": [["doc with sk-proj-abcdefghijklmnopqrstuvwx", "clean"], None, []],
        },
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("input", pa.string()),
                ("output", pa.string()),
                ("metadata_json", pa.string()),
                ("messages", pa.string()),
                ("contexts", pa.list_(pa.string())),
            ]
        ),
    )
    counts = Counter()
    redacted = redact_landed_batch(batch, counts).to_pydict()
    assert redacted["id"] == ["t-4111111111111111", "t2", "t3"]  # ids are never touched
    assert redacted["input"] == ["내 메일은 <EMAIL>", "plain question", None]
    assert redacted["output"] == ["answer 1234567812345678", "call <PHONE>", "ok"]
    assert json.loads(redacted["metadata_json"][0]) == {"ip": "<IP>", "n": 4111111111111111}
    assert redacted["metadata_json"][1:] == [None, "{}"]
    assert json.loads(redacted["messages"][0]) == [{"role": "user", "content": "카드 <CARD>"}]
    assert redacted["contexts"] == [["doc with <SECRET>", "clean"], None, []]
    assert counts == Counter({"EMAIL": 1, "PHONE": 1, "IP": 1, "CARD": 1, "SECRET": 1})


def test_contexts_lifted_from_metadata_are_redacted_where_the_metadata_holds_pii():
    metadata = [
        json.dumps({"contexts": ["전화 010-1234-\n5678 로", "clean"]}, ensure_ascii=False),
        json.dumps({"contexts": ["nothing here"]}),
    ]
    batch = pa.RecordBatch.from_pydict(
        {"metadata_json": metadata, "contexts": [["전화 010-1234-\n5678 로", "clean"], ["nothing here"]]},
        schema=pa.schema([("metadata_json", pa.string()), ("contexts", pa.list_(pa.string()))]),
    )
    counts = Counter()
    redacted = redact_landed_batch(batch, counts, contexts_in_metadata=True).to_pydict()
    assert redacted["contexts"] == [["전화 <PHONE> 로", "clean"], ["nothing here"]]
    assert json.loads(redacted["metadata_json"][0]) == {"contexts": ["전화 <PHONE> 로", "clean"]}
    assert counts == Counter({"PHONE": 2})


# Candidates and the exact patterns. Landing finds candidate rows in C (Hyperscan over the Arrow
# buffer; RE2 through pyarrow where Hyperscan is missing) and runs the Python patterns only there,
# only near the candidates when it can: the two engines must redact every text the same, and the
# candidates must hold every row the exact patterns change.

FRAGMENTS = [
    *(text for text, _ in PII),
    *LOOK_ALIKES,
    "kim.minji@example.com", "010-2345-6789", "01023456789", "+82 10 1234 5678", "(415) 555-2671", "415.555.2671",
    "4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1111", "378282246310005", "5500 0000 0000 0004",
    "900101-1234568", "9001011234568", "10.0.0.1", "192.168.0.10", "::1", "fe80::1:2:3", "2001:db8::8a2e:370:7334",
    "AKIAIOSFODNN7EXAMPLE", "sk-lf-0a1b2c3d-4e5f", "sk-proj-abcdefghijklmnopqrstuvwx", "Bearer abcdefghijklmnop0123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0", "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----", "4111 1111\n  1111 1111", "010-1234-\n5678", "version", "v", "ver.",
    "１２３４５６７８９０１２３", "٤١١١١١١١١١١١١١١١", "０１０-１２３４-５６７８", "8f14e45fceea167a5a36dedd4bea2543",
    "2026-11-27", "13:34:31", "1.2.3.4", "12345678", "0123", "9", "00", "카드", "전화번호는", "입니다", "로", "abc", "Z", "_",
]
JOINERS = ["", "", "", " ", " ", "\n", "-", ".", ",", ":", "+", "=", "@", "(", ")", "/", "\t", "  "]


def _random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))]
        texts.append("".join(piece + rng.choice(JOINERS) for piece in pieces))
    return texts


def _engines_agree(batch: pa.RecordBatch, monkeypatch, contexts_in_metadata=False) -> tuple[dict, Counter]:
    from trace_assets.governance import candidate_scan

    assert candidate_scan.available(), "hyperscan is pinned in constraints.txt for x86-64 Linux"
    fast_counts = Counter()
    fast = redact_landed_batch(batch, fast_counts, contexts_in_metadata).to_pydict()
    with monkeypatch.context() as patch:
        patch.setattr(candidate_scan, "hyperscan", None)
        assert not candidate_scan.available()
        re2_counts = Counter()
        re2 = redact_landed_batch(batch, re2_counts, contexts_in_metadata).to_pydict()
    assert fast == re2
    assert fast_counts == re2_counts
    return fast, fast_counts


def test_hyperscan_and_re2_candidates_redact_random_texts_the_same(monkeypatch):
    texts = _random_texts(3_000, seed=27)
    # Long texts too, where each detector searches only around its candidates.
    filler = " 답변은 다음과 같습니다 the answer follows " * 3
    texts += [filler.join(texts[i : i + 10]) for i in range(0, 3_000, 10)]
    texts[100:110] = [None, "", None, "", "0", "4111111111111111", None, "x", "", "010-1234-5678"]
    documents = [None if text is None else json.dumps({"t": text, "n": [text, 4111111111111111]}, ensure_ascii=i % 2 == 0) for i, text in enumerate(texts)]
    batch = pa.RecordBatch.from_pydict(
        {
            "input": texts,
            "output": list(reversed(texts)),
            "metadata_json": documents,
            "messages": list(reversed(documents)),
            "contexts": [None if i % 7 == 0 else texts[i : i + i % 4] for i in range(len(texts))],
        },
        schema=pa.schema(
            [
                ("input", pa.large_string()),
                ("output", pa.string()),
                ("metadata_json", pa.large_string()),
                ("messages", pa.large_string()),
                ("contexts", pa.large_list(pa.large_string())),
            ]
        ),
    )
    redacted, counts = _engines_agree(batch, monkeypatch)
    assert sum(counts.values()) > 5_000 and set(counts) == {"EMAIL", "PHONE", "CARD", "KR_RRN", "IP", "SECRET"}
    # Both as redact_text with every detector, but for digits other than 0-9 (full-width, Arabic):
    # Python's `\\d` takes them, the candidate patterns' ASCII `\\d` does not, so a text whose only
    # phone number is written "０１０-１２３４-５６７８" is not redacted (as before Hyperscan).
    ascii_digits = [i for i, text in enumerate(texts) if text is not None and not re.search(r"(?=\d)[^0-9]", text)]
    assert [redacted["input"][i] for i in ascii_digits] == [redact_text(texts[i]) for i in ascii_digits]
    # A slice of the batch (Arrow offsets not starting at zero) comes out the same.
    _engines_agree(batch.slice(1_234, 777), monkeypatch)


def test_candidates_hold_every_row_the_exact_patterns_change():
    from trace_assets.governance.candidate_scan import scan_column
    from trace_assets.governance.pii_detectors import DETECTORS

    texts = [text for text, _ in PII] + LOOK_ALIKES + _random_texts(3_000, seed=12)
    # (Digits other than 0-9 are not candidates: see the test above.)
    texts = [text for text in texts if not re.search(r"(?=\d)[^0-9]", text)]
    # Each text after one ending in a letter, and at the very start of the buffer.
    for column in (pa.array(texts, pa.large_string()), pa.array([t for text in texts for t in ("Z", text)], pa.string())):
        candidates = scan_column(column, as_json=False)
        found = dict(zip(candidates.rows, candidates.ends))
        for row, text in enumerate(column.to_pylist()):
            for index, detector in enumerate(DETECTORS):
                if redact_text(text, detectors=[detector]) != text:
                    assert index in found.get(row, {}), (detector.placeholder, text)


def test_numbers_far_apart_are_redacted_around_their_candidates():
    from trace_assets.governance.candidate_scan import scan_column
    from trace_assets.governance.redaction import redact_text_near

    text = "전화 010-1234-5678 " + "가나다라 " * 400 + "카드 4111 1111 1111 1111 로, 메일 kim@example.com"
    candidates = scan_column(pa.array([text]), as_json=False)
    counts = Counter()
    assert redact_text_near(text, candidates.ends[0], counts) == redact_text(text)
    assert counts == Counter({"PHONE": 1, "CARD": 1, "EMAIL": 1})


def test_a_database_loaded_from_the_cache_finds_what_a_compiled_one_does(monkeypatch, tmp_path):
    from trace_assets.governance import candidate_scan

    monkeypatch.setattr(candidate_scan.tempfile, "gettempdir", lambda: str(tmp_path))
    column = pa.array([text for text, _ in PII] + LOOK_ALIKES)
    found = []
    for _ in range(2):  # compiled and written, then read back
        monkeypatch.setattr(candidate_scan, "_databases", {})
        monkeypatch.setattr(candidate_scan, "_local", candidate_scan.threading.local())
        found.append(candidate_scan.scan_column(column, as_json=False))
    assert len(list(tmp_path.glob("trace_assets-hyperscan-*/*.hsdb"))) == 1
    assert found[0] == found[1] and set(range(len(PII))) <= set(found[0].rows)


def test_plain_text_searched_in_its_utf8_bytes_finds_what_the_text_search_does():
    # Landing searches plain text in the column's bytes. IPv4's validator reads the 12 characters
    # before an address (a version string stays); Korean characters take three bytes each.
    from trace_assets.governance import candidate_scan

    assert candidate_scan.available()
    texts = [
        prefix + " " * spaces + address + suffix
        for prefix in ("버전", "version", "가나다라마바사아자차카타", "v", "버전:", "서버")
        for spaces in (0, 1, 5, 9, 13)
        for address in ("10.0.0.1", "1.2.3.4", "192.168.0.10")
        for suffix in ("", "로 접속", " kim@example.com 010-1234-5678", "4111111111111111")
    ]
    texts += ["가" * 600 + text for text in texts[::7]]  # long texts: runs around the candidates
    batch = pa.RecordBatch.from_pydict({"input": texts})
    counts, expected = Counter(), Counter()
    assert redact_landed_batch(batch, counts).column("input").to_pylist() == [redact_text(text, expected) for text in texts]
    assert counts == expected and counts["IP"] > 0
