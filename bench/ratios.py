#!/usr/bin/env python3
"""The ratio table of one benchmark run: the runtime against Platformatic DB (and pgbench),
per database and scenario, with the raw medians beside the ratios and the issue's targets.

  ratios.py RESULTS_DIR      (reads runs.tsv, server.tsv and fanout.tsv; prints Markdown)
"""
import csv
import os
import statistics as st
import sys
from collections import defaultdict

SCENARIOS = ["get-by-id", "list", "filtered", "graphql", "insert"]
# scenario -> (must on SQLite, must on PostgreSQL) as (kind, factor): x = times Platformatic,
# pgbench = share of pgbench's transactions/s.
MUST = {
    "get-by-id": (("x", 4), ("x", 3)),
    "list": (("x", 4), ("x", 4)),
    "filtered": (("x", 3), ("pgbench", 0.9)),
    "graphql": (("x", 4), ("x", 4)),
    "insert": (("x", 3), ("x", 3)),
}
# The authenticated scenarios (bench/auth.sh): at least this share of the open req/s.
AUTH_SCENARIOS = ["get-by-id", "graphql"]
AUTH_SHARE = 0.85
# Metrics and request ids on (the defaults) against both off (the -bare targets).
BARE_SCENARIOS = ["get-by-id", "list"]
BARE_SHARE = 0.95
# Change capture on (the -events targets, insert alone like the -noevents ones, so both run on
# a database of the same size) against off (the -noevents targets).
EVENTS_SCENARIOS = ["insert"]
EVENTS_SHARE = 0.80
# Fan-out (bench/fanout.sh): p99 of the delay from an insert's answer to its event's arrival at
# each subscriber, and no event missing or duplicated.
FANOUT_P99_MS = 250
# Across processes (the -fanout-cross rows: subscribers on a second runtime process over the
# same database): the median delay.
CROSS_MEDIAN_MS = 100
# p99 at most this share of Platformatic's, in every scenario.
P99_SHARE = 1 / 3
# The runtime's own limits: start-up to the first answer, and peak RSS.
STARTUP_MS = 100
PEAK_RSS_MIB = 40


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def medians(runs):
    by = defaultdict(list)
    for r in runs:
        by[(r["label"], r["scenario"])].append(r)
    out = {}
    for key, rs in by.items():
        out[key] = {
            "rps": st.median(float(r["rps"]) for r in rs),
            "p99": st.median(float(r["p99_ms"]) for r in rs),
            "errors": sum(int(float(r["errors"] or 0)) for r in rs),
        }
    return out


def verdict(kind, factor, ours, peer, pgbench):
    if ours is None:
        return "-", "not run"
    if kind == "x":
        if peer is None:
            return "-", "no peer run"
        ratio = ours["rps"] / peer["rps"]
        return f"{ratio:.1f}x", "met" if ratio >= factor else f"missed (needs {factor}x)"
    if pgbench is None:
        return "-", "no pgbench run"
    share = ours["rps"] / pgbench["rps"]
    return f"{share:.0%} of pgbench", "met" if share >= factor else f"missed (needs {factor:.0%})"


def p99_verdict(ours, peer):
    if ours is None or peer is None:
        return "-"
    text = f"{ours['p99']:.2f} / {peer['p99']:.2f}"
    limit = peer["p99"] * P99_SHARE
    return text if ours["p99"] <= limit else f"**{text}** (needs <= {limit:.2f})"


def server_verdict(label, start, peak):
    if not label.startswith("runtime-"):
        return "-"
    missed = []
    if start > STARTUP_MS:
        missed.append(f"start-up needs <= {STARTUP_MS} ms")
    if peak > PEAK_RSS_MIB:
        missed.append(f"peak RSS needs <= {PEAK_RSS_MIB} MiB")
    return "; ".join(missed) or "met"


def share_table(med, suffix, scenarios, need, measured_first, header, plain_suffix=""):
    """The req/s of the runtime-<db><suffix> targets beside the runtime-<db><plain_suffix>
    ones: `measured_first`, the suffixed target is the one held to `need` of the other (auth);
    otherwise the plain one is held to `need` of the suffixed (the instruments-off baseline)."""
    rows_out = []
    for db, label in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
        for s in scenarios:
            variant = med.get((f"runtime-{label}{suffix}", s))
            plain = med.get((f"runtime-{label}{plain_suffix}", s))
            if variant is None or plain is None:
                continue
            ours, base = (variant, plain) if measured_first else (plain, variant)
            share = ours["rps"] / base["rps"]
            met = "met" if share >= need else f"missed (needs {need:.0%})"
            extra = f" {ours['p99']:.2f} | {ours['errors']} |" if measured_first else ""
            rows_out.append(f"| {db} | {s} | {ours['rps']:,.0f} | {base['rps']:,.0f} | {share:.0%} | {met} |{extra}")
    if rows_out:
        print("\n" + header)
        print("|" + "---|" * (header.count("|") - 1))
        print("\n".join(rows_out))


