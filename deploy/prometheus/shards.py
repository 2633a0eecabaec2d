#!/usr/bin/env python3
"""Print Prometheus ``remote_write`` entries that split series over N anomalyd replicas.

Each replica gets one entry whose ``write_relabel_configs`` keep the metrics to score
(``--keep``, a regex over ``__name__``), hash the shard labels (``--labels``) with
``hashmod`` into N buckets and keep only that replica's bucket, so every series goes to exactly
one replica, always the same one. A series' shard depends only on those labels' values: use
labels that are stable for a series (the default ``__name__,job,instance``); adding labels
spreads series more evenly. Changing N moves most series to another replica, which then warms
them up from scratch.

    python deploy/prometheus/shards.py 3 >> prometheus.yml      # StatefulSet anomalyd, 3 pods
    python deploy/prometheus/shards.py 2 --url http://a:8080/api/v1/write \\
        --url http://b:8080/api/v1/write --keep 'node_load1|job:http_requests:rate5m'

``--url`` is a template with ``{i}`` (the replica's index; default: the StatefulSet's pods
behind the headless Service of deploy/kubernetes/) or given once per replica. Standard library
only.
"""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_URL = "http://anomalyd-{i}.anomalyd:8080/api/v1/write"
SHARD_LABEL = "__tmp_anomalyd_shard"


def entry(i: int, n: int, url: str, labels: list[str], keep: str, token_file: str | None) -> str:
    """One ``remote_write`` list item (YAML; strings JSON-quoted, which YAML reads as-is)."""
    q = json.dumps
    lines = [
        f"  - name: {q(f'anomalyd-{i}')}",
        f"    url: {q(url)}",
        "    write_relabel_configs:",
        f"      - {{source_labels: [__name__], regex: {q(keep)}, action: keep}}",
        f"      - {{source_labels: [{', '.join(labels)}], modulus: {n}, "
        f"target_label: {SHARD_LABEL}, action: hashmod}}",
        f"      - {{source_labels: [{SHARD_LABEL}], regex: {q(str(i))}, action: keep}}",
        f"      - {{regex: {SHARD_LABEL}, action: labeldrop}}",
        "    queue_config: {retry_on_http_429: true}",
    ]
    if token_file:
        lines.append(f"    authorization: {{credentials_file: {q(token_file)}}}")
    return "\n".join(lines)


def render(n: int, urls: list[str], labels: list[str], keep: str, token_file: str | None) -> str:
    """The ``remote_write:`` block for ``n`` replicas."""
    if len(urls) == 1:
        urls = [urls[0].replace("{i}", str(i)) for i in range(n)]
    items = [entry(i, n, urls[i], labels, keep, token_file) for i in range(n)]
    return "remote_write:\n" + "\n".join(items) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("replicas", type=int, help="number of anomalyd replicas (>= 1)")
    p.add_argument("--url", action="append", help=f"default {DEFAULT_URL}")
    p.add_argument("--labels", default="__name__,job,instance", help="labels hashed into shards")
    p.add_argument("--keep", default=".+", help="regex over __name__ of the series to score")
    p.add_argument("--token-file", help="file holding ANOMALYD_API_TOKEN, when one is set")
    args = p.parse_args(argv)
    if args.replicas < 1:
        p.error(f"replicas must be >= 1; got {args.replicas}")
    args.url = args.url or [DEFAULT_URL]
    if len(args.url) not in (1, args.replicas):
        p.error(f"give --url once (a template with {{i}}) or {args.replicas} times")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    sys.stdout.write(render(args.replicas, args.url, labels, args.keep, args.token_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
