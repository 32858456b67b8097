"""Generate the LightGBM fixtures that models/gbdt is tested against.

Trains binary classifiers with LightGBM 4.x on a deterministic synthetic data set shaped like
payment-fraud features (counts, sums, ratios, missing values, two categorical features) and
writes, under models/testdata:

  model.txt                     200 trees, num_leaves 31, NaN-as-missing, categorical splits
  model_zero_as_missing.txt     50 trees, zero_as_missing=true (missing type Zero)
  model_linear.txt              30 trees, linear_tree=true (is_linear=1)
  rows.csv                      10,000 rows of the 32 features; an empty field is NaN
  predictions.csv               LightGBM's raw score and probability for every row of rows.csv,
                                one column pair per model, printed with repr (round-trips float64)

The rows scored are made hard on purpose: besides ordinary values they hold NaN, values equal
to split thresholds taken from the models, -0.0, subnormal-ish magnitudes around LightGBM's
zero threshold (1e-35), +-inf, and categorical values that are negative, fractional, NaN,
unseen or beyond int32.

Run from the repo root:

  PY=$(models/train/venv.sh) && "$PY" models/train/fixture.py

The output depends only on the seed and the pinned versions in requirements.txt.
"""

import argparse
import csv
import os
import sys

import lightgbm as lgb
import numpy as np

SEED = 20260511
N_TRAIN = 30_000
N_ROWS = 10_000

NUMERIC = [
    "tx_count_1h", "tx_count_24h", "tx_count_7d",
    "amount_sum_1h", "amount_sum_24h", "amount_sum_7d",
    "amount_mean_24h", "amount_max_24h", "amount", "amount_to_mean_ratio",
    "distinct_merchants_24h", "distinct_countries_7d", "failed_count_24h", "failed_ratio_24h",
    "account_age_days", "days_since_last_tx", "seconds_since_last_tx", "velocity_ratio_1h_24h",
    "night_tx_ratio_7d", "chargeback_count_90d", "refund_ratio_30d", "device_count_30d",
    "ip_count_24h", "new_device", "card_age_days", "amount_zscore", "hour_of_day",
    "geo_distance_km", "gas_price_gwei", "token_transfer_count",
]
CATEGORICAL = ["merchant_category", "country"]
FEATURES = NUMERIC + CATEGORICAL
CAT_IDX = [FEATURES.index(c) for c in CATEGORICAL]


