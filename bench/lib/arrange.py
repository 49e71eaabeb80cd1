"""Arranges the benchmarks' SDK environment through the API of a running Switchboard.

    python3 bench/lib/arrange.py BASE ADMIN_TOKEN FLAGS WORK

Creates a project, an environment, two segments and FLAGS flags (a seeded mix: boolean rollouts
with 0-3 rules, 4-way string splits, 3-way number splits, 2-way JSON splits), issues an SDK token
(`flags:read`, one project, one environment) and writes the load generator's inputs into WORK:
`token`, `evaluate.json` (one context) and `evaluate.lua` (wrk's POST of it).
Shared by `snapshot-load.sh` and `versus-edge.sh`, so both measure the same environment.
"""
import json, random, sys, urllib.request

base, admin, count, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = random.Random(42)

def call(method, path, body=None, token=admin):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as response:
        return json.loads(response.read() or b"null")

call("POST", "/v1/projects", {"name": "bench"})
call("POST", "/v1/projects/bench/environments", {"name": "production"})
for name, condition in [
    ("beta", {"attribute": "email", "op": "ends_with", "values": ["@beta.dev"]}),
    ("eu", {"attribute": "country", "op": "in", "values": ["FR", "DE", "IT", "ES"]}),
]:
    call("POST", "/v1/projects/bench/segments", {"name": name, "conditions": [condition]})

def split(keys):
    cuts = sorted(rng.randrange(10001) for _ in keys[1:]) + [10000]
    weights, previous = [], 0
    for cut in cuts:
        weights.append(cut - previous)
        previous = cut
    return {"split": [{"variant": k, "weight": w} for k, w in zip(keys, weights)]}

CONDITIONS = [
    {"attribute": "plan", "op": "in", "values": ["pro", "team"]},
    {"attribute": "country", "op": "not_in", "values": ["US"]},
    {"attribute": "age", "op": "gte", "values": [18]},
    {"attribute": "app_version", "op": "semver_gte", "values": ["2.3.0"]},
    {"attribute": "email", "op": "ends_with", "values": ["@switchboard.dev"]},
    {"attribute": "signup", "op": "after", "values": ["2024-01-01T00:00:00Z"]},
    {"op": "in_segment", "values": ["beta"]},
    {"op": "not_in_segment", "values": ["eu"]},
]

for i in range(count):
    kind = i % 5
    key = f"flag-{i:03d}"
    if kind in (0, 1):
        definition = {"key": key, "type": "boolean", "description": "a rollout with rules"}
        variants = ["on", "off"]
    elif kind == 2:
        variants = ["control", "blue", "green", "orange"]
        definition = {"key": key, "type": "string",
                      "variants": [{"key": v, "value": f"theme-{v}"} for v in variants]}
    elif kind == 3:
        variants = ["low", "mid", "high"]
        definition = {"key": key, "type": "number",
                      "variants": [{"key": v, "value": n} for v, n in zip(variants, [10, 50, 250])]}
    else:
        variants = ["a", "b"]
        definition = {"key": key, "type": "json",
                      "variants": [{"key": v, "value": {"layout": v, "columns": n, "tags": ["x", "y"]}}
                                   for v, n in zip(variants, [2, 3])]}
    call("POST", "/v1/projects/bench/flags", definition)
    rules = [{"conditions": rng.sample(CONDITIONS, rng.randint(1, 2)),
              "serve": rng.choice([{"variant": rng.choice(variants)}, split(variants)])}
             for _ in range(rng.randint(0, 3))]
    state = {"enabled": rng.random() < 0.9, "rules": rules,
             "default_serve": split(variants), "off_variant": variants[-1]}
    call("PUT", f"/v1/projects/bench/environments/production/flags/{key}", state)

token = call("POST", "/v1/tokens", {"name": "bench-sdk", "scopes": ["flags:read"],
                                    "projects": ["bench"], "environments": ["production"]})["token"]
context = {"targeting_key": "user-4217", "attributes": {
    "plan": "pro", "country": "FR", "age": 34, "app_version": "2.4.1",
    "email": "someone@example.com", "signup": "2024-05-02T10:00:00Z"}}
body = json.dumps({"context": context})
open(f"{work}/token", "w").write(token)
open(f"{work}/evaluate.json", "w").write(body)
open(f"{work}/evaluate.lua", "w").write(
    'wrk.method = "POST"\n'
    f'wrk.body = {json.dumps(body)}\n'
    'wrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.headers["Authorization"] = "Bearer {token}"\n')
