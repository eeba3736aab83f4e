package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/pathmtu"
	"github.com/nlbprobe/nlbprobe/analyze/report"
)

// mtuSchemaDir holds the contract's schema files, relative to this package.
var mtuSchemaDir = filepath.Join("..", "..", "analyze", "report", "schema")

const schemaBaseURL = "https://github.com/nlbprobe/nlbprobe/analyze/report/schema/"

// mtuSchemas are the schemas of the mtu --json lines, compiled once, by
// line type.
var mtuSchemas struct {
	once   sync.Once
	byType map[string]*jsonschema.Schema
	err    error
}

func mtuSchema(t testing.TB, typ string) *jsonschema.Schema {
	t.Helper()
	mtuSchemas.once.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat() // date-time and IP formats are checked, not only annotated
		mtuSchemas.byType = map[string]*jsonschema.Schema{}
		for _, typ := range []string{"result", "summary"} {
			name := "mtu-" + typ + ".schema.json"
			f, err := os.Open(filepath.Join(mtuSchemaDir, name))
			if err != nil {
				mtuSchemas.err = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(f)
			f.Close()
			if err == nil {
				err = c.AddResource(schemaBaseURL+name, doc)
			}
			var s *jsonschema.Schema
			if err == nil {
				s, err = c.Compile(schemaBaseURL + name)
			}
			if err != nil {
				mtuSchemas.err = err
				return
			}
			mtuSchemas.byType[typ] = s
		}
	})
	if mtuSchemas.err != nil {
		t.Fatalf("mtu schemas: %v", mtuSchemas.err)
	}
	s, ok := mtuSchemas.byType[typ]
	if !ok {
		t.Fatalf("mtu --json line of type %q: no such line type in the contract", typ)
	}
	return s
}

// validateMTUJSON checks every line of `mtu --json` output against the
// schema its "type" names. Every test that reads mtu --json output calls
// it (decodeResults does), so no output escapes the contract.
func validateMTUJSON(t testing.TB, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &head); err != nil {
			t.Errorf("mtu --json line %d is not JSON: %v: %s", i+1, err, line)
			continue
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := mtuSchema(t, head.Type).Validate(v); err != nil {
			t.Errorf("mtu --json line %d breaks mtu-%s.schema.json: %v\n%s", i+1, head.Type, err, line)
		}
	}
}

// schemaDoc reads a schema file as plain JSON.
func schemaDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mtuSchemaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// oneOfConsts returns the values a oneOf-of-consts definition documents.
func oneOfConsts(t *testing.T, def any) []string {
	t.Helper()
	var out []string
	for _, alt := range def.(map[string]any)["oneOf"].([]any) {
		a := alt.(map[string]any)
		if d, _ := a["description"].(string); d == "" {
			t.Errorf("enum value %v has no description", a["const"])
		}
		out = append(out, a["const"].(string))
	}
	return out
}

// jsonNames returns the JSON names of a struct's exported fields, and
// whether any of them may be left out.
func jsonNames(t *testing.T, typ reflect.Type) []string {
	t.Helper()
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if strings.Contains(opts, "omit") {
			t.Errorf("%s.%s is %s: the mtu lines write every field", typ.Name(), f.Name, opts)
		}
		out = append(out, name)
	}
	return out
}

// TestMTUSchemaMatchesCode fails when the mtu line types and their schema
// files drift apart: a field without a property (or the other way round),
// a property that is not required (every field is written), a
// schema_version other than report.SchemaVersion, or an enum that is not
// the values the code writes.
func TestMTUSchemaMatchesCode(t *testing.T) {
	for _, c := range []struct {
		file string
		typ  reflect.Type
	}{
		{"mtu-result.schema.json", reflect.TypeFor[mtuResult]()},
		{"mtu-summary.schema.json", reflect.TypeFor[mtuSweepSummary]()},
	} {
		doc := schemaDoc(t, c.file)
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" || doc["$id"] != schemaBaseURL+c.file {
			t.Errorf("%s: $schema %v $id %v", c.file, doc["$schema"], doc["$id"])
		}
		var props, required []string
		for k := range doc["properties"].(map[string]any) {
			props = append(props, k)
		}
		for _, r := range doc["required"].([]any) {
			required = append(required, r.(string))
		}
		fields := jsonNames(t, c.typ)
		slices.Sort(props)
		slices.Sort(required)
		slices.Sort(fields)
		if !slices.Equal(props, fields) || !slices.Equal(required, fields) {
			t.Errorf("%s:\n properties %v\n required   %v\n Go fields  %v", c.file, props, required, fields)
		}
		sv := doc["$defs"].(map[string]any)["schemaVersion"].(map[string]any)["const"]
		if sv != float64(report.SchemaVersion) {
			t.Errorf("%s: schema_version %v, but report.SchemaVersion is %d: update the schema with the contract", c.file, sv, report.SchemaVersion)
		}
	}
	defs := schemaDoc(t, "mtu-result.schema.json")["$defs"].(map[string]any)
	for _, c := range []struct {
		def  string
		want []string
	}{
		{"method", []string{string(pathmtu.MethodICMP), string(pathmtu.MethodSearch), string(pathmtu.MethodLocal), string(pathmtu.MethodNone)}},
		{"kind", []string{string(finding.PathMTUBlackhole), string(finding.PathMTUBelowExpected), string(finding.PathMTUUnreachable), string(finding.PathMTUTargetError)}},
		{"severity", []string{finding.Info.String(), finding.Warning.String(), finding.Error.String()}},
	} {
		if got := oneOfConsts(t, defs[c.def]); !slices.Equal(got, c.want) {
			t.Errorf("mtu-result.schema.json $defs/%s documents %v, the code writes %v", c.def, got, c.want)
		}
	}
}

