"""Write a synthetic training input for train.py: scores.jsonl and labels.jsonl.

The rows imitate what the scorer logs for the "address_activity" feature set, version 1
(see models/train/README.md for the format): each line of scores.jsonl is a
weir.risk.v1.RiskScore in the proto3 JSON mapping with the served features, each line of
labels.jsonl a weir.risk.v1.RiskLabel. Addresses behave like the traffic and the fraud
patterns of bench/chaingen:

  normal        ordinary senders and receivers, a few of them investigated and labelled
                FRAUD_PATTERN_LEGITIMATE
  busy          legitimate hot wallets (exchanges, payment processors): high velocity, many
                new counterparties, high pass-through; some labelled LEGITIMATE
  takeover      a burst of transfers to 3 fresh addresses over a few blocks
  drain         6 to 12 transfers to fresh addresses within a minute
  structuring   3 to 6 transfers just under the reporting threshold
  round_trip    A->B->C->A: what comes in goes out again at once (money mule)
  sanctioned    transfers with a sanctioned address
  quiet fraud   fraud-labelled addresses whose scored events look ordinary (label noise)

Some entities get a fraud label that a later LEGITIMATE label supersedes. A few features
are left out of some vectors (missing), as a feature store may. Event times spread over
30 days, patterns uniformly, so a time-based split sees every pattern on both sides.

  python models/train/synthetic.py --out DIR [--entities 6000] [--seed 20261125]

The output depends only on the arguments and numpy's generator (PCG64).
"""

import argparse
import hashlib
import json
import os

import numpy as np

FEATURE_SET = "address_activity"
FEATURE_SET_VERSION = 1
CHAIN_ID = 1337
ETH = 10**18
START = 1_790_000_000  # 2026-09-21T...Z, seconds since the epoch
SPAN = 30 * 86400

COUNTS = [
    "transfers_out_count_1m", "transfers_out_count_1h", "transfers_out_count_24h", "transfers_out_count_7d",
    "transfers_in_count_1m", "transfers_in_count_1h", "transfers_in_count_24h", "transfers_in_count_7d",
    "distinct_counterparties_out_1h", "distinct_counterparties_out_24h",
    "seconds_since_last_out", "seconds_since_last_in", "new_counterparty",
    "near_threshold_out_count_24h", "sanctioned_counterparty", "sanctioned_exposure_count_7d",
]
RATIOS = ["amount_zscore", "new_counterparty_out_ratio_1h", "in_out_ratio_24h", "passthrough_ratio_1h"]
MONEY = ["value_out_sum_1h", "value_out_sum_24h", "value_in_sum_1h", "value_in_sum_24h"]
FEATURES = COUNTS + RATIOS + MONEY

PATTERN_LABEL = {
    "takeover": "FRAUD_PATTERN_ACCOUNT_TAKEOVER",
    "drain": "FRAUD_PATTERN_ACCOUNT_TAKEOVER",
    "structuring": "FRAUD_PATTERN_STRUCTURING",
    "round_trip": "FRAUD_PATTERN_MONEY_MULE",
    "sanctioned": "FRAUD_PATTERN_SANCTIONED_COUNTERPARTY",
    "quiet": "FRAUD_PATTERN_PHISHING",
}


def hexid(*parts):
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()


def rfc3339(sec, nanos):
    import datetime
    t = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        return f"{t}.{nanos:09d}Z"
    return t + "Z"


def wei(rng, eth_mean, sigma):
    """A positive amount in wei, lognormal around eth_mean ETH."""
    return int(rng.lognormal(np.log(eth_mean), sigma) * 1e6) * 10**12 + int(rng.integers(0, 10**12))


class Row:
    def __init__(self):
        self.f = {}

    def count(self, name, v):
        self.f[name] = ("fixed", int(v), 0)

    def ratio(self, name, v):
        # Producers truncate toward zero to scale 6 (risk.proto, Fixed).
        self.f[name] = ("fixed", int(v * 1_000_000), 6)

    def money(self, name, units):
        self.f[name] = ("units", int(units), "ETH")


