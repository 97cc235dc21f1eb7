#!/usr/bin/python3
"""deploy.manifests - the deployment files of k8s/ parse and have the properties the
deployment promises (issue "Deployment"): asserted on the parsed YAML and JSON.

  manifests_test.py SOURCE_DIR BUILD_DIR

Kubernetes: the objects `kubectl apply -k k8s/` installs, assembled from
k8s/base/kustomization.yaml (resources + configMapGenerator), and those of the overlay
k8s/overlays/clickhouse (the base with its patches, its resources and its generators);
when kubectl is installed its `kubectl kustomize` output is compared with them and the
overlay's checks are run on it as well. Compose, Prometheus, Grafana, the
Dockerfiles (their build steps are run against BUILD_DIR's `cmake --install`, and the
runtime packages are checked against the libraries the programs link) and the systemd
unit templates. Prints one line per check; exits 1 on the first failed group.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
K8S = os.path.join(SRC, "k8s")
BASE = os.path.join(K8S, "base")
OVERLAY = os.path.join(K8S, "overlays", "clickhouse")
DEPLOY = os.path.join(K8S, "deploy")
FAILED = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        FAILED.append(what)
    return cond


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def cpu(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def mem(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    return float(m.group(1)) * units.get(m.group(2), 1)


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


# --- Kubernetes -----------------------------------------------------------------------

def merge_patch(obj, patch):
    """A strategic merge patch as far as the overlays use it: maps merged key by key,
    anything else replaced."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(obj.get(k), dict):
            merge_patch(obj[k], v)
        else:
            obj[k] = v


def kustomize_objects(root):
    """The objects of the kustomization in ROOT (resources: files and directories;
    inline patches: merge or $patch: delete; configMapGenerator, behavior create or
    replace), its namespace, and the parsed configuration files by (ConfigMap, key)."""
    kust = load_yaml(os.path.join(root, "kustomization.yaml"))
    ns, objs, configs = kust.get("namespace"), [], {}
    for res in kust.get("resources", []):
        path = os.path.join(root, res)
        if os.path.isdir(path):
            sub_ns, sub_objs, sub_configs = kustomize_objects(path)
            ns = ns or sub_ns
            objs += sub_objs
            configs.update(sub_configs)
        else:
            objs += load_all(path)
    for p in kust.get("patches", []):
        patch = yaml.safe_load(p["patch"])
        ident = (patch["kind"], patch["metadata"]["name"])
        targets = [o for o in objs if (o["kind"], o["metadata"]["name"]) == ident]
        assert len(targets) == 1, f"{root}: patch of {ident}: {len(targets)} targets"
        if patch.get("$patch") == "delete":
            objs.remove(targets[0])
        else:
            merge_patch(targets[0], patch)
    for gen in kust.get("configMapGenerator", []):
        data = {}
        old = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == gen["name"]]
        assert len(old) == (1 if gen.get("behavior") == "replace" else 0), \
            f"{root}: ConfigMap {gen['name']}: behavior {gen.get('behavior', 'create')}"
        for o in old:
            objs.remove(o)
            configs = {k: v for k, v in configs.items() if k[0] != gen["name"]}
        for spec in gen["files"]:
            key, _, path = spec.partition("=")
            if not path:
                key, path = os.path.basename(spec), spec
            with open(os.path.join(root, path), encoding="utf-8") as f:
                data[key] = f.read()
            configs[(gen["name"], key)] = yaml.safe_load(data[key])
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    return ns, objs, configs


