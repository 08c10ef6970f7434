{{/* The release's base name: the release name, or <release>-fsb when it lacks "fsb". */}}
{{- define "fsb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fsb.controller.name" -}}{{ include "fsb.fullname" . }}-controller{{- end -}}
{{- define "fsb.agent.name" -}}{{ include "fsb.fullname" . }}-agent{{- end -}}

{{/* Labels of every object; "fsb.selector" with the component are the pods' selector. */}}
{{- define "fsb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fsb.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image NAME: <repository>/<NAME>:<tag or appVersion>. Call with (list $ NAME). */}}
{{- define "fsb.image" -}}
{{- $top := index . 0 -}}
{{- printf "%s/%s:%s" $top.Values.image.repository (index . 1) (default $top.Chart.AppVersion $top.Values.image.tag) -}}
{{- end -}}

{{/* The pods' imagePullSecrets field, "" without pull secrets. */}}
{{- define "fsb.pullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The controller's agent registration address, as agents dial it. */}}
{{- define "fsb.controller.agentAddress" -}}
{{ include "fsb.controller.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.controller.service.agentPort }}
{{- end -}}

{{/* The Secret holding the admin token of the pools Job ("" when none). */}}
{{- define "fsb.adminTokenSecret" -}}
{{- if .Values.pools.adminTokenSecret -}}
{{ .Values.pools.adminTokenSecret }}
{{- else if .Values.tokens.generate -}}
{{ include "fsb.fullname" . }}-admin-token
{{- end -}}
{{- end -}}
