#!/usr/bin/python3
"""promql_check.py - helper of prometheus_test.sh.

  promql_check.py test-config SHIPPED OUT HOST:PORT=ADDR:PORT...
      Writes the test variant of the shipped prometheus.yml: the same jobs and rule files
      (absolute paths), scrape and evaluation every second, each target mapped.
  promql_check.py k8s-config SHIPPED OUT
      Writes prometheus-kubernetes.yml with kubernetes_sd_configs replaced by an empty
      file_sd_configs, for a promtool built without Kubernetes discovery (Debian's): the
      rest (relabelling, rule files) is still checked.
  promql_check.py check PROM_URL DASHBOARDS_DIR ALERTS_FILE TIMEOUT
      Against a running Prometheus: every PromQL expression of the dashboards (panel
      queries and template variables) returns data, every series selector in them and in
      the alert rules selects series, every alert rule expression evaluates, and the
      Prometheus rule manager reports every rule healthy. Each is polled until it holds
      or TIMEOUT seconds have passed in all.
"""
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

# Grafana's variables, as the test substitutes them (scrape_interval is 1 s here).
GRAFANA_VARS = {"$__rate_interval": "15s", "$__interval": "5s", "$__range": "1m", "$instance": ".*"}
METRIC = r"(?:ayaflow_[a-z_]+|process_[a-z_]+|up)"
SELECTOR = re.compile(r"\b(" + METRIC + r")(\{[^}]*\})?")


def test_config(shipped, out, mappings):
    with open(shipped, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    base = os.path.dirname(os.path.abspath(shipped))
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["scrape_timeout"] = "1s"
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["rule_files"] = [os.path.join(base, r) for r in cfg.get("rule_files", [])]
    seen = set()
    for job in cfg["scrape_configs"]:
        for sc in job.get("static_configs", []):
            new = []
            for t in sc["targets"]:
                if t not in mappings:
                    sys.exit(f"test-config: no mapping for target {t} of job {job['job_name']}")
                seen.add(t)
                new.append(mappings[t])
            sc["targets"] = new
    unused = set(mappings) - seen
    if unused:
        sys.exit(f"test-config: mapped targets not in the configuration: {sorted(unused)}")
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def k8s_config(shipped, out):
    with open(shipped, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    base = os.path.dirname(os.path.abspath(shipped))
    cfg["rule_files"] = [os.path.join(base, r) for r in cfg.get("rule_files", [])]
    for job in cfg["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": [os.path.join(os.path.dirname(os.path.abspath(out)), "none.json")]}]
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


class Prom:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        q = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)


def substitute(expr):
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    if "$" in expr.replace("$labels", "").replace("$value", ""):
        raise ValueError(f"unknown variable in {expr!r}")
    return expr


def dashboard_exprs(d):
    """(what, expr) of every panel query and of every query variable of dashboard d."""
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((f"{d['uid']} panel '{p['title']}' {t['refId']}", t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
        if not m:
            raise ValueError(f"{d['uid']} variable {v['name']}: unsupported query {q!r}")
        out.append((f"{d['uid']} variable ${v['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
    return out


def check(url, dash_dir, alerts_file, timeout):
    prom = Prom(url)
    deadline = time.monotonic() + timeout
    failed = []

    def poll(what, expr, need_data):
        last = None
        while True:
            r = prom.query(expr)
            last = r
            if r.get("status") == "success" and (not need_data or r["data"]["result"]):
                n = len(r["data"]["result"]) if isinstance(r["data"]["result"], list) else 1
                print(f"ok:   {what}: {n} series" + ("" if need_data else " (valid)"))
                return
            if r.get("status") == "error" or time.monotonic() >= deadline:
                print(f"FAIL: {what}: {expr}\n      last answer: {json.dumps(last)[:400]}")
                failed.append(what)
                return
            time.sleep(0.5)

    exprs = []
    for f in sorted(os.listdir(dash_dir)):
        with open(os.path.join(dash_dir, f), encoding="utf-8") as fh:
            exprs += [(w, substitute(e)) for w, e in dashboard_exprs(json.load(fh))]
    with open(alerts_file, encoding="utf-8") as fh:
        rules = [(g["name"], r) for g in yaml.safe_load(fh)["groups"] for r in g["rules"]]

    selectors = set()
    for _, e in exprs:
        selectors.update(m.group(0) for m in SELECTOR.finditer(e))
    for _, r in rules:
        selectors.update(m.group(0) for m in SELECTOR.finditer(r["expr"]))
    for sel in sorted(selectors):
        poll(f"selector {sel}", sel, True)
    for what, e in exprs:
        poll(what, e, True)
    for group, r in rules:
        poll(f"rule {group}/{r.get('alert') or r.get('record')}", r["expr"], False)

    # Prometheus itself evaluated the shipped rules (loaded from the shipped file).
    names = {r.get("alert") or r.get("record") for _, r in rules}
    while True:
        got = prom.get("/api/v1/rules")
        loaded = {r["name"]: r for g in got["data"]["groups"] for r in g["rules"]}
        evaluated = all(n in loaded and loaded[n].get("lastEvaluation", "").startswith("2")
                        and not loaded[n]["lastEvaluation"].startswith("0001") for n in names)
        if evaluated or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for n in sorted(names):
        r = loaded.get(n)
        ok = r is not None and r.get("health") == "ok"
        print(("ok:   " if ok else "FAIL: ") + f"rule manager: {n} health {r and r.get('health')} "
              f"{(r or {}).get('lastError', '')}")
        if not ok:
            failed.append(n)
    if failed:
        print(f"{len(failed)} failed")
        return 1
    print(f"all {len(selectors)} selectors, {len(exprs)} dashboard queries and {len(rules)} rules checked")
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "test-config":
        test_config(argv[2], argv[3], dict(m.split("=", 1) for m in argv[4:]))
        return 0
    if len(argv) == 4 and argv[1] == "k8s-config":
        k8s_config(argv[2], argv[3])
        return 0
    if len(argv) == 6 and argv[1] == "check":
        return check(argv[2], argv[3], argv[4], float(argv[5]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
