package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/report"
	"github.com/nlbprobe/nlbprobe/analyze/report/schema"
)

// TestSchemasCompile compiles every schema file as draft 2020-12 and checks
// the $id convention the files refer to each other by.
func TestSchemasCompile(t *testing.T) {
	names := schema.Files()
	for _, want := range []string{schema.Report, schema.WatchStream} {
		if !slices.Contains(names, want) {
			t.Fatalf("no %s among %v", want, names)
		}
	}
	for _, name := range names {
		var head struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		src, err := schema.Source(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(src, &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" || head.ID != schema.BaseURL+name {
			t.Errorf("%s: $schema %q, $id %q", name, head.Schema, head.ID)
		}
		if _, err := schema.Compile(name); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// compiled is a compiled schema file.
type compiled struct{ s *jsonschema.Schema }

func (c compiled) validate(doc []byte) error { return schema.Validate(c.s, doc) }

func compile(t *testing.T, name string) compiled {
	t.Helper()
	s, err := schema.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	return compiled{s}
}

// TestGoldenReportsValid validates every golden JSON report of the fixture
// scenarios (fixtures/captures/*.report.json, written by `read --json`).
func TestGoldenReportsValid(t *testing.T) {
	s := compile(t, schema.Report)
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "fixtures", "captures", "*.report.json"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("golden reports: %v %v", paths, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.validate(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

// TestWrittenReportsValid validates the reports WriteJSON writes for
// reports the golden files do not have: no frames at all, and a report
// whose optional parts are all filled (QinQ, a host with every field).
func TestWrittenReportsValid(t *testing.T) {
	s := compile(t, schema.Report)
	empty := analyze.New(analyze.Options{}).Finish()
	empty.NLBProbeVersion = "(devel)"
	var b bytes.Buffer
	if err := report.WriteJSON(&b, empty, true, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.validate(b.Bytes()); err != nil {
		t.Errorf("report without frames: %v\n%s", err, b.String())
	}
	for _, key := range []string{`"inputs": []`, `"clusters": []`, `"findings": []`, `"schema_version": 2`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("report without frames lacks %s:\n%s", key, b.String())
		}
	}
}

// TestSchemaCatchesDrift checks that the report schema is strict: each
// edit of a valid report below is one a consumer would trip on, and the
// schema rejects it.
func TestSchemaCatchesDrift(t *testing.T) {
	s := compile(t, schema.Report)
	valid, err := os.ReadFile(filepath.Join("..", "..", "..", "fixtures", "captures", "migration.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.validate(valid); err != nil {
		t.Fatalf("the migration report is not valid to begin with: %v", err)
	}
	edits := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"unknown top-level field", func(m map[string]any) { m["extra"] = 1 }},
		{"missing schema_version", func(m map[string]any) { delete(m, "schema_version") }},
		{"other schema_version", func(m map[string]any) { m["schema_version"] = 1 }},
		{"empty nlbprobe_version", func(m map[string]any) { m["nlbprobe_version"] = "" }},
		{"list as null", func(m map[string]any) { m["igmp_groups"] = nil }},
		{"old protocol name", func(m map[string]any) {
			p := m["stats"].(map[string]any)["protocols"].(map[string]any)
			p["nlb_heartbeats"] = p["nlb_heartbeat"]
			delete(p, "nlb_heartbeat")
		}},
		{"unknown finding kind", func(m map[string]any) { finding0(m)["kind"] = "something-new" }},
		{"unknown severity", func(m map[string]any) { finding0(m)["severity"] = "critical" }},
		{"finding without remedy", func(m map[string]any) { delete(finding0(m), "remedy") }},
		{"finding without svlan", func(m map[string]any) { delete(finding0(m), "svlan") }},
		{"finding ips as null", func(m map[string]any) { finding0(m)["ips"] = nil }},
		{"evidence frame 0", func(m map[string]any) { finding0(m)["evidence"] = []any{0} }},
		{"host without host_name", func(m map[string]any) { delete(host0(m), "host_name") }},
		{"host macs omitted", func(m map[string]any) { delete(host0(m), "macs") }},
		{"upper-case MAC", func(m map[string]any) { host0(m)["mac"] = "00:15:5D:32:00:11" }},
		{"untagged as a string", func(m map[string]any) { m["clusters"].([]any)[0].(map[string]any)["vlan"] = "untagged" }},
		{"cluster without igmp_group", func(m map[string]any) { delete(m["clusters"].([]any)[0].(map[string]any), "igmp_group") }},
		{"not an IP", func(m map[string]any) { m["clusters"].([]any)[0].(map[string]any)["cluster_ip"] = "10.50.0" }},
		{"not a time", func(m map[string]any) { m["capture"].(map[string]any)["start"] = "10:00:00" }},
		{"unknown verdict", func(m map[string]any) { m["flood"].([]any)[0].(map[string]any)["verdict"] = "maybe" }},
		{"basis as prose", func(m map[string]any) { m["flood"].([]any)[0].(map[string]any)["basis"] = "control plane: multicast" }},
		{"unknown vantage", func(m map[string]any) { m["vantage"] = "mirror" }},
	}
	for _, e := range edits {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		e.edit(m)
		b, _ := json.Marshal(m)
		if err := s.validate(b); err == nil {
			t.Errorf("%s: the schema accepts it", e.name)
		}
	}
}

func finding0(m map[string]any) map[string]any {
	return m["findings"].([]any)[0].(map[string]any)
}

func host0(m map[string]any) map[string]any {
	return m["clusters"].([]any)[0].(map[string]any)["hosts"].([]any)[0].(map[string]any)
}

// TestSchemaCoversReportTypes fails when a field of the report's Go types
// has no property in the schema, a property no field gives, or when what
// the Go type may leave out disagrees with the schema's required lists.
func TestSchemaCoversReportTypes(t *testing.T) {
	diffs, err := schema.CompareType(schema.Report, "", reflect.TypeFor[analyze.Report](), "schema_version")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	// The stream's report line is the report plus its type.
	diffs, err = schema.CompareType(schema.WatchStream, "/$defs/report", reflect.TypeFor[analyze.Report](), "schema_version", "type")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestCompareTypeFindsDifferences checks CompareType on a type that
// differs from the schema in each way it reports.
func TestCompareTypeFindsDifferences(t *testing.T) {
	type wrongHost struct {
		Priority uint32 `json:"priority"`
		Extra    string `json:"not_in_schema"`
		Version  string `json:"version,omitempty"`
	}
	type wrongCluster struct {
		ClusterIP string      `json:"cluster_ip"`
		Hosts     []wrongHost `json:"hosts"`
	}
	diffs, err := schema.CompareType(schema.Report, "/$defs/cluster", reflect.TypeFor[wrongCluster]())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(diffs, "\n")
	for _, want := range []string{
		".hosts[].not_in_schema: Go field with no property",
		".hosts[].version: may be left out (omitempty/omitzero), but required",
		".hosts[].host_name: property in report.schema.json that no Go field gives",
		".mode: property in report.schema.json that no Go field gives",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}

// enum returns the enum of the schema at pointer in file name.
func enum(t *testing.T, name, pointer string) []string {
	t.Helper()
	src, err := schema.Source(name)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	v := doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		v = v.(map[string]any)[tok]
	}
	var out []string
	for _, e := range v.(map[string]any)["enum"].([]any) {
		out = append(out, e.(string))
	}
	return out
}

// names lists String() of a uint8-based enum from 0 until the type's
// fallback form ("mode(4)").
func names[T ~uint8](str func(T) string) []string {
	var out []string
	for i := 0; i < 256; i++ {
		s := str(T(i))
		if strings.Contains(s, "(") {
			break
		}
		out = append(out, s)
	}
	return out
}

// TestEnumsMatchTheCode compares each enum of the schemas with the values
// the code can write, taken from the code: a kind, mode or verdict added
// in Go must be added to the contract (and the other way round).
func TestEnumsMatchTheCode(t *testing.T) {
	var kinds []string
	for _, k := range finding.Kinds {
		kinds = append(kinds, string(k))
	}
	severities := names(finding.Severity.String)
	cases := []struct {
		pointer string
		want    []string
	}{
		{"/$defs/kind", kinds},
		{"/$defs/severity", severities},
		{"/$defs/mode", names(addr.Mode.String)},
		{"/$defs/form", names(addr.Form.String)},
		{"/$defs/vantage", []string{analyze.VantageSpan.String(), analyze.VantageNonMember.String()}},
		{"/$defs/verdict", analyze.Verdicts},
		{"/$defs/basis", analyze.Bases},
	}
	for _, c := range cases {
		got := enum(t, schema.Report, c.pointer)
		if !equalSets(got, c.want) {
			t.Errorf("%s: schema %v, code %v", c.pointer, got, c.want)
		}
	}
	if got := enum(t, schema.WatchStream, "/$defs/status/properties/worst"); !equalSets(got, append([]string{""}, severities...)) {
		t.Errorf("status worst: schema %v, want \"\" and %v", got, severities)
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSchemaVersion checks that the schemas promise the version the writer
// writes.
func TestSchemaVersion(t *testing.T) {
	src, err := schema.Source(schema.Report)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			SchemaVersion struct {
				Const int `json:"const"`
			} `json:"schemaVersion"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Defs.SchemaVersion.Const != report.SchemaVersion {
		t.Errorf("report.schema.json promises schema_version %d, the writer writes %d", doc.Defs.SchemaVersion.Const, report.SchemaVersion)
	}
}

// TestStreamObjectsValid validates stream objects of each type as the watch
// command writes them (report.WriteJSONLine for findings and status lines,
// WriteJSON with a type for the report), and checks that an object of no
// known type, or one mixing types, is rejected.
func TestStreamObjectsValid(t *testing.T) {
	s := compile(t, schema.WatchStream)
	type line struct {
		Type            string `json:"type"`
		SchemaVersion   int    `json:"schema_version"`
		NLBProbeVersion string `json:"nlbprobe_version"`
		Event           string `json:"event"`
		finding.Finding
		EventTime time.Time `json:"event_time"`
	}
	f := finding.Finding{Kind: finding.HeartbeatGap, Severity: finding.Warning, Subject: "cluster 10.0.0.5 vlan 10 host 2",
		VLAN: 10, Message: "quiet", Count: 1}
	var b bytes.Buffer
	if err := report.WriteJSONLine(&b, line{"finding", report.SchemaVersion, "(devel)", "raised", f, f.Time}); err != nil {
		t.Fatal(err)
	}
	r := analyze.New(analyze.Options{}).Finish()
	r.NLBProbeVersion = "(devel)"
	if err := report.WriteJSON(&b, r, false, map[string]string{"type": "report"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), b.String())
	}
	for i, l := range lines {
		if err := s.validate([]byte(l)); err != nil {
			t.Errorf("line %d: %v\n%s", i+1, err, l)
		}
	}
	// Empty lists and strings are written, not left out.
	if !strings.Contains(lines[0], `"ips":[]`) || !strings.Contains(lines[0], `"remedy":""`) {
		t.Errorf("finding line without its empty values: %s", lines[0])
	}
	for _, bad := range []string{
		strings.Replace(lines[0], `"type":"finding"`, `"type":"warning"`, 1),
		strings.Replace(lines[0], `"event":"raised"`, `"event":"new"`, 1),
		strings.Replace(lines[1], `"type":"report"`, `"type":"finding"`, 1),
		strings.Replace(lines[0], `"type":"finding",`, ``, 1),
		strings.Replace(lines[0], `"schema_version":2`, `"schema_version":1`, 1),
	} {
		if err := s.validate([]byte(bad)); err == nil {
			t.Errorf("accepted: %s", bad)
		}
	}
}
