"""Redaction of personal data and secrets: a corpus of PII in Korean and English, and look-alikes
that must come through untouched (UUIDs, order numbers failing Luhn, dates, versions, hashes)."""

import json
import random
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
