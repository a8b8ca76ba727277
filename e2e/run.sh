#!/usr/bin/env bash
# End-to-end on kind (needs Docker, kind, kubectl; helm is built by tools/helm/install.sh
# when not on PATH):
#   1. a kind cluster with three workers in three zones (topology.kubernetes.io/zone)
#   2. the Floe image built from the Dockerfile and loaded into the nodes
#   3. the chart installed (operator, CRD, RBAC)
#   4. metrics-server (the CPU metric of the HorizontalPodAutoscaler)
#   5. examples/local.yaml: MinIO in the cluster, a 3-broker StreamCluster on the s3 WAL
#      (the operator creates the bucket on MinIO)
#   6. numbered records produced with Apache Kafka's own console tools, in Jobs
#   7. autoscaling switched on (3..6 brokers on CPU); a load Job (kafka-producer-perf-test)
#      makes the HPA scale out to 6 while numbered records keep being produced; the load
#      stops and the HPA scales back in to 3, still producing numbered records
#   8. every numbered record ever acknowledged is consumed back: nothing lost.
#
#   e2e/run.sh              run it (deletes the cluster afterwards; --keep keeps it)
#   e2e/run.sh --dry-run    print every command, write and validate every manifest, run nothing
#                           (no Docker needed; test/packaging/e2e.test.ts runs this mode)
#
# Labels: kind=smoke+disruptive (scaling moves partitions), depth=full.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dry_run=0
keep=0
cluster="floe-e2e"
workdir=""
records="${FLOE_E2E_RECORDS:-2000}" # per produce step
partitions=12
image="floe:e2e"
kafka_image="${FLOE_E2E_KAFKA_IMAGE:-apache/kafka:3.9.1}"
# Load that drives the HPA's CPU metric up (records/s of 1 KiB), and the HPA's target.
load_rate="${FLOE_E2E_LOAD_RATE:-10000}"
cpu_target="${FLOE_E2E_CPU_TARGET:-40}"
# How long each scaling phase may take before the run fails (the HPA scales in by one broker a minute).
phase_timeout="${FLOE_E2E_PHASE_TIMEOUT:-900}"
metrics_server_chart_version="3.12.2"
namespace="default"
sc_name="local"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --keep) keep=1 ;;
    --name) cluster="$2"; shift ;;
    --workdir) workdir="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "e2e/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

workdir="${workdir:-$(mktemp -d "${TMPDIR:-/tmp}/floe-e2e.XXXXXX")}"
mkdir -p "$workdir"
# What clients are given in Metadata and use to bootstrap (src/operator/specs/common.ts: bootstrapAddress).
bootstrap="${sc_name}-bootstrap.${namespace}.svc:9092"

log() { printf '\n== %s\n' "$*" >&2; }
# Every command goes through run: printed always, executed unless --dry-run.
run() {
  printf '+ %s\n' "$*"
  if [[ $dry_run -eq 0 ]]; then "$@"; fi
}

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "e2e/run.sh: $tool is required (or use --dry-run)" >&2; exit 1; }
  done
}

helm_bin() {
  if command -v helm >/dev/null 2>&1; then command -v helm; return; fi
  bash "$repo/tools/helm/install.sh" >&2
  echo "${FLOE_CACHE:-$HOME/.cache/floe}/bin/helm"
}

# ---- manifests (written in both modes, so a dry run shows and validates exactly what a run applies)

write_kind_config() {
  cat >"$workdir/kind.yaml" <<EOF
# Three workers, one per zone: the operator pins one StatefulSet to each zone.
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
    labels:
      topology.kubernetes.io/zone: zone-a
  - role: worker
    labels:
      topology.kubernetes.io/zone: zone-b
  - role: worker
    labels:
      topology.kubernetes.io/zone: zone-c
EOF
}

# examples/local.yaml split in two: MinIO first (so the operator can create the bucket at
# once, before brokers start), then the StreamCluster with the image loaded into kind.
write_example() {
  awk -v out_store="$workdir/object-store.yaml" -v out_sc="$workdir/streamcluster.yaml" -v image="$image" '
    function flush() {
      if (doc == "") return
      if (doc ~ /\nkind: StreamCluster\n/) {
        # The image kind loaded into the nodes, never pulled.
        sub(/\nspec:\n/, "\nspec:\n  image: " image "\n  imagePullPolicy: Never\n", doc)
        printf "%s", doc > out_sc
      } else {
        printf "---\n%s", doc > out_store
      }
      doc = ""
    }
    /^---$/ { flush(); next }
    /^#/ && doc == "" { next }
    { doc = doc (doc == "" ? "\n" : "") $0 "\n" }
    END { flush() }
  ' "$repo/examples/local.yaml"
  # awk leaves a leading newline on the StreamCluster document; keep the file tidy.
  sed -i.bak '1{/^$/d;}' "$workdir/streamcluster.yaml" && rm -f "$workdir/streamcluster.yaml.bak"
}

