"""Parses a Prometheus text exposition file with prometheus_client's own parser (Debian's
python3-prometheus-client) and prints what it read as JSON: a list of families, each with its
name, type, documentation and samples (name, labels, value as repr(float) so that inf and nan
survive JSON). Usage: parse_metrics.py FILE. Exits non-zero when the module is missing or the
text does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    families = []
    for fam in text_string_to_metric_families(text):
        families.append({
            "name": fam.name,
            "type": fam.type,
            "documentation": fam.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))} for s in fam.samples],
        })
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
