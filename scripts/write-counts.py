#!/usr/bin/env python3
"""The apiserver's write requests between two scrapes of its /metrics, by resource and verb.

    write-counts.py BEFORE AFTER [PER]

BEFORE and AFTER are saved outputs of `kubectl get --raw /metrics`. Prints, for every resource
that was written, the number of writes (POST, PUT, PATCH, APPLY, DELETE) divided by PER (the number
of objects the benchmark made, so the figures read "per server" or "per task"), then the total.
Counts every client of the apiserver alike, the controller-manager's writes included.
"""

import re
import sys
from collections import Counter

WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def writes(path):
    counts = Counter()
    with open(path) as metrics:
        for line in metrics:
            sample = SAMPLE.match(line.strip())
            if not sample:
                continue
            labels = dict(LABEL.findall(sample["labels"]))
            if labels.get("verb") not in WRITE_VERBS:
                continue
            resource = labels["resource"]
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            counts[(resource, labels["verb"])] += float(sample["value"])
    return counts


def main():
    before, after = writes(sys.argv[1]), writes(sys.argv[2])
    per = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    delta = {key: after[key] - before.get(key, 0) for key in after}
    delta = {key: n for key, n in delta.items() if n > 0}
    for (resource, verb), n in sorted(delta.items(), key=lambda item: -item[1]):
        print(f"  {resource:<36} {verb:<7} {n / per:8.2f}")
    print(f"  {'all writes':<36} {'':<7} {sum(delta.values()) / per:8.2f}")


if __name__ == "__main__":
    main()