# A Job from the Kafka image running a shell script; $1 name, $2 script.
write_job() { # $1 name, $2 script, $3 deadline in seconds (default 600)
  local name="$1" script="$2" deadline="${3:-600}" file="$workdir/job-$1.yaml"
  {
    cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $name
  namespace: $namespace
  labels: {app.kubernetes.io/part-of: floe-e2e}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: $deadline
  template:
    metadata:
      labels: {app.kubernetes.io/part-of: floe-e2e}
    spec:
      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: $name
          image: $kafka_image
          command: ["/bin/bash", "-euo", "pipefail", "-c"]
          args:
            - |
EOF
    sed 's/^/              /' <<<"$script"
    cat <<EOF
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 100m, memory: 512Mi}
            limits: {memory: 1Gi}
EOF
  } >"$file"
}

# Autoscaling switched on for the running cluster, as a user would: 3 to 6 brokers on CPU,
# scaling in after one quiet minute (the operator's HPA then removes one broker a minute).
write_autoscaling_patch() {
  cat >"$workdir/autoscaling.patch" <<EOF
spec:
  autoscaling:
    enabled: true
    minReplicas: 3
    maxReplicas: 6
    targetCPUUtilizationPercentage: $cpu_target
    scaleDownStabilizationSeconds: 60
EOF
}

# Unnumbered load for the HPA to see: Kafka's own perf tool, to its own topic. Deleted once
# the cluster has scaled out; its record count only bounds a run that is interrupted.
load_script() {
  cat <<EOF
kafka=/opt/kafka/bin
\$kafka/kafka-topics.sh --bootstrap-server $bootstrap --create --if-not-exists --topic e2e-load --partitions $partitions --replication-factor 1
\$kafka/kafka-producer-perf-test.sh --topic e2e-load --num-records $((load_rate * phase_timeout)) --record-size 1024 --throughput $load_rate \\
  --producer-props bootstrap.servers=$bootstrap acks=all linger.ms=5
EOF
}

produce_script() { # $1 first record number, $2 last
  cat <<EOF
kafka=/opt/kafka/bin
\$kafka/kafka-topics.sh --bootstrap-server $bootstrap --create --if-not-exists --topic e2e --partitions $partitions --replication-factor 1
# Numbered records, acks=all and idempotence: every line the tool sends must come back.
seq $1 $2 | \$kafka/kafka-console-producer.sh --bootstrap-server $bootstrap --topic e2e \\
  --producer-property acks=all --producer-property enable.idempotence=true \\
  --producer-property delivery.timeout.ms=120000 --producer-property linger.ms=5
echo "produced $1..$2"
EOF
}

consume_script() { # $1 records expected in total
  cat <<EOF
kafka=/opt/kafka/bin
\$kafka/kafka-console-consumer.sh --bootstrap-server $bootstrap --topic e2e --from-beginning \\
  --group e2e-verify --max-messages $1 --timeout-ms 180000 >/tmp/got || true
sort -n /tmp/got | uniq >/tmp/unique
echo "RESULT count=\$(wc -l </tmp/got) unique=\$(wc -l </tmp/unique) sha256=\$(sha256sum </tmp/unique | cut -d' ' -f1)"
EOF
}

