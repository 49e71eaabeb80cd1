"""The OpenFeature Python SDK with the OFREP provider against Switchboard (../protocol.md)."""

import json
import os
import sys
import time

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

base_url, cases_path, results_path = sys.argv[1:4]
key = os.environ["OFREP_KEY"]
with open(cases_path, encoding="utf-8") as f:
    cases = json.load(f)
api.set_provider(OFREPProvider(base_url, headers_factory=lambda: {"X-API-Key": key}))
client = api.get_client()

getters = {
    "boolean": client.get_boolean_details,
    "string": client.get_string_details,
    # Our number flags serve integers; the SDK types them exactly.
    "number": client.get_integer_details,
    "object": client.get_object_details,
}


def name(enum_or_str):
    if enum_or_str is None:
        return None
    return getattr(enum_or_str, "value", enum_or_str)


def context_of(flat):
    attributes = {k: v for k, v in flat.items() if k != "targetingKey"}
    return EvaluationContext(targeting_key=flat.get("targetingKey"), attributes=attributes)


def details(flag, flat):
    d = getters[flag["type"]](flag["key"], flag["default"], context_of(flat))
    return {
        "value": d.value,
        "variant": d.variant,
        "reason": name(d.reason),
        "errorCode": name(d.error_code),
    }


def evaluate_all(flat):
    return [details(flag, flat) for flag in cases["flags"]]


results = [evaluate_all(context) for context in cases["contexts"]]
with open(results_path, "w", encoding="utf-8") as f:
    json.dump(results, f)
print("evaluated", flush=True)


def until(check):
    start = time.monotonic()
    while True:
        answer, done = check()
        elapsed = int((time.monotonic() - start) * 1000)
        if done or elapsed > 15000:
            return answer, elapsed
        time.sleep(0.05)


sys.stdin.readline()
flip, ms = until(lambda: (lambda d: (d, d["reason"] == "DISABLED"))(details(cases["flags"][0], cases["probe"])))
print(json.dumps({"flip": flip, "ms": ms}), flush=True)
sys.stdin.readline()
kill, ms = until(lambda: (lambda ds: (ds, all(d["reason"] == "DISABLED" for d in ds)))(evaluate_all(cases["probe"])))
print(json.dumps({"kill": kill, "ms": ms}), flush=True)