def kubectl_kustomize(root):
    """kubectl kustomize ROOT's objects; None (noted) without kubectl, or failed."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print(f"note: kubectl not installed; kubectl kustomize {os.path.relpath(root, SRC)} not run")
        return None
    out = subprocess.run([kubectl, "kustomize", root], capture_output=True, text=True, check=False)
    if not check(out.returncode == 0, f"kubectl kustomize {os.path.relpath(root, SRC)} succeeds"):
        print(out.stderr)
        return None
    return [d for d in yaml.safe_load_all(out.stdout) if d]


HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def built_names(built):
    return sorted((o["kind"], HASH_SUFFIX.sub("", o["metadata"]["name"]) if o["kind"] == "ConfigMap"
                   else o["metadata"]["name"]) for o in built)


def check_built(built, objs, ns, what):
    """kubectl kustomize's objects are ours, in namespace ns, ConfigMap references
    rewritten to the generated names."""
    check(built_names(built) == sorted((o["kind"], o["metadata"]["name"]) for o in objs),
          f"{what}: kubectl kustomize builds exactly these objects")
    check(all(o["metadata"].get("namespace") == ns for o in built if o["kind"] != "Namespace"),
          f"{what}: every object lands in namespace {ns}")
    cms = {o["metadata"]["name"] for o in built if o["kind"] == "ConfigMap"}
    for o in built:
        if o["kind"] in ("DaemonSet", "StatefulSet", "Deployment"):
            refs = [v["configMap"]["name"] for v in o["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
            check(refs and all(r in cms for r in refs),
                  f"{what}: {o['kind']}: ConfigMap reference rewritten to the generated name")


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def probe_ok(probe, port):
    get = (probe or {}).get("httpGet", {})
    return get.get("path") == "/api/health" and get.get("port") in (port, "http", "api")


def check_kubernetes():
    ns, objs, configs = kustomize_objects(BASE)
    wrap_ns, wrap_objs, _ = kustomize_objects(K8S)
    check(wrap_ns == ns and sorted((o["kind"], o["metadata"]["name"]) for o in wrap_objs)
          == sorted((o["kind"], o["metadata"]["name"]) for o in objs),
          "k8s/kustomization.yaml installs k8s/base/ as it is")
    check(ns == "ayaflow", "kustomization sets namespace ayaflow")
    check(any(o["kind"] == "Namespace" and o["metadata"]["name"] == ns for o in objs),
          "a Namespace object for it")
    for o in objs:
        check(o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name"),
              f"{o.get('kind')} {o.get('metadata', {}).get('name')}: apiVersion, kind, name")

    node_cfg = configs[("ayaflow-node-config", "node.yaml")]
    coll_cfg = configs[("ayaflow-collector-config", "collector.yaml")]

    # Node DaemonSet
    ds = one(objs, "DaemonSet")
    pod = ds["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    sc = c.get("securityContext", {})
    port = node_cfg.get("port", 3001)
    check(labels_match(ds["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]),
          "DaemonSet selector matches its pod labels")
    check(spec.get("hostNetwork") is True, "node: hostNetwork: true")
    check(spec.get("dnsPolicy") == "ClusterFirstWithHostNet", "node: dnsPolicy ClusterFirstWithHostNet")
    check(not sc.get("privileged", False) and not spec.get("securityContext", {}).get("privileged"),
          "node: not privileged")
    check(sc.get("allowPrivilegeEscalation") is False, "node: allowPrivilegeEscalation false")
    caps = sc.get("capabilities", {})
    check(caps.get("drop") == ["ALL"], "node: capabilities drop ALL")
    check(sorted(caps.get("add", [])) == ["BPF", "NET_ADMIN", "PERFMON"],
          "node: capabilities add exactly BPF, NET_ADMIN, PERFMON")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    bpf = mounts.get("/sys/fs/bpf")
    check(bpf is not None and vols.get(bpf["name"], {}).get("hostPath", {}).get("path") == "/sys/fs/bpf",
          "node: hostPath /sys/fs/bpf mounted at /sys/fs/bpf")
    env = {e["name"]: e for e in c.get("env", [])}
    check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
          "node: NODE_NAME from the downward API (spec.nodeName)")
    check("node_name" not in node_cfg, "node config leaves node_name to $NODE_NAME")
    ann = pod["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(port)
          and ann.get("prometheus.io/path") == "/metrics", f"node: scrape annotations (port {port}, /metrics)")
    check(any(p.get("containerPort") == port for p in c.get("ports", [])), f"node: container port {port}")
    check(probe_ok(c.get("readinessProbe"), port), "node: readinessProbe on /api/health")
    check(probe_ok(c.get("livenessProbe"), port), "node: livenessProbe on /api/health")
    res = c.get("resources", {})
    req, lim = res.get("requests", {}), res.get("limits", {})
    check(0 < mem(req.get("memory", 0)) <= mem("32Mi") and 0 < cpu(req.get("cpu", 0)) <= cpu("50m"),
          f"node: requests at most 32Mi/50m ({req})")
    check(0 < mem(lim.get("memory", 0)) <= mem("128Mi") and 0 < cpu(lim.get("cpu", 0)) <= cpu("500m"),
          f"node: limits at most 128Mi/500m ({lim})")
    check(mem(node_cfg.get("spool_size", 64 << 20)) < mem(lim.get("memory", 0)),
          "node: the spool fits in the memory limit")
    check(any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t
              for t in spec.get("tolerations", [])), "node: tolerates every taint (runs on every node)")
    check(ds["spec"].get("updateStrategy", {}).get("type") == "RollingUpdate", "node: rolling update")
    cfgvol = [v for v in vols.values() if "configMap" in v]
    check(len(cfgvol) == 1 and cfgvol[0]["configMap"]["name"] == "ayaflow-node-config",
          "node: configuration from ConfigMap ayaflow-node-config")
    cfgmount = [m for m in c["volumeMounts"] if m["name"] == cfgvol[0]["name"]][0]["mountPath"]
    check(c.get("args", [])[:2] == ["--config", cfgmount + "/node.yaml"], "node: --config names the mounted node.yaml")

    # Collector
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
    labels = pod["metadata"]["labels"]
    cport = coll_cfg.get("port", 3000)
    check(labels_match(sts["spec"]["selector"]["matchLabels"], labels), "StatefulSet selector matches its pod labels")
    check(sts["spec"].get("replicas", 1) == 1, "collector: one replica (one SQLite writer)")
    check((sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
          and (sc.get("runAsUser", psc.get("runAsUser")) or 0) > 0, "collector: runs as a non-root user")
    check(sc.get("readOnlyRootFilesystem") is True, "collector: read-only root filesystem")
    check(sc.get("allowPrivilegeEscalation") is False and sc.get("capabilities", {}).get("drop") == ["ALL"],
          "collector: no privilege escalation, every capability dropped")
    check(coll_cfg.get("db_path") == "/var/lib/ayaflow/traffic.db", "collector config: db_path /var/lib/ayaflow/traffic.db")
    check(coll_cfg.get("listen") in (["tcp://0.0.0.0:7400"], "tcp://0.0.0.0:7400") and cport == 3000,
          "collector config: listen tcp://0.0.0.0:7400, port 3000")
    claims = {t["metadata"]["name"]: t for t in sts["spec"].get("volumeClaimTemplates", [])}
    dbdir = os.path.dirname(coll_cfg["db_path"])
    dm = [m for m in c.get("volumeMounts", []) if m["mountPath"] == dbdir]
    check(len(dm) == 1 and dm[0]["name"] in claims, f"collector: {dbdir} on a PersistentVolumeClaim")
    check(bool(claims) and all("storage" in t["spec"]["resources"]["requests"] for t in claims.values()),
          "collector: the claim requests storage")
    ann = pod["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(cport)
          and ann.get("prometheus.io/path") == "/metrics", "collector: scrape annotations")
    cports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(cports == {"ingest": 7400, "api": cport}, "collector: container ports ingest 7400, api 3000")
    check(probe_ok(c.get("readinessProbe"), cport) and probe_ok(c.get("livenessProbe"), cport),
          "collector: readiness and liveness probes on /api/health")
    sp = c.get("startupProbe") or {}
    check(probe_ok(sp, cport) and sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3) >= 600,
          "collector: a startup probe allowing 10 minutes for a schema migration")
    ro_writable = [m["mountPath"] for m in c.get("volumeMounts", []) if not m.get("readOnly")]
    check("/tmp" in ro_writable, "collector: a writable /tmp for SQLite beside the read-only root")
    cfgvol = [v for v in spec.get("volumes", []) if "configMap" in v]
    check(len(cfgvol) == 1 and cfgvol[0]["configMap"]["name"] == "ayaflow-collector-config",
          "collector: configuration from ConfigMap ayaflow-collector-config")
    services = [o for o in objs if o["kind"] == "Service"]
    check(any(s["metadata"]["name"] == sts["spec"]["serviceName"] and s["spec"].get("clusterIP") == "None"
              for s in services), "collector: the StatefulSet's headless Service exists")
    svc = one(objs, "Service", "ayaflow-collector")
    check(labels_match(svc["spec"]["selector"], labels), "Service ayaflow-collector selects the collector pod")
    sports = {p["port"]: p.get("targetPort") for p in svc["spec"]["ports"]}
    check(set(sports) == {7400, 3000} and all(
        (t in cports or t in cports.values()) for t in sports.values()),
        "Service: ingest 7400 and API 3000 to the container's ports")
    urls = node_cfg.get("collector", [])
    urls = urls if isinstance(urls, list) else [urls]
    check(urls == [f"tcp://ayaflow-collector.{ns}.svc:7400"], f"node config: collector is the Service ({urls})")

    # NetworkPolicy example (not in the kustomization: its CIDR is the site's)
    np = load_all(os.path.join(K8S, "networkpolicy.example.yaml"))
    check(len(np) == 1 and np[0]["kind"] == "NetworkPolicy", "networkpolicy.example.yaml: one NetworkPolicy")
    np = np[0]
    check(labels_match(np["spec"]["podSelector"]["matchLabels"], labels), "NetworkPolicy selects the collector")
    check("Ingress" in np["spec"]["policyTypes"], "NetworkPolicy restricts ingress")
    ingest_rules = [r for r in np["spec"]["ingress"] if any(p.get("port") == 7400 for p in r.get("ports", []))]
    check(ingest_rules and all(r.get("from") and all("ipBlock" in f for f in r["from"]) for r in ingest_rules),
          "NetworkPolicy: port 7400 only from the nodes' addresses (ipBlock)")
    check(all(any(p.get("port") in (7400, 3000) for p in r.get("ports", [])) for r in np["spec"]["ingress"]),
          "NetworkPolicy: no rule opens other ports")

    # kubectl kustomize, where kubectl is installed: same objects, references rewritten;
    # k8s/ and k8s/base/ build the same.
    built = kubectl_kustomize(K8S)
    if built is not None:
        check_built(built, objs, ns, "k8s/")
        check(built == kubectl_kustomize(BASE), "kubectl kustomize: k8s/ and k8s/base/ build the same")


# --- the overlay with the history in ClickHouse (k8s/overlays/clickhouse) -------------

STORE_URL = re.compile(r"clickhouse(\+https)?://(?:([A-Za-z0-9_.-]+)@)?([A-Za-z0-9.-]+)(?::([0-9]+))?/([A-Za-z0-9_]+)")


def built_configs(built):
    """The parsed configuration files of kubectl kustomize's ConfigMaps, by (name, key)."""
    return {(HASH_SUFFIX.sub("", o["metadata"]["name"]), k): yaml.safe_load(v)
            for o in built if o["kind"] == "ConfigMap" for k, v in o.get("data", {}).items()}


