"""Regenerates buckets.json and numbers.json with an independent murmur3 (pip install mmh3).

Only for adding cases: an existing expectation must never change."""
import json, os

import mmh3
cases = [
 ("new-checkout", "user-1"), ("new-checkout", "user-2"), ("new-checkout", "user-3"),
 ("new-checkout", ""), ("", ""), ("", "user-1"), ("dark-mode", "user-1"),
 ("dark-mode", "42"), ("dark-mode", "-7"), ("dark-mode", "1.5"), ("dark-mode", "true"), ("dark-mode", "false"),
 ("a", "b"), ("ab", "c"), ("abc", "d"), ("abcd", "e"), ("abcde", "f"),
 ("flag", "a"), ("flag", "ab"), ("flag", "abc"), ("flag", "abcd"),
 ("checkout.v2_beta", "550e8400-e29b-41d4-a716-446655440000"),
 ("checkout.v2_beta", "user@example.com"),
 ("pricing", "ユーザー"), ("pricing", "José"), ("pricing", "😀"), ("ünïcödé-salt", "straße"),
 ("pricing", "ππππππππ"), ("pricing", "with space"), ("pricing", "colon:inside"),
 ("salt:with:colons", "id"), ("pricing", "\t\n"),
 ("long", "x" * 1000), ("l" * 128, "user-1"), ("long", "0123456789" * 50 + "é"),
 ("experiment-2026", "device-000001"), ("experiment-2026", "device-000002"), ("experiment-2026", "device-999999"),
 ("Feature.X", "ORG-12"), ("feature.x", "org-12"),
]
out = []
for salt, ident in cases:
    h = mmh3.hash((salt + ":" + ident).encode("utf-8"), 0, signed=False)
    out.append({"salt": salt, "id": ident, "murmur3": h, "bucket": h % 10000})
doc = {"description": "Rollout bucket golden vectors: bucket = murmur3_x86_32(seed 0, utf8(salt + ':' + id)) % 10000. Generated with an independent implementation (Python mmh3). Never edit an entry: a change here moves users between variants in every SDK.", "vectors": out}
# One vector per line, so that a diff shows exactly which vectors changed.
lines = ['{', '  "description": ' + json.dumps(doc["description"], ensure_ascii=False) + ',', '  "vectors": [']
lines.append(',\n'.join('    ' + json.dumps(v, ensure_ascii=False) for v in out))
lines.append('  ]\n}\n')
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "buckets.json"), "w") as f:
    f.write('\n'.join(lines))
print(len(out), "vectors")

# Numeric stickiness values: the canonical text of a JSON number literal (ROLLOUT.md), decided
# with exact decimal arithmetic, independent of the Rust code; `null` where there is none.
from decimal import Decimal
literals = [
 "42", "42.0", "4.2e1", "420E-1", "-7", "-7e0", "0", "-0", "-0.0", "0.0e5",
 "1e19", "1E+2", "100e-2", "9007199254740993", "9007199254740993.0",
 "18446744073709551615", "1.8446744073709551615e19", "-9223372036854775808",
 "-9.223372036854775808e18", "9223372036854775807", "9223372036854775808",
 "12345678901234567890e-1",
 "1.5", "-0.5", "2e19", "1e300", "1e-400", "1.0000000000000000001",
 "18446744073709551616", "18446744073709551615.5", "-9223372036854775809",
 "9223372036854775807.5", "9223372036854775808.5", "-9223372036854775807.5",
 "-9223372036854775808.5", "9.999999999999999999e18", "9.9999999999999999995e18",
]
def canonical(literal):
    d = Decimal(literal)
    if d != d.to_integral_value() or not (-2**63 <= d < 2**64):
        return None
    return str(int(d))
numbers = []
for literal in literals:
    text = canonical(literal)
    h = None if text is None else mmh3.hash(("numbers:" + text).encode("utf-8"), 0, signed=False)
    numbers.append({"literal": literal, "text": text, "bucket": None if h is None else h % 10000})
lines = ['{', '  "description": "Numeric stickiness: the text hashed for a JSON number literal (null: none, the caller is not bucketed) and its bucket with salt \'numbers\'. Exact decimal arithmetic and Python mmh3, independent of the Rust code. Never edit an entry.",', '  "vectors": [']
lines.append(',\n'.join('    ' + json.dumps(v) for v in numbers))
lines.append('  ]\n}\n')
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "numbers.json"), "w") as f:
    f.write('\n'.join(lines))
print(len(numbers), "number vectors")
