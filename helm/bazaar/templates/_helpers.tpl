{{/*
The mesh policy, parsed once per use from mesh-policy.yaml (the file the
binaries compile in) and checked against the chart: JSON, for fromJson.
*/}}
{{- define "bazaar.policy" -}}
{{- $policy := .Files.Get "mesh-policy.yaml" | fromYaml -}}
{{- if hasKey $policy "Error" -}}
{{- fail (printf "mesh-policy.yaml: %s" $policy.Error) -}}
{{- end -}}
{{- if ne .Release.Namespace $policy.namespace -}}
{{- fail (printf "the mesh policy's identities are in namespace %q (spiffe://%s/ns/%s/sa/<workload>): install into it (-n %s), or change namespace in mesh-policy.yaml and rebuild the images" $policy.namespace $policy.trust_domain $policy.namespace $policy.namespace) -}}
{{- end -}}
{{- range $name, $service := $policy.services -}}
{{- if not (hasKey $.Values $name) -}}
{{- fail (printf "mesh-policy.yaml names service %q, which has no values block" $name) -}}
{{- end -}}
{{- if not (has $name $policy.workloads) -}}
{{- fail (printf "mesh-policy.yaml: service %q is not among workloads" $name) -}}
{{- end -}}
{{- end -}}
{{- if not (has "gateway" $policy.workloads) -}}
{{- fail "mesh-policy.yaml: the gateway is not among workloads" -}}
{{- end -}}
{{- toJson $policy -}}
{{- end -}}

{{/*
The workloads this chart deploys: the REST gateway and every service of the
policy. Policy workloads outside it (dev-client: the certificate `make run`
writes for grpcurl) have no pods, so no rules name them. JSON list.
*/}}
{{- define "bazaar.deployed" -}}
{{- $policy := include "bazaar.policy" . | fromJson -}}
{{- toJson (prepend (keys $policy.services | sortAlpha) "gateway") -}}
{{- end -}}

{{/*
Callers (workloads or groups) expanded to deployed workloads, sorted.
Arguments: dict "callers" "policy" "deployed". JSON list.
*/}}
{{- define "bazaar.expandCallers" -}}
{{- $out := list -}}
{{- range .callers -}}
{{- $members := ternary (index $.policy.groups .) (list .) (hasKey ($.policy.groups | default dict) .) -}}
{{- range $members -}}
{{- if has . $.deployed -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson ($out | uniq | sortAlpha) -}}
{{- end -}}

{{/*
Every deployed workload that calls some method of one service. Arguments:
dict "service" (its policy block) "policy" "deployed". JSON list.
*/}}
{{- define "bazaar.callersOf" -}}
{{- $out := list -}}
{{- range $method, $rule := .service.methods -}}
{{- $out = concat $out (include "bazaar.expandCallers" (dict "callers" $rule.callers "policy" $.policy "deployed" $.deployed) | fromJsonArray) -}}
{{- end -}}
{{- toJson ($out | uniq | sortAlpha) -}}
{{- end -}}

{{/* A workload's SPIFFE principal as Istio writes it. Arguments: dict "policy" "workload". */}}
{{- define "bazaar.principal" -}}
{{- printf "%s/ns/%s/sa/%s" .policy.trust_domain .policy.namespace .workload -}}
{{- end -}}

{{/* The port a workload serves on. Arguments: dict "root" "workload". */}}
{{- define "bazaar.port" -}}
{{- if eq .workload "gateway" -}}
{{- .root.Values.gateway.port -}}
{{- else -}}
{{- $policy := include "bazaar.policy" .root | fromJson -}}
{{- (index $policy.services .workload).port | int -}}
{{- end -}}
{{- end -}}

{{/* Whether the services use an external PostgreSQL: "true" or "". */}}
{{- define "bazaar.externalPostgres" -}}
{{- with .Values.postgres.external -}}
{{- if or .url .urls .existingSecret -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
How many pods a workload may have beyond one: SQLite lives in each pod, so
a service without PostgreSQL runs alone. Arguments: dict "root" "workload".
"true" or "".
*/}}
{{- define "bazaar.canScale" -}}
{{- if or (eq .workload "gateway") (include "bazaar.externalPostgres" .root) -}}true{{- end -}}
{{- end -}}

{{- define "bazaar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "bazaar.labels" -}}
helm.sh/chart: {{ include "bazaar.chart" . }}
app.kubernetes.io/part-of: bazaar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The selector of one workload's pods. Arguments: dict "root" "workload". */}}
{{- define "bazaar.selector" -}}
app.kubernetes.io/name: {{ .workload }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Labels of one workload's objects. Arguments: dict "root" "workload". */}}
{{- define "bazaar.workloadLabels" -}}
helm.sh/chart: {{ include "bazaar.chart" .root }}
app.kubernetes.io/part-of: bazaar
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{ include "bazaar.selector" . }}
app.kubernetes.io/component: {{ ternary "edge" "service" (eq .workload "gateway") }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{- end -}}

{{/* The name of the Secret holding the database URLs. */}}
{{- define "bazaar.databaseSecret" -}}
{{- .Values.postgres.external.existingSecret | default (printf "%s-database" .Release.Name) -}}
{{- end -}}

{{- define "bazaar.signingKeySecret" -}}
{{- .Values.user.signingKey.existingSecret | default (printf "%s-user-signing-key" .Release.Name) -}}
{{- end -}}

{{- define "bazaar.bootstrapAdminSecret" -}}
{{- .Values.user.bootstrapAdmin.existingSecret | default (printf "%s-user-bootstrap-admin" .Release.Name) -}}
{{- end -}}

{{/* A service's in-cluster URL. Arguments: dict "root" "workload". */}}
{{- define "bazaar.url" -}}
{{- printf "http://%s.%s.svc.cluster.local:%s" .workload .root.Release.Namespace (include "bazaar.port" .) -}}
{{- end -}}

{{/*
Seconds a pod gets to stop: the preStop sleep, the server's shutdown grace,
and a margin.
*/}}
{{- define "bazaar.terminationGrace" -}}
{{- with .Values.server -}}
{{- add .preStopSleepSeconds .shutdownGraceSeconds .terminationMarginSeconds -}}
{{- end -}}
{{- end -}}
