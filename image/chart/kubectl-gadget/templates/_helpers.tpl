{{/*
The labels `kubectl gadget deploy` puts on every object (plugin/src/services/deploy/manifests.ts),
with managed-by kubectl-gadget: the CLI and `undeploy` find the objects by it. Then the two
labels Helm charts add.
*/}}
{{- define "kgadget.labels" -}}
k8s-app: gadget
app.kubernetes.io/name: kubectl-gadget
app.kubernetes.io/part-of: kubectl-gadget
app.kubernetes.io/version: {{ .Chart.AppVersion | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/managed-by: kubectl-gadget
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "kgadget.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "kgadget.nodeSelector" -}}
{{- toYaml (merge (deepCopy .Values.nodeSelector) (dict "kubernetes.io/os" "linux")) -}}
{{- end -}}
