"""load-metrics.py EDGE_METRICS_FILE < result.json > result.json: adds what matrixbox's metrics
listener counted during a load-bench run (`/metrics`, OpenMetrics text) to the generator's result:
per route class of the message path (client_send, client_sync), the requests the edge answered,
how many of them were 5xx, and p50/p99 of the time to the response's head, interpolated within
the histogram's buckets (a long-poll sync's includes its wait)."""
import json
import re
import sys

LINE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')
CLASSES = ("client_send", "client_sync")


def parse(path):
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            labels = dict(kv.split("=", 1) for kv in m.group(2).split(","))
            yield m.group(1), {k: v.strip('"') for k, v in labels.items()}, float(m.group(3))


def quantile(buckets, q):
    """buckets: [(upper bound, cumulative count)] sorted; linear within the bucket it falls in."""
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    want, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= want:
            if bound == float("inf"):
                return round(lower * 1000, 1)
            frac = (want - below) / (count - below) if count > below else 1.0
            return round((lower + (bound - lower) * frac) * 1000, 1)
        lower, below = bound, count
    return None


def summary(path):
    out = {c: {"requests": 0, "5xx": 0, "buckets": []} for c in CLASSES}
    for name, labels, value in parse(path):
        route = labels.get("route")
        if route not in out:
            continue
        if name == "matrixbox_edge_requests_total":
            out[route]["requests"] += int(value)
            if labels.get("status") == "5xx":
                out[route]["5xx"] += int(value)
        elif name == "matrixbox_edge_request_duration_seconds_bucket":
            out[route]["buckets"].append((float(labels["le"]), value))
    for v in out.values():
        buckets = sorted(v.pop("buckets"))
        v["p50_ms"], v["p99_ms"] = quantile(buckets, 0.5), quantile(buckets, 0.99)
    return out


if __name__ == "__main__":
    result = json.load(sys.stdin)
    result["edge_metrics"] = summary(sys.argv[1])
    json.dump(result, sys.stdout)
