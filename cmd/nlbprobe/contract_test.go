package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/nlbprobe/nlbprobe/analyze/report/schema"
)

// compiledSchemas caches the contract's schemas, compiled once per test
// binary.
var compiledSchemas struct {
	sync.Mutex
	byName map[string]*jsonschema.Schema
}

// contractSchema returns the compiled schema file name, or nil when the
// file does not exist.
func contractSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	compiledSchemas.Lock()
	defer compiledSchemas.Unlock()
	if s, ok := compiledSchemas.byName[name]; ok {
		return s
	}
	if !slices.Contains(schema.Files(), name) {
		return nil
	}
	s, err := schema.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	if compiledSchemas.byName == nil {
		compiledSchemas.byName = map[string]*jsonschema.Schema{}
	}
	compiledSchemas.byName[name] = s
	return s
}

// checkContract validates what nlbprobe printed on stdout for args against
// the contract's JSON Schemas (analyze/report/schema): the report of
// `read --json` and `watch --json`, every line of `watch --json-stream`,
// and every line of `mtu --json` by its type. Other output is not JSON and
// is left alone. The command tests call it on everything they run, so no
// JSON output of a test escapes the contract.
func checkContract(t testing.TB, args []string, stdout string) {
	t.Helper()
	if strings.TrimSpace(stdout) == "" || len(args) == 0 {
		return
	}
	has := func(flag string) bool { return slices.Contains(args, flag) || slices.Contains(args, flag+"=true") }
	switch cmd := args[0]; {
	case cmd == "watch" && has("--json-stream"):
		if err := schema.ValidateLines(contractSchema(t, schema.WatchStream), []byte(stdout)); err != nil {
			t.Errorf("watch --json-stream output breaks watch-stream.schema.json: %v\n%s", err, stdout)
		}
	case (cmd == "read" || cmd == "watch") && has("--json"):
		if err := schema.Validate(contractSchema(t, schema.Report), []byte(stdout)); err != nil {
			t.Errorf("%s --json output breaks report.schema.json: %v", cmd, err)
		}
	case cmd == "mtu" && has("--json"):
		for i, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var obj struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Errorf("mtu --json line %d is not JSON: %v: %s", i+1, err, line)
				continue
			}
			// The mtu schemas are named by the line's type.
			s := contractSchema(t, "mtu-"+obj.Type+".schema.json")
			if s == nil {
				t.Errorf("mtu --json line %d: no schema for type %q: %s", i+1, obj.Type, line)
				continue
			}
			if err := schema.Validate(s, []byte(line)); err != nil {
				t.Errorf("mtu --json line %d breaks mtu-%s.schema.json: %v", i+1, obj.Type, err)
			}
		}
	}
}

// TestStreamTypesMatchSchema fails when a field of the watch stream's
// finding or status objects has no property in watch-stream.schema.json,
// or the schema a property no field gives.
func TestStreamTypesMatchSchema(t *testing.T) {
	for _, c := range []struct {
		pointer string
		typ     reflect.Type
	}{
		{"/$defs/finding", reflect.TypeFor[streamFinding]()},
		{"/$defs/status", reflect.TypeFor[statusLine]()},
	} {
		diffs, err := schema.CompareType(schema.WatchStream, c.pointer, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffs {
			t.Error(d)
		}
	}
}