write_manifests() {
  write_kind_config
  write_example
  write_autoscaling_patch
  write_job e2e-load "$(load_script)" "$phase_timeout"
  helm_values=(--set image.repository="${image%%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never)
  "$helm" template floe "$repo/charts/floe" --namespace floe-system --include-crds --kube-version "${FLOE_E2E_KUBE_VERSION:-1.33.0}" "${helm_values[@]}" >"$workdir/chart.yaml"
}

# Without a cluster: helm lint, every document parses and names its kind, the kind config
# has one worker per zone, the StreamCluster uses the loaded image. (test/packaging/e2e.test.ts
# also applies every manifest to a real kube-apiserver with dryRun=All.)
validate_manifests() {
  "$helm" lint "$repo/charts/floe" --strict "${helm_values[@]}" >/dev/null
  (cd "$repo" && node --input-type=module -e '
    import fs from "node:fs";
    import { parseAllDocuments } from "yaml";
    const dir = process.argv[1];
    let n = 0;
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
      for (const d of parseAllDocuments(fs.readFileSync(`${dir}/${f}`, "utf8"))) {
        if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`);
        const o = d.toJS();
        if (o === null) continue;
        if (!o.apiVersion || !o.kind) throw new Error(`${f}: a document without apiVersion/kind`);
        if (o.kind !== "Cluster" && !o.metadata?.name) throw new Error(`${f}: ${o.kind} without metadata.name`);
        n++;
      }
    }
    const kind = parseAllDocuments(fs.readFileSync(`${dir}/kind.yaml`, "utf8"))[0].toJS();
    const zones = kind.nodes.filter((x) => x.role === "worker").map((x) => x.labels["topology.kubernetes.io/zone"]);
    const sc = parseAllDocuments(fs.readFileSync(`${dir}/streamcluster.yaml`, "utf8"))[0].toJS();
    if (JSON.stringify([...zones].sort()) !== JSON.stringify([...sc.spec.zones].sort())) throw new Error(`kind zones ${zones} differ from the StreamCluster zones ${sc.spec.zones}`);
    if (sc.spec.imagePullPolicy !== "Never" || !sc.spec.image) throw new Error("the StreamCluster must use the image loaded into kind");
    if (sc.spec.autoscaling?.enabled) throw new Error("the StreamCluster starts with autoscaling off: the run switches it on");
    const patch = parseAllDocuments(fs.readFileSync(`${dir}/autoscaling.patch`, "utf8"))[0].toJS();
    if (!patch.spec?.autoscaling?.enabled || patch.spec.autoscaling.minReplicas !== 3 || patch.spec.autoscaling.maxReplicas !== 6) throw new Error("autoscaling.patch must switch on autoscaling between 3 and 6 brokers");
    console.log(`validated ${n} manifests in ${dir}`);
  ' "$workdir")
}

# ---- steps

wait_job() { # $1 name; prints its log; fails at once with the log when the Job fails
  local probe=(kubectl -n "$namespace" get "job/$1" -o 'jsonpath={.status.conditions[?(@.status=="True")].type}')
  printf '+ %s   # every 5 s until Complete or Failed, at most 10 min\n' "${probe[*]}"
  if [[ $dry_run -eq 0 ]]; then
    local deadline=$((SECONDS + 600)) state=""
    while :; do
      state="$("${probe[@]}" 2>/dev/null || true)"
      [[ " $state " == *" Complete "* ]] && break
      if [[ " $state " == *" Failed "* || $SECONDS -ge $deadline ]]; then
        kubectl -n "$namespace" logs "job/$1" --tail=200 || true
        echo "e2e/run.sh: job $1 did not complete (conditions: ${state:-none})" >&2
        exit 1
      fi
      sleep 5
    done
  fi
  run kubectl -n "$namespace" logs "job/$1" --tail=20
}

# Numbered records, one Job after another, until the StreamCluster has settled at $1 brokers
# (spec.replicas, which the HPA writes through the scale subresource, and readyReplicas).
# The script never sets replicas itself: only the HPA does.
produced=0
batches=0
produce_until() { # $1 brokers
  local deadline=$((SECONDS + phase_timeout)) probe=(kubectl -n "$namespace" get "streamcluster/$sc_name" -o 'jsonpath={.spec.replicas}/{.status.readyReplicas}')
  while :; do
    batches=$((batches + 1))
    write_job "e2e-produce-$batches" "$(produce_script $((produced + 1)) $((produced + records)))"
    run kubectl apply --server-side -f "$workdir/job-e2e-produce-$batches.yaml"
    wait_job "e2e-produce-$batches"
    produced=$((produced + records))
    printf '+ %s   # after each batch, until it is %s/%s\n' "${probe[*]}" "$1" "$1"
    if [[ $dry_run -eq 1 ]]; then
      echo "+ (repeat: produce the next $records records while the HPA moves toward $1 brokers)"
      break
    fi
    local now
    now="$("${probe[@]}" 2>/dev/null || true)"
    echo "brokers (desired/ready): $now"
    [[ "$now" == "$1/$1" ]] && break
    if [[ $SECONDS -ge $deadline ]]; then
      kubectl -n "$namespace" describe "hpa/$sc_name" || true
      echo "e2e/run.sh: the HPA did not bring $sc_name to $1 ready brokers within ${phase_timeout} s (now: ${now:-unknown})" >&2
      exit 1
    fi
  done
  run kubectl -n "$namespace" wait "streamcluster/$sc_name" --for=condition=Ready --timeout=10m
  run kubectl -n "$namespace" get "hpa/$sc_name"
  run kubectl -n "$namespace" get statefulsets -l app.kubernetes.io/instance="$sc_name" -o wide
}

cleanup() {
  if [[ $dry_run -eq 0 && $keep -eq 0 ]]; then
    log "delete the kind cluster (--keep keeps it)"
    kind delete cluster --name "$cluster" || true
  fi
}

main() {
  if [[ $dry_run -eq 0 ]]; then need docker kind kubectl node; fi
  helm="$(helm_bin)"
  log "manifests in $workdir"
  write_manifests
  validate_manifests
  trap cleanup EXIT

  log "kind cluster $cluster: one control plane, three workers in zone-a, zone-b, zone-c"
  run kind create cluster --name "$cluster" --config "$workdir/kind.yaml" --wait 180s
  run kubectl get nodes -L topology.kubernetes.io/zone

  log "image $image from the Dockerfile, loaded into every node"
  run docker build -t "$image" "$repo"
  run kind load docker-image "$image" --name "$cluster"

  log "the chart: operator, CRD, RBAC"
  run "$helm" install floe "$repo/charts/floe" --namespace floe-system --create-namespace "${helm_values[@]}" --wait --timeout 5m
  run kubectl -n floe-system rollout status deployment/floe --timeout=5m

  log "metrics-server: the CPU metric the HorizontalPodAutoscaler reads"
  run "$helm" upgrade --install metrics-server metrics-server --repo https://kubernetes-sigs.github.io/metrics-server/ \
    --version "$metrics_server_chart_version" --namespace kube-system --set 'args={--kubelet-insecure-tls}' --wait --timeout 5m

  log "object store (MinIO)"
  run kubectl apply --server-side -f "$workdir/object-store.yaml"
  run kubectl -n "$namespace" rollout status deployment/minio --timeout=5m

  log "StreamCluster $sc_name: 3 brokers, one per zone; the operator creates its bucket"
  run kubectl apply --server-side -f "$workdir/streamcluster.yaml"
  run kubectl -n "$namespace" wait "streamcluster/$sc_name" --for=condition=Ready --timeout=10m
  run kubectl -n "$namespace" get streamcluster "$sc_name" -o wide

  log "produce at 3 brokers"
  produce_until 3

  log "autoscaling on (3..6 brokers, CPU target ${cpu_target}%), and load for it to see"
  run kubectl -n "$namespace" patch "streamcluster/$sc_name" --type merge --patch-file "$workdir/autoscaling.patch"
  run kubectl apply --server-side -f "$workdir/job-e2e-load.yaml"
  log "produce while the HPA scales out to 6"
  produce_until 6

  log "load off; produce while the HPA scales back in to 3"
  run kubectl -n "$namespace" delete job/e2e-load --wait=true
  produce_until 3

  log "consume everything back"
  write_job e2e-consume "$(consume_script "$produced")"
  run kubectl apply --server-side -f "$workdir/job-e2e-consume.yaml"
  wait_job e2e-consume
  local total=$produced want
  want="$(seq 1 "$total" | sha256sum | cut -d' ' -f1)"
  if [[ $dry_run -eq 1 ]]; then
    echo "+ expect: RESULT unique=$total sha256=$want (records 1..$total, each at least once)"
    return
  fi
  local result
  result="$(kubectl -n "$namespace" logs job/e2e-consume | grep '^RESULT ' | tail -1)"
  echo "$result"
  if [[ "$result" != *"unique=$total sha256=$want"* ]]; then
    echo "e2e/run.sh: FAILED: expected every record 1..$total back (unique=$total sha256=$want), got: $result" >&2
    exit 1
  fi
  echo "e2e: PASSED: $total records produced in $batches batches while the HPA scaled 3 -> 6 -> 3 brokers, all consumed back"
}

main
