{{/* Object names: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "roost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "roost.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* On every object, beside the name and instance labels of roost.labels or a selector's. */}}
{{- define "roost.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "roost.labels" -}}
{{ include "roost.commonLabels" . }}
app.kubernetes.io/name: {{ include "roost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The edges' pods; the trial Redis has another component, so no edge selector picks it. */}}
{{- define "roost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: edge
{{- end -}}

{{- define "roost.metricsLabels" -}}
app.kubernetes.io/name: {{ include "roost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end -}}

{{- define "roost.redisTrialLabels" -}}
app.kubernetes.io/name: {{ include "roost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis-trial
{{- end -}}

{{- define "roost.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "roost.tlsEnabled" -}}
{{- if .Values.tls.existingSecret }}true{{ end -}}
{{- end -}}

{{/* The password file's Secret: the operator's, or the chart's own made from auth.passwordFile.entries. */}}
{{- define "roost.passwordSecret" -}}
{{- if .Values.auth.passwordFile.existingSecret -}}
{{- .Values.auth.passwordFile.existingSecret -}}
{{- else if .Values.auth.passwordFile.entries -}}
{{- printf "%s-passwd" (include "roost.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "roost.aclConfigMap" -}}
{{- if .Values.auth.aclFile.existingConfigMap -}}
{{- .Values.auth.aclFile.existingConfigMap -}}
{{- else if .Values.auth.aclFile.rules -}}
{{- printf "%s-acl" (include "roost.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
ROOST_REDIS_URL. The password is not in values: Kubernetes substitutes $(REDIS_PASSWORD), an
env var from the Secret defined before this one, into the URL when it starts the container.
*/}}
{{- define "roost.redisUrl" -}}
{{- if .Values.redis.trial.enabled -}}
{{- printf "redis://%s-redis:6379" (include "roost.fullname" .) -}}
{{- else if .Values.redis.password.existingSecret -}}
{{- regexReplaceAll "^(rediss?://)" .Values.redis.url (printf "${1}%s:$(REDIS_PASSWORD)@" .Values.redis.username) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* Clients disconnected at drain.ratePerSecond, rounded up to whole seconds. */}}
{{- define "roost.drainSeconds" -}}
{{- $d := .Values.drain -}}
{{- $disconnect := div (add $d.expectedConnectionsPerPod (sub $d.ratePerSecond 1)) $d.ratePerSecond -}}
{{- add $d.preStopSeconds $d.delaySeconds $disconnect $d.flushSeconds -}}
{{- end -}}

{{- define "roost.terminationGracePeriodSeconds" -}}
{{- $drain := include "roost.drainSeconds" . | int -}}
{{- $set := .Values.terminationGracePeriodSeconds | int -}}
{{- if eq $set 0 -}}
{{- $drain -}}
{{- else if lt $set $drain -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) is shorter than the drain (%d s: drain.preStopSeconds + delaySeconds + expectedConnectionsPerPod/ratePerSecond + flushSeconds); the pods would be killed mid-drain" $set $drain) -}}
{{- else -}}
{{- $set -}}
{{- end -}}
{{- end -}}

{{/* The listener HAProxy sends PROXY v2 to (haproxy.mode), by its ROOST_PROXY_PROTOCOL name. */}}
{{- define "roost.haproxyListener" -}}
{{- if eq .Values.haproxy.mode "terminate" }}mqtt{{ else if eq .Values.haproxy.mode "passthrough" }}tls{{ end -}}
{{- end -}}

{{/* ROOST_PROXY_PROTOCOL: listeners.proxyProtocol and HAProxy's listener, comma-separated. */}}
{{- define "roost.proxyListeners" -}}
{{- $names := concat .Values.listeners.proxyProtocol (list (include "roost.haproxyListener" .)) -}}
{{- $out := list -}}
{{- range (list "mqtt" "tls" "ws" "wss") -}}
{{- if has . $names }}{{ $out = append $out . }}{{ end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* Listeners clients can connect to, by their ROOST_PROXY_PROTOCOL names. */}}
{{- define "roost.clientListeners" -}}
{{- $l := .Values.listeners -}}
{{- $out := list "mqtt" -}}
{{- if include "roost.tlsEnabled" . }}{{ $out = append $out "tls" }}{{ end -}}
{{- if $l.ws.enabled }}{{ $out = append $out "ws" }}{{ end -}}
{{- if $l.wss.enabled }}{{ $out = append $out "wss" }}{{ end -}}
{{- join "," $out -}}
{{- end -}}

{{/*
ROOST_AUTH_BAN_AFTER. Bans are per source address, which is the client's own only where a PROXY
header carries it: unless every client listener takes one, the default turns bans off rather
than let ten bad logins from anyone behind a shared address lock everyone out.
*/}}
{{- define "roost.authBanAfter" -}}
{{- if kindIs "invalid" .Values.auth.banAfter -}}
{{- $proxied := splitList "," (include "roost.proxyListeners" .) -}}
{{- $all := true -}}
{{- range splitList "," (include "roost.clientListeners" .) -}}
{{- if not (has . $proxied) }}{{ $all = false }}{{ end -}}
{{- end -}}
{{- if $all }}10{{ else }}0{{ end -}}
{{- else -}}
{{- .Values.auth.banAfter | int -}}
{{- end -}}
{{- end -}}

{{/* The operations API's token Secret: the operator's, or the chart's own (templates/admin-secret.yaml). */}}
{{- define "roost.adminSecret" -}}
{{- if .Values.adminApi.enabled -}}
{{- default (printf "%s-admin" (include "roost.fullname" .)) .Values.adminApi.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
deploy/haproxy's `timeout client` and `timeout server` (10m): a connection may be silent for
1.5 x the keep alive, so listeners.maxKeepAliveSeconds must stay within 600 / 1.5.
test/deploy/helm.test.ts reads both files and checks this number against them.
*/}}
{{- define "roost.haproxyTimeoutSeconds" -}}600{{- end -}}

{{/*
Rules across values that the schema does not express, each failing with what to change.
Included by the Deployment, so every render checks them.
*/}}
{{- define "roost.validate" -}}
{{- $redis := .Values.redis -}}
{{- if and $redis.trial.enabled $redis.url -}}
{{- fail "redis.url is set and redis.trial.enabled is true: set redis.trial.enabled=false to use your Redis (the trial Redis is not for production)" -}}
{{- end -}}
{{- if and (not $redis.trial.enabled) (not $redis.url) -}}
{{- fail "redis.url is required when redis.trial.enabled is false (redis://host:6379 or rediss://host:6380)" -}}
{{- end -}}
{{- if and $redis.trial.enabled $redis.password.existingSecret -}}
{{- fail "redis.password.existingSecret is for your own Redis: the trial Redis has no password" -}}
{{- end -}}
{{- if and .Values.auth.passwordFile.existingSecret .Values.auth.passwordFile.entries -}}
{{- fail "auth.passwordFile: set existingSecret or entries, not both" -}}
{{- end -}}
{{- if and .Values.auth.aclFile.existingConfigMap .Values.auth.aclFile.rules -}}
{{- fail "auth.aclFile: set existingConfigMap or rules, not both" -}}
{{- end -}}
{{- if and .Values.listeners.wss.enabled (not .Values.tls.existingSecret) -}}
{{- fail "listeners.wss.enabled needs tls.existingSecret (the certificate of the wss listener)" -}}
{{- end -}}
{{- if and (ne .Values.tls.clientCert "none") (not .Values.tls.clientCa.existingSecret) -}}
{{- fail (printf "tls.clientCert=%s needs tls.clientCa.existingSecret (the CA client certificates are verified against)" .Values.tls.clientCert) -}}
{{- end -}}
{{- if and .Values.tls.clientCa.existingSecret (not .Values.tls.existingSecret) -}}
{{- fail "tls.clientCa.existingSecret needs tls.existingSecret (client certificates are asked for on the TLS listeners)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas is above autoscaling.maxReplicas" -}}
{{- end -}}
{{- with .Values.haproxy.mode -}}
{{- $timeout := include "roost.haproxyTimeoutSeconds" $ | int -}}
{{- $keepAlive := $.Values.listeners.maxKeepAliveSeconds | int -}}
{{- if or (eq $keepAlive 0) (gt (mul $keepAlive 3) (mul $timeout 2)) -}}
{{- fail (printf "haproxy.mode=%s needs listeners.maxKeepAliveSeconds between 1 and %d: deploy/haproxy's timeouts (%d s) must exceed 1.5 x the longest keep alive, or HAProxy cuts quiet clients" . (div (mul $timeout 2) 3) $timeout) -}}
{{- end -}}
{{- if and (eq . "passthrough") (not $.Values.tls.existingSecret) -}}
{{- fail "haproxy.mode=passthrough needs tls.existingSecret (the edges terminate TLS behind a passthrough HAProxy)" -}}
{{- end -}}
{{- if and $.Values.networkPolicy.enabled (not $.Values.haproxy.from) -}}
{{- fail "haproxy.mode needs haproxy.from (NetworkPolicyPeers matching the HAProxy pods) while networkPolicy.enabled: only HAProxy may send PROXY headers" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.adminApi.existingSecret (not .Values.adminApi.enabled) -}}
{{- fail "adminApi.existingSecret is set but adminApi.enabled is false: set adminApi.enabled=true to turn the operations API on" -}}
{{- end -}}
{{- end -}}
