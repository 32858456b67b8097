"""Train the fraud model from logged features and labels; see models/train/README.md.

Reads INPUT/scores.jsonl (weir.risk.v1.RiskScore, proto3 JSON, with the served features)
and INPUT/labels.jsonl (weir.risk.v1.RiskLabel), joins them by entity_id, splits by event
time (oldest 60% train, next 15% validation, newest 25% test), trains a LightGBM binary
classifier, chooses the threshold on validation and measures it on test. Writes to OUT:

  model.txt         the LightGBM text model (what models/gbdt loads)
  model.json        metadata: model_id, version (SHA-256 of model.txt), feature set, feature
                    names, assets, threshold_bp, training data hashes, split, metrics
  reference.jsonl   test rows with LightGBM's own probability and score_bp, which the Go
                    tests require models/score to reproduce

and prints the metrics as one JSON object on stdout.

  PY=$(models/train/venv.sh) && "$PY" models/train/train.py --input DIR --out DIR
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import sys

import lightgbm as lgb
import numpy as np

LEGITIMATE = {"FRAUD_PATTERN_LEGITIMATE", "1"}
UNSPECIFIED = {"FRAUD_PATTERN_UNSPECIFIED", "0", ""}

PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": 1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}


class InputError(Exception):
    pass


def get(rec, camel, snake, default=None):
    """A field of a proto3 JSON record under its JSON name or its proto name."""
    if camel in rec:
        return rec[camel]
    return rec.get(snake, default)


def read_jsonl(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: {e}") from None


def file_sha256(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_time(s):
    """RFC 3339 UTC ("2026-10-01T12:00:00.5Z") -> integer nanoseconds since the epoch."""
    import datetime
    if not isinstance(s, str) or not s.endswith("Z"):
        raise InputError(f"event time {s!r} is not RFC 3339 UTC")
    body = s[:-1]
    nanos = 0
    if "." in body:
        body, frac = body.split(".", 1)
        if not frac.isdigit() or len(frac) > 9:
            raise InputError(f"event time {s!r} has a bad fraction")
        nanos = int(frac.ljust(9, "0"))
    t = datetime.datetime.strptime(body, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + nanos


# POW10[d] is float64(10^d) rounded to nearest, as Go's strconv.ParseFloat("1e<d>") gives.
POW10 = [float(10**d) for d in range(78)]


def feature_value(f, assets):
    """The float64 the model sees for one Feature; models/score computes the same bits.

    fixed: float(value) / float(10**scale); units: float(units) / float(10**decimals[asset]).
    Each step is one IEEE-754 operation rounded to nearest-even, in Python as in Go."""
    name = f.get("name")
    if "units" in f:
        asset = f.get("asset", "")
        if asset not in assets:
            raise InputError(f"feature {name}: unknown asset {asset!r} (pass --asset {asset}=DECIMALS)")
        units = f["units"]
        if not isinstance(units, str) or not units.isdigit() or (len(units) > 1 and units[0] == "0"):
            raise InputError(f"feature {name}: units {units!r} is not a canonical decimal")
        return float(int(units)) / POW10[assets[asset]]
    fx = f.get("fixed")
    if fx is None:
        raise InputError(f"feature {name}: no value")
    value, scale = int(fx.get("value", 0)), int(fx.get("scale", 0))
    if scale > 18:
        raise InputError(f"feature {name}: scale {scale} over 18")
    return float(value) / POW10[scale]


def load(input_dir, feature_set, version):
    """Rows of logged features, deduplicated per feature vector, and the labels."""
    rows, seen = [], set()
    for rec in read_jsonl(os.path.join(input_dir, "scores.jsonl")):
        if get(rec, "featureSet", "feature_set") != feature_set:
            continue
        if int(get(rec, "featureSetVersion", "feature_set_version", 0)) != version:
            continue
        meta = rec.get("meta", {})
        key = get(rec, "featureVectorEventId", "feature_vector_event_id") or get(meta, "eventId", "event_id")
        if not key:
            raise InputError("a score without meta.event_id")
        if key in seen:  # several models scored one vector, or a replay
            continue
        seen.add(key)
        rows.append({
            "key": key,
            "time": parse_time(get(meta, "eventTime", "event_time")),
            "entity": get(rec, "entityId", "entity_id"),
            "subject": get(rec, "subjectEventId", "subject_event_id", ""),
            "features": rec.get("features", []),
        })
    # A later label for the same subject (entity, event) supersedes an earlier one.
    latest = {}
    for rec in read_jsonl(os.path.join(input_dir, "labels.jsonl")):
        meta = rec.get("meta", {})
        subj = (get(rec, "entityId", "entity_id"), get(rec, "subjectEventId", "subject_event_id", ""))
        t = (parse_time(get(meta, "eventTime", "event_time")), get(rec, "labelId", "label_id", ""))
        pattern = str(rec.get("pattern", ""))
        if pattern in UNSPECIFIED:
            raise InputError(f"label {t[1]!r} has no pattern")
        if subj not in latest or t > latest[subj][0]:
            latest[subj] = (t, pattern)
    fraud = {entity for (entity, _), (_, p) in latest.items() if p not in LEGITIMATE}
    return rows, fraud


def matrix(rows, names, assets):
    col = {n: i for i, n in enumerate(names)}
    x = np.full((len(rows), len(names)), np.nan)
    for i, r in enumerate(rows):
        for f in r["features"]:
            j = col.get(f.get("name"))
            if j is not None:
                x[i, j] = feature_value(f, assets)
    return x


def score_bp(p):
    """math.Round(p*10000) as Go computes it: halves away from zero."""
    v = p * 10000
    r = math.floor(v)
    return int(r + 1 if v - r >= 0.5 else r)


def metrics_at(y, bp, threshold):
    pred = bp >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn}


def pr_auc(y, p):
    """Average precision: the area under the precision-recall step curve."""
    pos = int(np.sum(y))
    if pos == 0:
        return 0.0
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    last = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1]  # last index of each distinct score
    precision = tp[last] / (tp[last] + fp[last])
    recall = tp[last] / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def choose_threshold(y, bp, target):
    """The lowest threshold_bp whose precision on (y, bp) reaches target (the most recall
    at that precision); without one, the threshold of the best F1."""
    best_f1, best = -1.0, 10000
    for t in sorted(set(int(v) for v in bp)):
        m = metrics_at(y, bp, t)
        if m["tp"] and m["precision"] >= target:
            return t, f"lowest threshold with validation precision >= {target}"
        f1 = 2 * m["precision"] * m["recall"] / (m["precision"] + m["recall"]) if m["tp"] else 0.0
        if f1 > best_f1:
            best_f1, best = f1, t
    return best, f"best validation F1 (no threshold reached precision {target})"


def extreme_rows(entity, names, money, assets):
    """Crafted rows at the edges of the value conversion: uint256 and int64 extremes,
    values beyond 2^53 that float64 must round, the largest scale and decimals."""
    units = ["115792089237316195423570985008687907853269984665640564039457584007913129639935",
             str(2**64 + 1), str(2**53 + 1), "999999999999999999", "1000000000000000000", "1", "0",
             "123456789012345678901234567890"]
    fixed = [(2**63 - 1, 0), (-(2**63), 6), (2**53 + 1, 18), (-(2**53) - 3, 3), (1, 18), (-1, 0), (0, 0),
             (999_999, 6), (1_000_001, 6), (12345678901234567, 9)]
    asset = sorted(assets)[0]
    rows = []
    for k in range(8):
        feats = []
        for j, name in enumerate(names):
            if name in money:
                feats.append({"name": name, "units": units[(j + k) % len(units)], "asset": asset})
            else:
                v, sc = fixed[(j * 3 + k) % len(fixed)]
                fx = {}
                if v:
                    fx["value"] = str(v)
                if sc:
                    fx["scale"] = sc
                feats.append({"name": name, "fixed": fx})
        rows.append({"entity_id": entity, "subject_event_id": f"crafted:extreme:{k}", "features": feats})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="directory holding scores.jsonl and labels.jsonl (or .gz)")
    ap.add_argument("--out", required=True, help="directory to write model.txt, model.json, reference.jsonl")
    ap.add_argument("--model-id", default="address_activity_gbm")
    ap.add_argument("--feature-set", default="address_activity")
    ap.add_argument("--feature-set-version", type=int, default=1)
    ap.add_argument("--asset", action="append", default=[], metavar="ASSET=DECIMALS",
                    help="an asset money features may be in, with its decimals (default ETH=18)")
    ap.add_argument("--target-precision", type=float, default=0.9)
    ap.add_argument("--rounds", type=int, default=400, help="most boosting rounds (early stopping on validation)")
    ap.add_argument("--reference-rows", type=int, default=200,
                    help="test rows to write to reference.jsonl, half of them positive where there are enough")
    ap.add_argument("--note", default="", help="a line for model.json, e.g. what the data is")
    args = ap.parse_args()

    assets = {}
    for a in args.asset or ["ETH=18"]:
        name, _, dec = a.rpartition("=")
        if not name or not dec.isdigit() or int(dec) > 77:
            raise InputError(f"--asset {a!r}: want ASSET=DECIMALS with DECIMALS <= 77")
        assets[name] = int(dec)

    rows, fraud = load(args.input, args.feature_set, args.feature_set_version)
    rows.sort(key=lambda r: (r["time"], r["key"]))
    names = sorted({f.get("name") for r in rows for f in r["features"]})
    money = sorted({f.get("name") for r in rows for f in r["features"] if "units" in f})
    both = set(money) & {f.get("name") for r in rows for f in r["features"] if "units" not in f}
    if both:
        raise InputError(f"features both money and fixed-point: {sorted(both)}")
    x = matrix(rows, names, assets)
    y = np.array([1.0 if r["entity"] in fraud else 0.0 for r in rows])
    if len(rows) < 100:
        raise InputError(f"{len(rows)} rows of {args.feature_set} v{args.feature_set_version}; need at least 100")

    n = len(rows)
    a, b = int(n * 0.60), int(n * 0.75)
    parts = {"train": slice(0, a), "validation": slice(a, b), "test": slice(b, n)}
    for part, s in parts.items():
        if not 0 < y[s].sum() < len(y[s]):
            raise InputError(f"the {part} split has only one class; need more labelled data")

    train = lgb.Dataset(x[parts["train"]], y[parts["train"]], feature_name=names, free_raw_data=False)
    valid = lgb.Dataset(x[parts["validation"]], y[parts["validation"]], reference=train)
    booster = lgb.train(PARAMS, train, num_boost_round=args.rounds, valid_sets=[valid],
                        callbacks=[lgb.early_stopping(30, verbose=False)])
    booster.best_iteration = booster.best_iteration or args.rounds

    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, "model.txt")
    booster.save_model(model_path, num_iteration=booster.best_iteration)
    model = lgb.Booster(model_file=model_path)  # score with exactly what was written

    prob = {k: model.predict(x[s]) for k, s in parts.items()}
    bp = {k: np.array([score_bp(p) for p in v]) for k, v in prob.items()}
    threshold, rule = choose_threshold(y[parts["validation"]], bp["validation"], args.target_precision)
    metrics = {}
    for k in ("validation", "test"):
        m = metrics_at(y[parts[k]], bp[k], threshold)
        m["pr_auc"] = pr_auc(y[parts[k]], prob[k])
        m["rows"] = int(len(y[parts[k]]))
        m["positives"] = int(y[parts[k]].sum())
        metrics[k] = m

    def when(i):
        return rows[min(i, n - 1)]["time"]

    with open(model_path, "rb") as f:
        version = hashlib.sha256(f.read()).hexdigest()
    meta = {
        "model_id": args.model_id,
        "version": version,
        "model_file": "model.txt",
        "feature_set": args.feature_set,
        "feature_set_version": args.feature_set_version,
        "feature_names": model.feature_name(),
        "money_features": money,
        "assets": assets,
        "transform": "fixed: float64(value)/float64(10^scale); units: float64(units)/float64(10^decimals[asset]); "
                     "missing: NaN (LightGBM missing)",
        "threshold_bp": threshold,
        "threshold_rule": rule,
        "target_precision": args.target_precision,
        "label_rule": "positive: the entity's current label (latest per entity and subject event) is a fraud pattern; "
                      "LEGITIMATE or never labelled: negative",
        "training_data": {
            "scores.jsonl": file_sha256(os.path.join(args.input, "scores.jsonl")),
            "labels.jsonl": file_sha256(os.path.join(args.input, "labels.jsonl")),
            "rows": n,
            "positives": int(y.sum()),
        },
        "split": {k: {"rows": s.stop - s.start, "from_ns": when(s.start), "to_ns": when(s.stop - 1)}
                  for k, s in parts.items()},
        "trees": model.num_trees(),
        "params": PARAMS,
        "lightgbm_version": lgb.__version__,
        "metrics": metrics,
        "note": args.note,
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")

    # Reference rows: test rows, half positive where possible, with what LightGBM predicts.
    test = list(range(parts["test"].start, n))
    pos = [i for i in test if y[i] == 1][: args.reference_rows // 2]
    neg = [i for i in test if y[i] == 0][: args.reference_rows - len(pos)]
    pick = sorted(pos + neg)
    ref = [{"entity_id": rows[i]["entity"], "subject_event_id": rows[i]["subject"], "features": rows[i]["features"]}
           for i in pick]
    # Crafted rows for missing values: no features at all, and rows with every third
    # feature left out.
    if ref:
        ref.append({"entity_id": ref[0]["entity_id"], "subject_event_id": "crafted:empty", "features": []})
        for k, r in enumerate(ref[:20]):
            ref.append({"entity_id": r["entity_id"], "subject_event_id": f"crafted:sparse:{k}",
                        "features": [f for j, f in enumerate(r["features"]) if j % 3 != k % 3]})
        ref.extend(extreme_rows(ref[0]["entity_id"], names, set(money), assets))
        xs = matrix(ref, names, assets)
        for r, x, p in zip(ref, xs, model.predict(xs)):
            r["x"] = [None if math.isnan(v) else repr(float(v)) for v in x]
            r["probability"] = repr(float(p))
            r["score_bp"] = score_bp(float(p))
    with open(os.path.join(args.out, "reference.jsonl"), "w") as f:
        for r in ref:
            f.write(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n")

    print(json.dumps({"model_id": args.model_id, "version": version, "threshold_bp": threshold,
                      "trees": model.num_trees(), "rows": n, "metrics": metrics}, sort_keys=True))


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"train.py: {e}", file=sys.stderr)
        sys.exit(2)