// TestMTUSchemaRejects makes sure the schemas can fail: lines that break
// the contract in ways a consumer would trip over.
func TestMTUSchemaRejects(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	good := mtuResult{Type: "result", SchemaVersion: report.SchemaVersion, NLBProbeVersion: "(devel)", Time: now, Sweep: 1,
		Target: "198.51.100.11", Address: "198.51.100.11", Reachable: true, PathMTU: 9000, FrameSize: 9014, JumboPacket: 9014,
		Interface: "eth0", InterfaceMTU: 9000, Max: 9000, Method: pathmtu.MethodSearch, Probes: 2, Findings: []finding.Finding{}}
	line := func(r mtuResult) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	valid := func(s string) error {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return mtuSchema(t, "result").Validate(v)
	}
	if err := valid(line(good)); err != nil {
		t.Fatalf("a good line fails: %v", err)
	}
	bad := map[string]string{
		"unreachable with a path MTU": line(func() mtuResult { r := good; r.Reachable, r.Error = false, "no answer"; return r }()),
		"target error that is reachable": line(func() mtuResult {
			r := good
			r.TargetError, r.Error, r.Method = true, "x", pathmtu.MethodNone
			return r
		}()),
		"unknown method":          strings.Replace(line(good), `"method":"search"`, `"method":"guess"`, 1),
		"loopback-sized jumbo":    strings.Replace(line(good), `"jumbo_packet":9014`, `"jumbo_packet":65549`, 1),
		"summary count as result": strings.Replace(line(good), `"reachable":true`, `"reachable":1`, 1),
		"field left out":          strings.Replace(line(good), `"gateway":"",`, ``, 1),
		"not an address":          strings.Replace(line(good), `"address":"198.51.100.11"`, `"address":"hv1"`, 1),
	}
	for name, l := range bad {
		if valid(l) == nil {
			t.Errorf("%s: the schema accepts %s", name, l)
		}
	}
}

// TestMTUJSONLines checks the type, versions and empty values of the
// lines mtu --json writes, without a network: results a run reports and a
// sweep summary.
func TestMTUJSONLines(t *testing.T) {
	var out bytes.Buffer
	m := &mtuRun{opts: mtuOptions{expect: 9000, json: true, every: time.Minute}, stdout: &out, stderr: &out, version: "v1.2.3",
		last: map[string]mtuState{}}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var sum mtuSweepSummary
	for _, r := range []mtuResult{
		{Time: now, Sweep: 1, Target: "198.51.100.11", Address: "198.51.100.11", Reachable: true, PathMTU: 1500, FrameSize: 1514,
			JumboPacket: 1514, Interface: "eth0", InterfaceMTU: 9000, Max: 9000, Method: pathmtu.MethodICMP, ReportedBy: "192.0.2.1", ReportedMTU: 1500},
		{Time: now, Sweep: 1, Target: "hv3.example.net", Method: pathmtu.MethodNone, TargetError: true, Error: "cannot resolve the name: no such host",
			targetFix: "check the name and this host's DNS: getent hosts hv3.example.net"},
	} {
		m.report(&r, &sum)
	}
	validateMTUJSON(t, out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
	}
	var unresolved map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &unresolved); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"type": "result", "schema_version": float64(report.SchemaVersion), "nlbprobe_version": "v1.2.3",
		"address": "", "interface": "", "gateway": "", "reported_by": "", "path_mtu": float64(0), "sweep": float64(1), "target_error": true} {
		if unresolved[k] != want {
			t.Errorf("unresolved target: %s = %#v, want %#v (present even when empty)", k, unresolved[k], want)
		}
	}
	if sum.TargetsReachable != 1 || sum.TargetsTargetError != 1 || sum.TargetsBelowExpected != 1 || sum.TargetsUnreachable != 0 {
		t.Errorf("summary counts %+v", sum)
	}
}
