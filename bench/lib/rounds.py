"""Alternating rounds of wrk against several servers, reported as same-run ratios.

    python3 bench/lib/rounds.py PLAN.json

PLAN.json: {"rounds": 3, "duration": "8s", "connections": 64, "load_cpu": 0,
            "servers": [{"name": "Edge", "pid": 123}, ...],          # in column order
            "scenarios": [{"name": "304", "runs": {"Edge": [wrk args...], ...}}, ...]}

Each round runs every scenario against every server in turn (A B C A B C ...), so the machine's
drift hits all of them alike; a server a scenario has no run for is shown as "-". For each run it
reads the server's CPU time from /proc, so besides req/s it reports the server's CPU per request,
which moves less with other processes' load than throughput does. Prints per scenario the median
req/s and µs CPU/req of each server, then every ratio between servers as the median of the
per-round ratios (a ratio is only taken within one round).
"""
import json
import os
import re
import statistics
import subprocess
import sys

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; after the ")" they are the 12th and 13th.
    return (int(fields[11]) + int(fields[12])) / TICKS


def busy_seconds():
    with open("/proc/stat") as f:
        user, nice, system = (int(x) for x in f.readline().split()[1:4])
    return (user + nice + system) / TICKS


def run(plan, server, args):
    cpu0, busy0 = cpu_seconds(server["pid"]), busy_seconds()
    out = subprocess.run(
        ["taskset", "-c", str(plan["load_cpu"]), "wrk", "-t1", f"-c{plan['connections']}",
         f"-d{plan['duration']}", *args],
        check=True, capture_output=True, text=True).stdout
    server_cpu = cpu_seconds(server["pid"]) - cpu0
    busy = busy_seconds() - busy0
    if "Non-2xx or 3xx" in out:
        sys.exit(f"{server['name']}: errors during the run\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "cpu_us": 1e6 * server_cpu / max(requests, 1), "busy": busy}


def main():
    plan = json.load(open(sys.argv[1]))
    names = [s["name"] for s in plan["servers"]]
    results = {sc["name"]: {n: [] for n in names} for sc in plan["scenarios"]}
    for round_no in range(1, plan["rounds"] + 1):
        for scenario in plan["scenarios"]:
            for server in plan["servers"]:
                args = scenario["runs"].get(server["name"])
                if args is None:
                    continue
                r = run(plan, server, args)
                results[scenario["name"]][server["name"]].append(r)
                print(f"  round {round_no} {scenario['name']:<28} {server['name']:<12}"
                      f" {r['rps']:>10.0f} req/s {r['cpu_us']:>8.1f} µs CPU/req", file=sys.stderr)

    def med(xs):
        return statistics.median(xs) if xs else None

    sys.stderr.flush()
    print(f"\nmedians of {plan['rounds']} alternating rounds of {plan['duration']}, "
          f"wrk -t1 -c{plan['connections']} on CPU {plan['load_cpu']}; req/s (µs of server CPU per request)")
    header = f"{'scenario':<30}" + "".join(f"{n:>24}" for n in names)
    print(header)
    for scenario in plan["scenarios"]:
        row = f"{scenario['name']:<30}"
        for n in names:
            rs = results[scenario["name"]][n]
            row += f"{'-':>24}" if not rs else f"{med([r['rps'] for r in rs]):>14,.0f} ({med([r['cpu_us'] for r in rs]):>6.1f})"
        print(row)
    sys.stderr.flush()
    print("\nsame-run ratios (median over rounds of the round's ratio): req/s, and CPU per request")
    for scenario in plan["scenarios"]:
        data = results[scenario["name"]]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pairs = list(zip(data[a], data[b]))
                if not pairs:
                    continue
                rps = med([x["rps"] / y["rps"] for x, y in pairs])
                cpu = med([x["cpu_us"] / y["cpu_us"] for x, y in pairs])
                print(f"  {scenario['name']:<30} {a} ÷ {b}: req/s {rps:6.2f}×,"
                      f" CPU per request {cpu:6.2f}×")
    json.dump(results, open(plan.get("results", os.devnull), "w"), indent=1)


if __name__ == "__main__":
    main()