def workload_containers(objs):
    for o in objs:
        if o["kind"] in ("DaemonSet", "StatefulSet", "Deployment"):
            for c in o["spec"]["template"]["spec"].get("containers", []):
                yield o, c


def check_overlay_objects(objs, configs, ns, what, sqlite_pod_labels):
    kinds = [o["kind"] for o in objs]
    check("StatefulSet" not in kinds and "PersistentVolumeClaim" not in kinds,
          f"{what}: no StatefulSet, no PersistentVolumeClaim")
    dep = one(objs, "Deployment", "ayaflow-collector")
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"]["labels"]
    c = one([{"kind": "c", "metadata": {"name": x["name"]}, **x} for x in spec["containers"]],
            "c", "ayaflow-collector")
    check(dep["spec"].get("replicas") == 2, f"{what}: the collector a Deployment of 2 replicas")
    check(labels_match(dep["spec"]["selector"]["matchLabels"], labels),
          f"{what}: Deployment selector matches its pod labels")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    check(all(set(v) - {"name"} <= {"configMap", "secret"} for v in vols.values()),
          f"{what}: collector volumes are the ConfigMap and the Secret only (no claim, no hostPath)")

    cfg = configs[("ayaflow-collector-config", "collector.yaml")]
    store = str(cfg.get("store", ""))
    m = STORE_URL.fullmatch(store)
    check(m is not None, f"{what}: collector config: store is a clickhouse:// URL without a password ({store})")
    check(m is not None and m.group(3).endswith(".svc"),
          f"{what}: the store's host is a Service name (name.namespace.svc)")
    check("db_path" not in cfg, f"{what}: collector config: no db_path")
    check(cfg.get("listen") in (["tcp://0.0.0.0:7400"], "tcp://0.0.0.0:7400") and cfg.get("port", 3000) == 3000,
          f"{what}: collector config: listen tcp://0.0.0.0:7400, port 3000")

    # The password: a file of a mounted Secret, nowhere in the configuration, the
    # arguments or the environment, and no Secret in the repository.
    pwfile = cfg.get("store_password_file") or ""
    from_secret = []
    for mnt in c.get("volumeMounts", []):
        sec = vols.get(mnt["name"], {}).get("secret")
        if not sec or not pwfile.startswith(mnt["mountPath"].rstrip("/") + "/"):
            continue
        rel = pwfile[len(mnt["mountPath"].rstrip("/")) + 1:]
        items = sec.get("items")
        if items is None or any(i["path"] == rel for i in items):
            from_secret.append((sec.get("secretName"), mnt.get("readOnly") is True))
    check(len(from_secret) == 1 and from_secret[0][0] and from_secret[0][1],
          f"{what}: store_password_file ({pwfile}) is a file of a Secret mounted read-only ({from_secret})")
    check(not any(k != "store_password_file" and re.search("pass|secret", k, re.I) for k in cfg),
          f"{what}: collector config: no password key but store_password_file")
    literal = []
    for o, ct in workload_containers(objs):
        literal += [a for a in ct.get("args", []) + ct.get("command", [])
                    if re.search("pass|secret", a, re.I) and not a.startswith("--store-password-file")]
        literal += [e["name"] for e in ct.get("env", []) if "value" in e and re.search("pass|secret", e["name"], re.I)]
        literal += [e.get("prefix", "") for e in ct.get("envFrom", [])]
    check(not literal, f"{what}: no password in an argument or the environment ({literal})")
    check("Secret" not in kinds, f"{what}: no Secret in the manifests (the operator creates it)")

    psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
    check((sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
          and (sc.get("runAsUser", psc.get("runAsUser")) or 0) > 0, f"{what}: collector runs as a non-root user")
    check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
          and sc.get("capabilities", {}).get("drop") == ["ALL"],
          f"{what}: collector: read-only root, no privilege escalation, every capability dropped")
    check((sc.get("seccompProfile") or psc.get("seccompProfile", {})).get("type") == "RuntimeDefault",
          f"{what}: collector: seccomp RuntimeDefault")
    res = c.get("resources", {})
    check(all(k in res.get(r, {}) for r in ("requests", "limits") for k in ("memory", "cpu")),
          f"{what}: collector: memory and cpu requests and limits")
    # httpGet probes pass on any 200: /api/health is 200 "degraded" while the store is
    # down, so a ClickHouse outage takes no replica out of the Service.
    check(all(probe_ok(c.get(p), 3000) for p in ("startupProbe", "readinessProbe", "livenessProbe")),
          f"{what}: collector: startup, readiness and liveness probes (httpGet /api/health)")
    ann = pod["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "3000",
          f"{what}: collector: scrape annotations")
    cports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(cports == {"ingest": 7400, "api": 3000}, f"{what}: collector: container ports ingest 7400, api 3000")
    cfgvol = [v for v in vols.values() if "configMap" in v]
    check(len(cfgvol) == 1 and HASH_SUFFIX.sub("", cfgvol[0]["configMap"]["name"]) == "ayaflow-collector-config",
          f"{what}: collector: configuration from ConfigMap ayaflow-collector-config")
    cfgmount = [x for x in c["volumeMounts"] if x["name"] == cfgvol[0]["name"]][0]["mountPath"]
    check(c.get("args", [])[:2] == ["--config", cfgmount + "/collector.yaml"],
          f"{what}: collector: --config names the mounted collector.yaml")

    services = [o for o in objs if o["kind"] == "Service"]
    check(all(x["spec"].get("clusterIP") != "None" for x in services), f"{what}: no headless Service")
    svc = one(objs, "Service", "ayaflow-collector")
    check(labels_match(svc["spec"]["selector"], labels), f"{what}: Service ayaflow-collector selects the Deployment's pods")
    check(not labels_match(svc["spec"]["selector"], sqlite_pod_labels),
          f"{what}: ... and not the pods of the base's SQLite StatefulSet")
    sports = {x["port"]: x.get("targetPort") for x in svc["spec"]["ports"]}
    check(sports == {7400: "ingest", 3000: "api"}, f"{what}: Service: ingest 7400 and API 3000")
    pdb = one(objs, "PodDisruptionBudget")
    check(labels_match(pdb["spec"]["selector"]["matchLabels"], labels) and pdb["spec"].get("maxUnavailable") == 1,
          f"{what}: a PodDisruptionBudget: one replica at a time")

    node_cfg = configs[("ayaflow-node-config", "node.yaml")]
    urls = node_cfg.get("collector", [])
    urls = urls if isinstance(urls, list) else [urls]
    check(urls == [f"tcp://{svc['metadata']['name']}.{ns}.svc:{7400}"],
          f"{what}: node config: the collector is the Service ({urls})")
    check(one(objs, "DaemonSet")["spec"]["template"]["spec"].get("dnsPolicy") == "ClusterFirstWithHostNet",
          f"{what}: node: resolves the Service name (ClusterFirstWithHostNet)")
    return m, pwfile


