package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMergeValuesMergesMapsAndReplacesTheRest(t *testing.T) {
	dst := map[string]interface{}{
		"a":    map[string]interface{}{"x": 1.0, "y": 2.0},
		"l":    []interface{}{"one"},
		"gone": "default",
	}
	src := map[string]interface{}{
		"a":    map[string]interface{}{"y": 3.0},
		"l":    []interface{}{"two"},
		"gone": nil,
	}
	got := mergeValues(dst, src)
	want := map[string]interface{}{
		"a": map[string]interface{}{"x": 1.0, "y": 3.0},
		"l": []interface{}{"two"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeValues = %v, want %v", got, want)
	}
}

func TestSetValueTypesLikeHelm(t *testing.T) {
	values := map[string]interface{}{"keep": "x", "drop": "y"}
	for _, kv := range []string{"a.b=2", "a.c=true", "a.d=007", "a.e={x,3}", "a.f=", "drop=null"} {
		if err := setValue(values, kv); err != nil {
			t.Fatalf("setValue(%q): %v", kv, err)
		}
	}
	want := map[string]interface{}{
		"keep": "x",
		"a": map[string]interface{}{
			"b": int64(2), "c": true, "d": "007", "e": []interface{}{"x", int64(3)}, "f": "",
		},
	}
	if !reflect.DeepEqual(values, want) {
		t.Fatalf("values = %#v, want %#v", values, want)
	}
	if err := setValue(values, "novalue"); err == nil {
		t.Fatal("setValue(\"novalue\") accepted a flag without '='")
	}
}

func TestParseYAMLGivesJSONTypes(t *testing.T) {
	m, err := parseYAML([]byte("big: 1073741824\nf: 0.5\nm: {k: v}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["big"] != 1073741824.0 || m["f"] != 0.5 {
		t.Fatalf("numbers: %#v", m)
	}
	if _, ok := m["m"].(map[string]interface{}); !ok {
		t.Fatalf("nested map is %T", m["m"])
	}
	if _, err := parseYAML([]byte("- a list\n")); err == nil {
		t.Fatal("a YAML list was taken as values")
	}
}

func TestToYAMLSortsKeysAndPrintsIntegers(t *testing.T) {
	got := toYAML(map[string]interface{}{"b": 1073741824.0, "a": []interface{}{"x"}, "c": 0.5})
	want := "a:\n- x\nb: 1073741824\nc: 0.5"
	if got != want {
		t.Fatalf("toYAML = %q, want %q", got, want)
	}
}

func TestSplitDocumentsDropsEmptyOnes(t *testing.T) {
	docs := splitDocuments("# only a comment\n---\na: 1\n---\n\n---\nb: 2\n")
	if !reflect.DeepEqual(docs, []string{"a: 1", "b: 2"}) {
		t.Fatalf("splitDocuments = %q", docs)
	}
}

// A chart in a temp folder: helpers through include and tpl, required, install order.
func TestRenderChart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Chart.yaml", "name: demo\nversion: 1.0.0\nappVersion: \"2.0\"\n")
	write("values.yaml", "name: app\nport: 80\ngreeting: \"hello {{ .Values.name }}\"\n")
	write("templates/_helpers.tpl", `{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Values.name }}{{- end -}}`)
	write("templates/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"demo.name\" . }}\n  annotations:\n    greeting: {{ tpl .Values.greeting . | quote }}\n    version: {{ .Chart.AppVersion | quote }}\n")
	write("templates/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ required \"name is required\" .Values.name }}\nspec:\n  ports: [{port: {{ .Values.port }}}]\n")
	text, values, err := render(dir, "rel", "ns", nil, []string{"port=8080"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if values["port"] != int64(8080) {
		t.Fatalf("merged port = %#v", values["port"])
	}
	svc, deploy := strings.Index(text, "kind: Service"), strings.Index(text, "kind: Deployment")
	if svc < 0 || deploy < 0 || svc > deploy {
		t.Fatalf("want the Service before the Deployment (Helm's install order):\n%s", text)
	}
	for _, want := range []string{
		"# Source: demo/templates/deploy.yaml", "name: rel-app", `greeting: "hello app"`,
		`version: "2.0"`, "port: 8080",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("render lacks %q:\n%s", want, text)
		}
	}
	if _, _, err := render(dir, "rel", "ns", nil, []string{"name="}, false); err == nil ||
		!strings.Contains(err.Error(), "name is required") {
		t.Fatalf("required: err = %v", err)
	}
}