def fanout_table(runs):
    """Per fan-out target, medians over repetitions of the delays and the insert rate; the
    counts of events amiss summed over them (any one is a miss)."""
    by = defaultdict(list)
    for r in runs:
        by[r["label"]].append(r)
    if not by:
        return
    print("\n| fan-out | subscribers | inserts/s | delay median ms | p90 ms | p99 ms | max ms "
          "| missing | duplicates | other amiss | must |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, rs in by.items():
        m = lambda key: st.median(float(r[key]) for r in rs)
        total = lambda *keys: sum(int(r[k]) for r in rs for k in keys)
        missing, duplicates = total("missing"), total("duplicates")
        # Events out of order, malformed or of no insert of the run, streams the server ended
        # early, and failed inserts.
        amiss = total("out_of_order", "malformed", "unexpected", "closed", "insert_errors")
        missed = []
        if m("p99_ms") >= FANOUT_P99_MS:
            missed.append(f"p99 needs < {FANOUT_P99_MS} ms")
        if label.endswith("-cross") and m("p50_ms") >= CROSS_MEDIAN_MS:
            missed.append(f"median needs < {CROSS_MEDIAN_MS} ms")
        if missing or duplicates or amiss:
            missed.append("needs every event once")
        print(f"| {label} | {rs[0]['subscribers']} | {m('rate'):,.0f} | {m('p50_ms'):.2f} "
              f"| {m('p90_ms'):.2f} | {m('p99_ms'):.2f} | {max(float(r['max_ms']) for r in rs):.2f} "
              f"| {missing} | {duplicates} | {amiss} | {'; '.join(missed) or 'met'} |")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    med = medians(rows(os.path.join(d, "runs.tsv")))
    print("| database | scenario | runtime req/s | Platformatic req/s | pgbench TPS | ratio | must | p99 runtime / Platformatic ms | errors |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|")
    for db, label, index in (("SQLite", "sqlite", 0), ("PostgreSQL", "pg", 1)):
        for s in SCENARIOS:
            ours = med.get((f"runtime-{label}", s))
            peer = med.get((f"platformatic-{label}", s))
            pgb = med.get(("pgbench", s))
            kind, factor = MUST[s][index]
            ratio, met = verdict(kind, factor, ours, peer, pgb)
            fmt = lambda m: f"{m['rps']:,.0f}" if m else "-"
            p99 = p99_verdict(ours, peer)
            errors = ours["errors"] if ours else "-"
            print(f"| {db} | {s} | {fmt(ours)} | {fmt(peer)} | {fmt(pgb) if label == 'pg' else '-'} | {ratio} | {met} | {p99} | {errors} |")
    share_table(
        med, "-auth", AUTH_SCENARIOS, AUTH_SHARE, True,
        "| database | scenario (customer token) | auth req/s | open req/s | share | must | p99 ms | errors |",
    )
    share_table(
        med, "-bare", BARE_SCENARIOS, BARE_SHARE, False,
        "| database | scenario | metrics + request ids req/s | both off req/s | share | must |",
    )
    share_table(
        med, "-noevents", EVENTS_SCENARIOS, EVENTS_SHARE, False,
        "| database | scenario | events on req/s | events off req/s | share | must |",
        plain_suffix="-events",
    )
    fanout_table(rows(os.path.join(d, "fanout.tsv")))
    server = defaultdict(list)
    for r in rows(os.path.join(d, "server.tsv")):
        server[r["label"]].append(r)
    if server:
        print("\n| server | start-up ms (median) | idle RSS MiB (median) | peak RSS MiB (max) | targets |")
        print("|---|---:|---:|---:|---|")
        for label, rs in server.items():
            start = st.median(float(r["startup_ms"]) for r in rs)
            idle = st.median(float(r["idle_rss_kib"]) for r in rs) / 1024
            peak = max(float(r["peak_rss_kib"]) for r in rs) / 1024
            targets = server_verdict(label, start, peak)
            print(f"| {label} | {start:,.0f} | {idle:.1f} | {peak:.1f} | {targets} |")


if __name__ == "__main__":
    main()