def check_overlay():
    ns, objs, configs = kustomize_objects(OVERLAY)
    _, base_objs, base_configs = kustomize_objects(BASE)
    sqlite_labels = one(base_objs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    check(ns == "ayaflow", "overlay: namespace ayaflow")
    check(configs[("ayaflow-node-config", "node.yaml")] == base_configs[("ayaflow-node-config", "node.yaml")],
          "overlay: the nodes' configuration is the base's")
    m, pwfile = check_overlay_objects(objs, configs, ns, "overlay", sqlite_labels)
    port = int(m.group(4) or (8443 if m.group(1) else 8123)) if m else 8123

    # NetworkPolicies: the base's ingress example covers these pods too; the overlay's
    # egress example lets them reach ClickHouse.
    labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    ingress = load_all(os.path.join(K8S, "networkpolicy.example.yaml"))[0]
    check(labels_match(ingress["spec"]["podSelector"]["matchLabels"], labels),
          "overlay: k8s/networkpolicy.example.yaml selects the collectors")
    eg = load_all(os.path.join(OVERLAY, "networkpolicy.example.yaml"))
    check(len(eg) == 1 and eg[0]["kind"] == "NetworkPolicy" and eg[0]["spec"]["policyTypes"] == ["Egress"],
          "overlay networkpolicy.example.yaml: one egress NetworkPolicy")
    eg = eg[0]
    check(labels_match(eg["spec"]["podSelector"]["matchLabels"], labels), "overlay NetworkPolicy selects the collectors")
    allowed = {(p.get("protocol", "TCP"), p["port"]) for r in eg["spec"]["egress"] for p in r.get("ports", [])}
    check(("TCP", port) in allowed and ("UDP", 53) in allowed,
          f"overlay NetworkPolicy: collector -> ClickHouse on TCP {port}, DNS ({sorted(allowed)})")
    check(all(r.get("to") and r.get("ports") for r in eg["spec"]["egress"]),
          "overlay NetworkPolicy: every rule names its peers and ports")

    # The collector takes the overlay's configuration: it gets as far as opening the
    # store (here a closed port on loopback) once the password file exists.
    binary = os.path.join(BUILD, "ayaflow-collector")
    if os.path.exists(binary):
        tmp = tempfile.mkdtemp(prefix="ayf-deploy-overlay.")
        try:
            pw = os.path.join(tmp, "password")
            with open(pw, "w", encoding="utf-8") as f:
                f.write("not-a-real-one\n")
            r = subprocess.run([binary, "--config", os.path.join(OVERLAY, "collector.yaml"),
                                "--store-password-file", pw,
                                "--store", "clickhouse://ayaflow@127.0.0.1:9/ayaflow"],
                               capture_output=True, text=True, timeout=60, check=False)
            if not check(r.returncode == 2 and "cannot open the history store "
                         "clickhouse://ayaflow@127.0.0.1:9/ayaflow: server unreachable" in r.stderr,
                         "overlay: ayaflow-collector takes collector.yaml (and stops at the unreachable store)"):
                print(r.returncode, r.stderr)
            r = subprocess.run([binary, "--config", os.path.join(OVERLAY, "collector.yaml")],
                               capture_output=True, text=True, timeout=60, check=False)
            if not check(r.returncode == 2 and f"--store-password-file: {pwfile}: No such file" in r.stderr,
                         "overlay: without the Secret's file the collector stops naming it (exit 2)"):
                print(r.returncode, r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"note: {binary} not built; the collector not run on the overlay's configuration")

    built = kubectl_kustomize(OVERLAY)
    if built is not None:
        check_built(built, objs, ns, "overlay")
        check_overlay_objects(built, built_configs(built), ns, "overlay (kubectl kustomize)", sqlite_labels)


# --- compose, Prometheus, Grafana ---------------------------------------------------

def check_monitoring():
    path = os.path.join(DEPLOY, "docker-compose.monitoring.example.yml")
    base = os.path.dirname(path)
    compose = load_yaml(path)
    svcs = compose["services"]
    check(set(svcs) >= {"collector", "node", "prometheus", "grafana"},
          "compose: collector, node, prometheus, grafana")
    for name, s in svcs.items():
        if "build" in s:
            ctx = os.path.normpath(os.path.join(base, s["build"]["context"]))
            check(os.path.isfile(os.path.join(ctx, s["build"]["dockerfile"])), f"compose {name}: Dockerfile exists")
        for v in s.get("volumes", []):
            host = v.split(":")[0]
            if host.startswith("."):
                check(os.path.exists(os.path.join(base, host)), f"compose {name}: {host} exists")
    node = svcs["node"]
    check(node.get("cap_drop") == ["ALL"] and sorted(node.get("cap_add", [])) == ["BPF", "NET_ADMIN", "PERFMON"]
          and not node.get("privileged"), "compose node: only BPF, NET_ADMIN, PERFMON")
    check(any(v.split(":")[1] == "/sys/fs/bpf" for v in node.get("volumes", [])), "compose node: /sys/fs/bpf")
    check("tcp://collector:7400" in node.get("command", []), "compose node: sends to the collector service")
    check(svcs["collector"].get("read_only") is True and svcs["collector"].get("cap_drop") == ["ALL"],
          "compose collector: read-only, no capabilities")

    prom_mount = [v for v in svcs["prometheus"]["volumes"] if v.split(":")[1] == "/etc/prometheus"]
    check(len(prom_mount) == 1, "compose prometheus: configuration mounted at /etc/prometheus")
    prom = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    check(set(jobs) == {"ayaflow-node", "ayaflow-collector"}, "prometheus.yml: jobs ayaflow-node, ayaflow-collector")
    targets = {j: [t for sc in jobs[j]["static_configs"] for t in sc["targets"]] for j in jobs}
    check(targets == {"ayaflow-node": ["node:3001"], "ayaflow-collector": ["collector:3000"]},
          "prometheus.yml: targets are the compose services on their ports")
    for rf in prom.get("rule_files", []):
        check(os.path.isfile(os.path.join(DEPLOY, "prometheus", rf)), f"prometheus.yml: rule file {rf} exists")
    kprom = load_yaml(os.path.join(DEPLOY, "prometheus", "prometheus-kubernetes.yml"))
    kjobs = {j["job_name"]: j for j in kprom["scrape_configs"]}
    check(set(kjobs) == set(jobs), "prometheus-kubernetes.yml: the same job names")
    for jn, app in (("ayaflow-node", "ayaflow-node"), ("ayaflow-collector", "ayaflow-collector")):
        keep = [r for r in kjobs[jn]["relabel_configs"] if r.get("action") == "keep"
                and r["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]]
        check(keep and re.fullmatch(keep[0]["regex"], app), f"prometheus-kubernetes.yml {jn}: keeps pods of {app}")

    graf = svcs["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in graf["volumes"]}
    ds = load_yaml(os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yml"))
    check(ds["datasources"][0]["type"] == "prometheus"
          and ds["datasources"][0]["url"] == "http://prometheus:9090", "grafana datasource: the prometheus service")
    prov = load_yaml(os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "ayaflow.yml"))
    dpath = prov["providers"][0]["options"]["path"]
    check(dpath in mounts and os.path.normpath(os.path.join(base, mounts[dpath]))
          == os.path.join(DEPLOY, "grafana", "dashboards"), "grafana: the dashboards directory is provisioned")
    check(any(t.startswith("/etc/grafana/provisioning") for t in mounts), "grafana: provisioning mounted")

    uids = set()
    for f in sorted(os.listdir(os.path.join(DEPLOY, "grafana", "dashboards"))):
        with open(os.path.join(DEPLOY, "grafana", "dashboards", f), encoding="utf-8") as fh:
            d = json.load(fh)
        panels = [p for p in d["panels"] if p["type"] != "row"]
        ids = [p["id"] for p in d["panels"]]
        check(d["uid"] not in uids and len(ids) == len(set(ids)), f"{f}: unique uid and panel ids")
        uids.add(d["uid"])
        check(all(p.get("targets") and all(t.get("expr") and t.get("refId") for t in p["targets"]) for p in panels),
              f"{f}: every panel has queries ({sum(len(p['targets']) for p in panels)})")
        check(all(p["datasource"]["uid"] == "${datasource}" for p in panels), f"{f}: panels use the datasource variable")
        check(all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in d["panels"]), f"{f}: panels fit the grid")
    check(uids == {"ayaflow-cluster", "ayaflow-node"}, "dashboards: cluster overview and per-node view")


# --- images ------------------------------------------------------------------------

def dockerfile_stages(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append({"from": rest.split()[0], "as": rest.split()[-1] if " AS " in rest.upper() else None,
                           "run": [], "copy": [], "entrypoint": None, "user": None})
        elif instr == "RUN":
            stages[-1]["run"].append(" ".join(rest.split()))
        elif instr == "COPY":
            stages[-1]["copy"].append(rest.split())
        elif instr == "ENTRYPOINT":
            stages[-1]["entrypoint"] = json.loads(rest)
        elif instr == "USER":
            stages[-1]["user"] = rest
    return stages


def needed_packages(binary):
    """Debian packages holding the shared libraries BINARY links (sanitizer runtimes of
    the Debug build left out: the images are built Release)."""
    out = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout
    libs = [l.split()[1] for l in out.splitlines() if l.strip().startswith("NEEDED")]
    ldcache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    pkgs = set()
    for lib in libs:
        if re.match(r"lib(asan|ubsan|c|m|pthread|dl|rt)\.so", lib):
            continue
        m = re.search(r"^\s*" + re.escape(lib) + r" \(libc6,x86-64\) => (\S+)$", ldcache, re.M)
        assert m, f"{lib} not in the linker cache"
        real = os.path.realpath(m.group(1))
        owner = None
        for cand in (m.group(1), real):
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True, check=False)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        assert owner, f"no package owns {lib}"
        pkgs.add(owner)
    return pkgs


def check_images():
    expected_build = [
        "bash scripts/setup.sh",
        "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release",
        'cmake --build build -j"$(nproc)"',
        "DESTDIR=/out cmake --install build --prefix /usr",
    ]
    dest = tempfile.mkdtemp(prefix="ayf-deploy-install.")
    try:
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=dest),
                           capture_output=True, text=True, check=False)
        check(r.returncode == 0, "the images' install step (cmake --install --prefix /usr, DESTDIR) runs")
        for name, binaries in (("Dockerfile.node", ["ayaflow-node"]),
                               ("Dockerfile.collector", ["ayaflow-collector", "ayaflowctl"])):
            path = os.path.join(DEPLOY, name)
            stages = dockerfile_stages(path)
            check(len(stages) == 2, f"{name}: two stages (build, runtime)")
            build, run = stages[0], stages[-1]
            check(build["from"] == "debian:12" and run["from"] == "debian:12-slim",
                  f"{name}: Debian 12 build and runtime bases")
            check(build["run"] == expected_build, f"{name}: the build stage runs setup.sh and the CMake build only")
            check(os.path.isfile(path + ".dockerignore"), f"{name}: its .dockerignore keeps build trees out")
            copies = [c for c in run["copy"] if c[0] == f"--from={build['as']}"]
            for c in copies:
                check(c[1].startswith("/out/") and os.path.exists(os.path.join(dest, c[1][len("/out/"):])),
                      f"{name}: COPY {c[1]} is produced by the install step")
            copied = {os.path.basename(c[2]) for c in copies}
            check(set(binaries) <= copied, f"{name}: copies {', '.join(binaries)}")
            check(run["entrypoint"] and run["entrypoint"][0] == f"/usr/bin/{binaries[0]}",
                  f"{name}: ENTRYPOINT {binaries[0]}")
            installs = " ".join(run["run"])
            m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", installs)
            pkgs = set(m.group(1).split()) if m else set()
            for b in binaries:
                need = needed_packages(os.path.join(BUILD, b))
                check(need <= pkgs, f"{name}: runtime packages cover {b}'s libraries "
                                    f"(missing: {sorted(need - pkgs) or 'none'})")
            if name == "Dockerfile.collector":
                check(run["user"] and not run["user"].startswith("0"), f"{name}: runs as a non-root user")
                check("ca-certificates" in pkgs, f"{name}: ca-certificates (clickhouse+https:// verifies the server)")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def check_systemd():
    for unit, extra in (("ayaflow-node", ["AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON",
                                          "CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON"]),
                        ("ayaflow-collector", ["CapabilityBoundingSet=", "StateDirectory=ayaflow"])):
        with open(os.path.join(DEPLOY, "systemd", unit + ".service.in"), encoding="utf-8") as f:
            lines = [l.strip() for l in f]
        for d in ["ProtectSystem=strict", "NoNewPrivileges=yes", "DynamicUser=yes"] + extra:
            check(d in lines, f"{unit}.service: {d}")


def main():
    for group in (check_kubernetes, check_overlay, check_monitoring, check_images, check_systemd):
        print(f"--- {group.__name__}")
        try:
            group()
        except (AssertionError, KeyError, IndexError, TypeError, yaml.YAMLError, ValueError) as e:
            check(False, f"{group.__name__}: {type(e).__name__}: {e}")
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