def ordinary(rng, r, busy=False):
    """Features of an ordinary address; busy ones look like hot wallets."""
    a = rng.gamma(1.2, 3.0) * (40 if busy else 1)
    out7 = int(rng.poisson(a * 6))
    in7 = int(rng.poisson(a * 5))
    out24 = int(rng.binomial(out7, 0.2))
    in24 = int(rng.binomial(in7, 0.2))
    out1h = int(rng.binomial(out24, 0.12))
    in1h = int(rng.binomial(in24, 0.12))
    out1m = int(rng.binomial(out1h, 0.05 if not busy else 0.15))
    in1m = int(rng.binomial(in1h, 0.05))
    for n, v in zip(COUNTS[:8], [out1m, out1h, out24, out7, in1m, in1h, in24, in7]):
        r.count(n, v)
    r.count("distinct_counterparties_out_1h", min(out1h, 1 + int(rng.poisson(out1h * (0.8 if busy else 0.5)))) if out1h else 0)
    r.count("distinct_counterparties_out_24h", min(out24, 1 + int(rng.poisson(out24 * (0.8 if busy else 0.4)))) if out24 else 0)
    r.count("seconds_since_last_out", int(rng.exponential(600 if busy else 30000)) if out7 else -1)
    r.count("seconds_since_last_in", int(rng.exponential(600 if busy else 40000)) if in7 else -1)
    r.count("new_counterparty", int(rng.random() < (0.5 if busy else 0.15)))
    r.count("near_threshold_out_count_24h", int(rng.poisson(0.8 if busy else 0.05)))
    r.count("sanctioned_counterparty", 0)
    r.count("sanctioned_exposure_count_7d", int(rng.random() < 0.002))
    r.ratio("amount_zscore", float(np.clip(rng.normal(0, 1), -4, 6)))
    r.ratio("new_counterparty_out_ratio_1h", float(rng.beta(4, 3) if busy else rng.beta(1, 5)) if out1h else 0)
    ticket = 2.0 if busy else rng.lognormal(-1, 1.2)
    r.money("value_out_sum_1h", sum(wei(rng, ticket, 1.0) for _ in range(min(out1h, 30))))
    r.money("value_out_sum_24h", sum(wei(rng, ticket, 1.0) for _ in range(min(out24, 60))))
    r.money("value_in_sum_1h", sum(wei(rng, ticket, 1.0) for _ in range(min(in1h, 30))))
    r.money("value_in_sum_24h", sum(wei(rng, ticket, 1.0) for _ in range(min(in24, 60))))
    if out7 + in7 < 3:  # fewer than 3 earlier events: features/ gives 0
        r.ratio("amount_zscore", 0)
    derived(r)