def make_features(rng, n):
    """Return an (n, 32) float64 matrix of synthetic fraud-like features."""
    f = {}
    activity = rng.gamma(1.5, 2.0, n)
    f["tx_count_1h"] = rng.poisson(activity * 0.2)
    f["tx_count_24h"] = f["tx_count_1h"] + rng.poisson(activity * 2.0)
    f["tx_count_7d"] = f["tx_count_24h"] + rng.poisson(activity * 10.0)
    ticket = np.round(rng.lognormal(3.5, 1.2, n), 2)
    f["amount"] = ticket
    f["amount_sum_1h"] = np.round(f["tx_count_1h"] * rng.lognormal(3.4, 1.0, n), 2)
    f["amount_sum_24h"] = np.round(f["amount_sum_1h"] + (f["tx_count_24h"] - f["tx_count_1h"]) * rng.lognormal(3.4, 1.0, n), 2)
    f["amount_sum_7d"] = np.round(f["amount_sum_24h"] + (f["tx_count_7d"] - f["tx_count_24h"]) * rng.lognormal(3.4, 1.0, n), 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean24 = np.where(f["tx_count_24h"] > 0, f["amount_sum_24h"] / f["tx_count_24h"], np.nan)
        f["amount_mean_24h"] = np.round(mean24, 2)
        f["amount_max_24h"] = np.where(f["tx_count_24h"] > 0, np.round(mean24 * rng.uniform(1.0, 3.0, n), 2), np.nan)
        f["amount_to_mean_ratio"] = np.round(ticket / mean24, 4)
        f["distinct_merchants_24h"] = np.minimum(f["tx_count_24h"], rng.poisson(1.5, n))
        f["distinct_countries_7d"] = np.minimum(np.maximum(f["tx_count_7d"], 1), 1 + rng.poisson(0.3, n))
        f["failed_count_24h"] = rng.binomial(f["tx_count_24h"], 0.05)
        f["failed_ratio_24h"] = np.round(np.where(f["tx_count_24h"] > 0, f["failed_count_24h"] / f["tx_count_24h"], np.nan), 4)
        f["account_age_days"] = np.floor(rng.exponential(400.0, n))
        f["days_since_last_tx"] = np.where(rng.random(n) < 0.12, np.nan, np.round(rng.exponential(3.0, n), 3))
        f["seconds_since_last_tx"] = np.where(np.isnan(f["days_since_last_tx"]), np.nan, np.floor(f["days_since_last_tx"] * 86400))
        f["velocity_ratio_1h_24h"] = np.round(np.where(f["tx_count_24h"] > 0, f["tx_count_1h"] / f["tx_count_24h"], np.nan), 4)
    f["night_tx_ratio_7d"] = np.round(rng.beta(1.0, 4.0, n), 4)
    f["chargeback_count_90d"] = rng.poisson(0.05, n).astype(float)
    f["refund_ratio_30d"] = np.where(rng.random(n) < 0.2, np.nan, np.round(rng.beta(0.5, 10.0, n), 4))
    f["device_count_30d"] = 1 + rng.poisson(0.4, n)
    f["ip_count_24h"] = np.where(rng.random(n) < 0.05, np.nan, rng.poisson(1.2, n).astype(float))
    f["new_device"] = (rng.random(n) < 0.1).astype(float)
    f["card_age_days"] = np.where(rng.random(n) < 0.08, np.nan, np.floor(rng.exponential(700.0, n)))
    f["amount_zscore"] = np.round(rng.normal(0.0, 1.0, n) + 0.5 * np.log1p(ticket) - 1.7, 4)
    f["hour_of_day"] = rng.integers(0, 24, n).astype(float)
    f["geo_distance_km"] = np.where(rng.random(n) < 0.1, np.nan, np.round(rng.lognormal(2.0, 2.0, n), 1))
    f["gas_price_gwei"] = np.round(rng.lognormal(3.0, 0.5, n), 3)
    f["token_transfer_count"] = rng.poisson(0.8, n).astype(float)
    mc = rng.zipf(1.3, n) - 1
    f["merchant_category"] = np.where(mc < 60, mc, rng.integers(0, 60, n)).astype(float)
    f["country"] = np.where(rng.random(n) < 0.03, np.nan, rng.integers(0, 30, n).astype(float))
    return np.column_stack([np.asarray(f[name], dtype=np.float64) for name in FEATURES])


def make_labels(rng, x):
    """Label rows as fraud from a nonlinear score of the features."""
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    z = np.full(x.shape[0], -3.2)
    z += 0.35 * np.nan_to_num(col["tx_count_1h"])
    z += 1.1 * np.nan_to_num(col["failed_ratio_24h"]) * 3
    z += 0.8 * (np.nan_to_num(col["amount_to_mean_ratio"], nan=1.0) > 3)
    z += 0.9 * col["new_device"]
    z += 0.7 * (col["account_age_days"] < 30)
    z += 1.2 * (col["chargeback_count_90d"] > 0)
    z += 0.6 * np.isnan(col["days_since_last_tx"])
    z += 0.5 * (np.nan_to_num(col["geo_distance_km"], nan=50) > 500)
    z += 0.4 * ((col["hour_of_day"] < 5) & (col["night_tx_ratio_7d"] < 0.1))
    z += np.where(np.isin(col["merchant_category"], [3, 7, 11, 19, 42]), 1.0, 0.0)
    z += np.where(np.isin(col["country"], [2, 5, 23]), 0.8, 0.0)
    z += np.where(np.isnan(col["country"]), 0.5, 0.0)
    z += rng.normal(0.0, 0.6, x.shape[0])
    return (rng.random(x.shape[0]) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)


def thresholds(booster):
    """Numerical split thresholds per feature index, from the model's JSON dump."""
    out = {}

    def walk(node):
        if "split_index" not in node:
            return
        if node["decision_type"] == "<=":
            out.setdefault(node["split_feature"], set()).add(float(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return {k: sorted(v) for k, v in out.items()}


def harden(rng, x, cuts):
    """Mix edge cases into the rows to score: threshold hits, zeros, tiny, inf, odd categories."""
    x = x.copy()
    n, d = x.shape
    for j in range(d):
        if j in CAT_IDX:
            continue
        if j in cuts:
            hit = rng.random(n) < 0.04
            x[hit, j] = rng.choice(cuts[j], hit.sum())
        nan = rng.random(n) < 0.01
        x[nan, j] = np.nan
        odd = np.flatnonzero(rng.random(n) < 0.004)
        x[odd, j] = rng.choice([0.0, -0.0, 1e-36, -1e-36, 1e-35, 2e-35, -2e-35, 1e-300, np.inf, -np.inf], odd.size)
    for j in CAT_IDX:
        odd = np.flatnonzero(rng.random(n) < 0.03)
        x[odd, j] = rng.choice([np.nan, -1.0, -0.5, 3.7, 7.2, 60.0, 95.0, 1e6, 2.0**31, -(2.0**31) - 5, 1e-40, np.inf, -np.inf], odd.size)
    return x


CASES = [
    ("model.txt", dict(num_iterations=200)),
    ("model_zero_as_missing.txt", dict(num_iterations=50, zero_as_missing=True)),
    ("model_linear.txt", dict(num_iterations=30, linear_tree=True, linear_lambda=0.1)),
]


def fmt(v):
    return "" if np.isnan(v) else repr(float(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "testdata"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(SEED)
    x_train = make_features(rng, N_TRAIN)
    y_train = make_labels(rng, x_train)
    x_rows = make_features(rng, N_ROWS)

    base = dict(
        objective="binary", num_leaves=31, learning_rate=0.05, min_data_in_leaf=20,
        feature_fraction=0.9, bagging_fraction=0.8, bagging_freq=1, seed=SEED,
        deterministic=True, force_row_wise=True, num_threads=1, verbose=-1,
    )
    boosters = []
    for name, extra in CASES:
        params = dict(base, **extra)
        ds = lgb.Dataset(x_train, label=y_train, feature_name=FEATURES, categorical_feature=CAT_IDX,
                         params={"verbose": -1}, free_raw_data=False)
        booster = lgb.train(params, ds)
        path = os.path.join(args.out, name)
        booster.save_model(path)
        boosters.append(lgb.Booster(model_file=path))  # score what the file says

    cuts = {}
    for b in boosters:
        for j, v in thresholds(b).items():
            cuts.setdefault(j, set()).update(v)
    x_rows = harden(rng, x_rows, {j: sorted(v) for j, v in cuts.items()})

    with open(os.path.join(args.out, "rows.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FEATURES)
        for row in x_rows:
            w.writerow([fmt(v) for v in row])

    cols, header = [], []
    for (name, _), b in zip(CASES, boosters):
        stem = name.removesuffix(".txt")
        cols.append(b.predict(x_rows, raw_score=True))
        cols.append(b.predict(x_rows))
        header += [stem + ":raw", stem + ":prob"]
    with open(os.path.join(args.out, "predictions.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for i in range(N_ROWS):
            w.writerow([repr(float(c[i])) for c in cols])

    print(f"lightgbm {lgb.__version__}, numpy {np.__version__}: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
