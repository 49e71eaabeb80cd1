"""Regenerates 03-rollout.json with an independent murmur3 (pip install mmh3).

Only for adding cases: an existing expectation must never change."""
import json, os

import mmh3
def bucket(salt, v): return mmh3.hash((salt+":"+v).encode(), 0, signed=False) % 10000
def pick(arms, b):
    c = 0
    for k, w in arms:
        c += w
        if c > b: return k
flags = [
 {"key": "checkout-25", "type": "boolean",
  "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
  "state": {"enabled": True, "off_variant": "off",
            "default_serve": {"split": [{"variant": "on", "weight": 2500}, {"variant": "off", "weight": 7500}]}}},
 {"key": "button", "type": "string",
  "variants": [{"key": "a", "value": "green"}, {"key": "b", "value": "orange"}, {"key": "c", "value": "purple"}],
  "state": {"enabled": True, "off_variant": "a",
            "rules": [{"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}],
                       "serve": {"split": [{"variant": "b", "weight": 5000}, {"variant": "c", "weight": 5000}],
                                 "stickiness": "account", "salt": "button-pro"}}],
            "default_serve": {"split": [{"variant": "a", "weight": 3334}, {"variant": "b", "weight": 3333}, {"variant": "c", "weight": 3333}]}}},
]
vals = {"a": "green", "b": "orange", "c": "purple"}
tests = []
for i in range(12):
    uid = f"user-{i}"
    b = bucket("checkout-25", uid)
    v = pick([("on", 2500), ("off", 7500)], b)
    tests.append({"description": f"{uid} has bucket {b}", "flag": "checkout-25", "context": {"targeting_key": uid},
                  "expected": {"value": v == "on", "variant": v, "reason": "SPLIT"}})
for uid in ["alice", "bob", "carol", "dave", "😀", ""]:
    b = bucket("button", uid)
    v = pick([("a", 3334), ("b", 3333), ("c", 3333)], b)
    tests.append({"description": f"{uid!r} has bucket {b}", "flag": "button", "context": {"targeting_key": uid},
                  "expected": {"value": vals[v], "variant": v, "reason": "SPLIT"}})
for acct, text in [(42, "42"), ("42", "42"), (42.0, "42"), (7, "7"), (-3, "-3"), (True, "true")]:
    b = bucket("button-pro", text)
    v = pick([("b", 5000), ("c", 5000)], b)
    tests.append({"description": f"account {acct!r} hashes as {text!r}, bucket {b}", "flag": "button",
                  "context": {"targeting_key": "ignored", "attributes": {"plan": "pro", "account": acct}},
                  "expected": {"value": vals[v], "variant": v, "reason": "SPLIT"}})
for acct in [1.5, None, [1], {"id": 1}]:
    ctx = {"targeting_key": "ignored", "attributes": {"plan": "pro"}}
    if acct is not None: ctx["attributes"]["account"] = acct
    tests.append({"description": f"account {json.dumps(acct)} cannot be bucketed: off variant", "flag": "button",
                  "context": ctx,
                  "expected": {"value": "green", "variant": "a", "reason": "ERROR", "error_code": "TARGETING_KEY_MISSING"}})
doc = {"name": "Percentage rollouts (expected buckets computed with an independent murmur3)",
       "snapshot": {"format_version": 1, "project": "spec", "environment": "production", "revision": 3,
                    "flags": flags, "segments": [], "config": {"checkout.max_items": 20}},
       "tests": tests}
s = json.dumps(doc, ensure_ascii=False, indent=2)
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "03-rollout.json"), "w").write(s + "\n")
print(len(tests))