def derived(r):
    """The features features/ derives from others: in_out_ratio_24h is the incoming count
    over the outgoing count (the incoming count with none out), passthrough_ratio_1h is
    min/max of the value sums in and out in 1h (0 when either is 0)."""
    n_in, n_out = r.f["transfers_in_count_24h"][1], r.f["transfers_out_count_24h"][1]
    r.f["in_out_ratio_24h"] = ("fixed", n_in * 1_000_000 // n_out if n_out else n_in * 1_000_000, 6)
    v_in, v_out = r.f["value_in_sum_1h"][1], r.f["value_out_sum_1h"][1]
    r.f["passthrough_ratio_1h"] = ("fixed", min(v_in, v_out) * 1_000_000 // max(v_in, v_out) if v_in and v_out else 0, 6)


def attack(rng, r, kind, step):
    """Overwrite the features of an ordinary row with what pattern kind leaves at step."""
    if kind == "takeover":
        n = 4 * (step + 1) + int(rng.integers(0, 2))
        r.count("transfers_out_count_1m", int(rng.integers(0, 5)))
        for w in ("1h", "24h", "7d"):
            r.count("transfers_out_count_" + w, n + r.f["transfers_out_count_" + w][1] // 4)
        r.count("distinct_counterparties_out_1h", 3)
        r.count("new_counterparty", int(step == 0 or rng.random() < 0.3))
        r.ratio("new_counterparty_out_ratio_1h", float(rng.uniform(0.5, 1.0)))
        r.ratio("amount_zscore", float(rng.uniform(0.5, 5)))
        r.count("seconds_since_last_out", int(rng.integers(1, 30)))
        r.money("value_out_sum_1h", sum(wei(rng, 3, 1.0) for _ in range(n)))
    elif kind == "drain":
        n = int(rng.integers(6, 13))
        r.count("transfers_out_count_1m", n)
        r.count("transfers_out_count_1h", n + int(rng.poisson(0.5)))
        r.count("transfers_out_count_24h", n + r.f["transfers_out_count_24h"][1])
        r.count("transfers_out_count_7d", n + r.f["transfers_out_count_7d"][1])
        r.count("distinct_counterparties_out_1h", n)
        r.count("new_counterparty", 1)
        r.ratio("new_counterparty_out_ratio_1h", float(rng.uniform(0.85, 1.0)))
        r.ratio("amount_zscore", float(rng.uniform(-1, 3)))
        r.count("seconds_since_last_out", int(rng.integers(0, 3)))
        r.money("value_out_sum_1h", sum(wei(rng, 1, 0.5) for _ in range(n)))
    elif kind == "structuring":
        k = min(step + 1 + int(rng.integers(0, 3)), 6)
        r.count("near_threshold_out_count_24h", k)
        r.count("transfers_out_count_24h", max(k, r.f["transfers_out_count_24h"][1]))
        r.ratio("amount_zscore", float(rng.uniform(1, 4)))
        r.money("value_out_sum_24h", k * 9_900 * ETH + int(rng.integers(0, 100)) * ETH)
    elif kind == "round_trip":
        # A hop: one transfer in and (at the second step) the same amount less a cut out.
        extra = int(rng.poisson(0.3))
        r.count("transfers_in_count_1h", 1)
        r.count("transfers_out_count_1h", 1 if step else 0)
        r.count("transfers_in_count_24h", 1 + extra)
        r.count("transfers_out_count_24h", (1 if step else 0) + extra)
        r.count("seconds_since_last_in", int(rng.integers(5, 120)))
        r.count("seconds_since_last_out", 0 if step else -1)
        amount = wei(rng, 50, 1.0)
        r.money("value_in_sum_1h", amount)
        r.money("value_out_sum_1h", amount * int(rng.integers(9_800, 9_990)) // 10_000 if step else 0)
    elif kind == "sanctioned":
        if rng.random() < 0.6:
            r.count("sanctioned_counterparty", 1)
        r.count("sanctioned_exposure_count_7d", 1 + int(rng.poisson(0.5)))


def pattern_row(rng, r, kind, step):
    attack(rng, r, kind, step)
    derived(r)


def generate(rng, entities):
    scores, labels = [], []
    kinds = ["normal"] * 80 + ["busy"] * 6 + ["takeover"] * 3 + ["drain"] * 3 + ["structuring"] * 3 \
        + ["round_trip"] * 3 + ["sanctioned"] * 1 + ["quiet"] * 1
    for e in range(entities):
        kind = kinds[int(rng.integers(0, len(kinds)))]
        addr = "0x" + hexid("addr", e)[:40]
        entity = f"{CHAIN_ID}:{addr}"
        t = START + int(rng.integers(0, SPAN))
        fraud = kind in PATTERN_LABEL
        n = int(rng.integers(1, 4)) if fraud else int(rng.integers(1, 7))
        for i in range(n):
            r = Row()
            ordinary(rng, r, busy=(kind == "busy"))
            if fraud and kind != "quiet" and (i > 0 or rng.random() < 0.85):
                pattern_row(rng, r, kind, i)
            t += int(rng.exponential(20 if fraud else 20000)) + 1
            nanos = int(rng.integers(0, 1000)) * 1_000_000
            scores.append(score_record(rng, entity, e, i, t, nanos, r))
        label_time = t + int(rng.integers(3600, 7 * 86400))
        if fraud:
            labels.append(label_record(entity, e, 0, PATTERN_LABEL[kind], label_time))
            if rng.random() < 0.03:  # a false alarm, superseded by an investigation
                labels.append(label_record(entity, e, 1, "FRAUD_PATTERN_LEGITIMATE", label_time + 86400))
        elif rng.random() < (0.3 if kind == "busy" else 0.02):
            labels.append(label_record(entity, e, 0, "FRAUD_PATTERN_LEGITIMATE", label_time))
    return scores, labels


def feature_json(rng, name, f):
    """One Feature in the proto3 JSON mapping: int64 as a string, zero fields left out."""
    out = {"name": name}
    if f[0] == "units":
        out["units"] = str(f[1])
        out["asset"] = f[2]
        return out
    fixed = {}
    if f[1]:
        fixed["value"] = str(f[1])
    if f[2]:
        fixed["scale"] = f[2]
    out["fixed"] = fixed
    return out


def score_record(rng, entity, e, i, t, nanos, r):
    subject = hexid("transfer", e, i)
    features = []
    for name in FEATURES:
        if name in r.f and rng.random() >= 0.02:  # about 2% of values missing
            features.append(feature_json(rng, name, r.f[name]))
    fv_id = hexid("weir.risk.v1.FeatureVector", FEATURE_SET, FEATURE_SET_VERSION, subject)
    return {
        "meta": {"eventId": hexid("weir.risk.v1.RiskScore", "synthetic", subject), "eventTime": rfc3339(t, nanos),
                 "source": "models/train:synthetic"},
        "entityType": "ENTITY_TYPE_ADDRESS",
        "entityId": entity,
        "subjectEventId": subject,
        "featureVectorEventId": fv_id,
        "modelId": "synthetic",
        "modelVersion": "0",
        "decision": "DECISION_ALLOW",
        "features": features,
        "featureSet": FEATURE_SET,
        "featureSetVersion": FEATURE_SET_VERSION,
        "sanctionsListVersion": "synthetic:2026-09-01",
    }


def label_record(entity, e, k, pattern, t):
    label_id = f"synthetic:{e}:{k}"
    return {
        "meta": {"eventId": hexid("weir.risk.v1.RiskLabel", label_id), "eventTime": rfc3339(t, 0),
                 "source": "models/train:synthetic"},
        "labelId": label_id,
        "entityType": "ENTITY_TYPE_ADDRESS",
        "entityId": entity,
        "pattern": pattern,
        "source": "LABEL_SOURCE_ANALYST",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory to write scores.jsonl and labels.jsonl into")
    ap.add_argument("--entities", type=int, default=6000, help="addresses to simulate (default 6000)")
    ap.add_argument("--seed", type=int, default=20261125, help="random seed (default 20261125)")
    args = ap.parse_args()
    rng = np.random.Generator(np.random.PCG64(args.seed))
    scores, labels = generate(rng, args.entities)
    os.makedirs(args.out, exist_ok=True)
    for name, recs in (("scores.jsonl", scores), ("labels.jsonl", labels)):
        with open(os.path.join(args.out, name), "w") as f:
            for rec in recs:
                f.write(json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n")
    print(json.dumps({"scores": len(scores), "labels": len(labels), "out": args.out}))


if __name__ == "__main__":
    main()
