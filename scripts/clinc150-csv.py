#!/usr/bin/env python3
"""Writes CLINC150's full split (../shared/data/clinc150/data_full.json) as the CSV files
triage-eval reads (header text,category): train.csv (the 150 in-scope intents), val.csv and
test.csv (in-scope plus the out-of-scope queries, labelled "oos"). Usage:
scripts/clinc150-csv.py [DATA_FULL_JSON] [OUT_DIR]   (defaults: ../shared/data/clinc150/data_full.json, /tmp/clinc150)
"""
import csv
import json
import os
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/clinc150/data_full.json"
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/clinc150"
os.makedirs(out, exist_ok=True)
d = json.load(open(src))
for name, keys in [("train", ["train"]), ("val", ["val", "oos_val"]), ("test", ["test", "oos_test"])]:
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        for k in keys:
            w.writerows(d[k])
print(out)
