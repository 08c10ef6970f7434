// Command helm_render renders a Helm chart the way `helm template` does, for tests on
// machines without Helm: Go's text/template with the sprig function library (the
// engine Helm is built on) plus the few additions of Helm's own that charts use:
// include, tpl, toYaml, fromYaml, toJson, required, fail, .Values, .Release, .Chart,
// .Capabilities (KubeVersion and HelmVersion only: v1.28.0, v3.14.0), .Template and
// .Files.Get (symbolic links followed, as Helm's loader does). There is no lookup (it
// needs a cluster) and no values.schema.json check (check.mjs does that on --values-out).
//
// Values are merged like Helm's: the chart's values.yaml, then each -f file in order
// (maps merge key by key, anything else is replaced; a null removes a default), then
// each --set a.b=c (c: an integer, true/false, {x,y} for a list, null to remove the
// key, else a string).
// Numbers read from YAML files are float64, as in Helm (its values pass through JSON).
//
// Output: every rendered manifest of templates/ (files whose name starts with "_" are
// helpers and NOTES.txt is printed only with --notes), empty documents dropped, in
// Helm's install order (by kind, then by template name), each preceded by
// "---\n# Source: CHART/templates/FILE" as helm template prints it. With --values-out
// FILE the merged values are also written as JSON (for values.schema.json checks).
//
// Usage:
//
//	helm_render --chart DIR [--name RELEASE] [--namespace NS] [-f VALUES]... [--set K=V]...
//	            [--notes] [--values-out FILE] [--out FILE]
//
// Build (Debian: golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v2-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm_render tests/helm_render/main.go
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var valueFiles, sets listFlag
	chartDir := flag.String("chart", "", "chart folder (Chart.yaml, values.yaml, templates/)")
	release := flag.String("name", "fsb", "release name (.Release.Name)")
	namespace := flag.String("namespace", "fsb", "release namespace (.Release.Namespace)")
	notes := flag.Bool("notes", false, "print templates/NOTES.txt too")
	valuesOut := flag.String("values-out", "", "also write the merged values here, as JSON")
	out := flag.String("out", "", "write the manifests here instead of stdout")
	flag.Var(&valueFiles, "f", "values file merged over the defaults (repeatable)")
	flag.Var(&sets, "set", "K=V merged last (repeatable)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: helm_render --chart DIR [-f FILE]... [--set K=V]... [--out FILE]")
		os.Exit(2)
	}
	text, values, err := render(*chartDir, *release, *namespace, valueFiles, sets, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm_render:", err)
		os.Exit(1)
	}
	if *valuesOut != "" {
		data, err := json.MarshalIndent(values, "", "  ")
		if err == nil {
			err = os.WriteFile(*valuesOut, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helm_render:", err)
			os.Exit(1)
		}
	}
	if *out == "" {
		os.Stdout.WriteString(text)
	} else if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "helm_render:", err)
		os.Exit(1)
	}
}

// render returns the manifests of the chart at dir and the merged values.
func render(dir, release, namespace string, valueFiles, sets []string,
	withNotes bool) (string, map[string]interface{}, error) {
	chartMeta, err := readYAMLFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return "", nil, err
	}
	values, err := readYAMLFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return "", nil, err
	}
	for _, f := range valueFiles {
		override, err := readYAMLFile(f)
		if err != nil {
			return "", nil, err
		}
		values = mergeValues(values, override)
	}
	for _, s := range sets {
		if err := setValue(values, s); err != nil {
			return "", nil, err
		}
	}
	chartName, _ := chartMeta["name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartObject(chartMeta),
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.28.0", "Major": "1", "Minor": "28",
				"GitVersion": "v1.28.0"},
			"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
		},
		"Files": files{root: dir},
	}

	tmpl := template.New("chart")
	tmpl.Funcs(funcMap(tmpl))
	names, err := templateFiles(dir)
	if err != nil {
		return "", nil, err
	}
	for _, rel := range names {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return "", nil, err
		}
		name := chartName + "/" + rel
		if _, err := tmpl.New(name).Parse(string(data)); err != nil {
			return "", nil, err
		}
	}

	var docs []manifest
	for _, rel := range names {
		base := filepath.Base(rel)
		if strings.HasPrefix(base, "_") || (base == "NOTES.txt" && !withNotes) {
			continue
		}
		name := chartName + "/" + rel
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, top); err != nil {
			return "", nil, err
		}
		if base == "NOTES.txt" {
			docs = append(docs, manifest{source: name, body: buf.String(), kind: "NOTES"})
			continue
		}
		for _, doc := range splitDocuments(buf.String()) {
			var head struct {
				Kind string `yaml:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", nil, fmt.Errorf("%s: rendered YAML does not parse: %v\n%s", name, err, doc)
			}
			docs = append(docs, manifest{source: name, body: doc, kind: head.Kind})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool {
		oi, oj := kindOrder(docs[i].kind), kindOrder(docs[j].kind)
		if oi != oj {
			return oi < oj
		}
		return docs[i].source < docs[j].source
	})
	var out strings.Builder
	for _, d := range docs {
		if d.kind == "NOTES" {
			fmt.Fprintf(&out, "NOTES:\n%s", d.body)
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", d.source, d.body)
	}
	return out.String(), values, nil
}

type manifest struct{ source, body, kind string }

// installOrder is Helm's (pkg/releaseutil/kind_sorter.go); other kinds come last.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func kindOrder(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	if kind == "NOTES" {
		return len(installOrder) + 1
	}
	return len(installOrder)
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a template's output into YAML documents, dropping those with
// nothing but whitespace and comments.
func splitDocuments(text string) []string {
	var docs []string
	for _, d := range docSeparator.Split(text, -1) {
		d = strings.TrimSpace(d)
		empty := true
		for _, line := range strings.Split(d, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, d)
		}
	}
	return docs
}

// templateFiles lists templates/ recursively (symbolic links followed), sorted.
func templateFiles(dir string) ([]string, error) {
	var names []string
	root := filepath.Join(dir, "templates")
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(names)
	return names, err
}

// chartObject is .Chart: Chart.yaml's fields with their first letter capitalised, as
// Helm's chart.Metadata exposes them (name → Name, appVersion → AppVersion).
func chartObject(meta map[string]interface{}) map[string]interface{} {
	c := map[string]interface{}{}
	for k, v := range meta {
		c[strings.ToUpper(k[:1])+k[1:]] = v
	}
	return c
}

// files is .Files: Get returns a file of the chart as a string ("" when missing).
type files struct{ root string }

func (f files) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.root, name))
	if err != nil {
		return ""
	}
	return string(data)
}

func funcMap(t *template.Template) template.FuncMap {
	m := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the environment of whoever renders it.
	delete(m, "env")
	delete(m, "expandenv")
	m["toYaml"] = toYAML
	m["fromYaml"] = fromYAML
	m["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	m["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	m["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	m["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	m["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		inline, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = inline.Execute(&buf, data)
		return buf.String(), err
	}
	return m
}

// toYAML marshals like Helm's toYaml (sigs.k8s.io/yaml): through JSON, so keys come
// sorted and integral numbers print as integers; the trailing newline is dropped.
func toYAML(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic interface{}
	if err := dec.Decode(&generic); err != nil {
		return ""
	}
	out, err := yaml.Marshal(jsonNumbers(generic))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func jsonNumbers(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = jsonNumbers(x)
		}
	case []interface{}:
		for i, x := range t {
			t[i] = jsonNumbers(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

func fromYAML(s string) map[string]interface{} {
	m, err := parseYAML([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func readYAMLFile(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// parseYAML reads a YAML mapping into JSON's types (string keys, float64 numbers).
func parseYAML(data []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	v, err := jsonTypes(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, errors.New("not a YAML mapping")
	}
	return m, nil
}

func jsonTypes(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			c, err := jsonTypes(x)
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			c, err := jsonTypes(x)
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case uint64:
		return float64(t), nil
	}
	return v, nil
}

// mergeValues merges src over dst (Helm's coalescing of user values over defaults).
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// setValue applies one --set K=V (K: dot-separated keys).
func setValue(values map[string]interface{}, kv string) error {
	eq := strings.IndexByte(kv, '=')
	if eq <= 0 {
		return fmt.Errorf("--set %q: want KEY=VALUE", kv)
	}
	keys := strings.Split(kv[:eq], ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	raw := kv[eq+1:]
	if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
		var list []interface{}
		if inner := raw[1 : len(raw)-1]; inner != "" {
			for _, item := range strings.Split(inner, ",") {
				list = append(list, typedValue(item))
			}
		}
		m[keys[len(keys)-1]] = list
		return nil
	}
	if v := typedValue(raw); v != nil {
		m[keys[len(keys)-1]] = v
	} else {
		delete(m, keys[len(keys)-1])
	}
	return nil
}

// typedValue is Helm's --set typing: integers, booleans and null; else a string.
func typedValue(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(s, "0")) {
		return i
	}
	return s
}
