// Package schema holds nlbprobe's machine-readable contract as JSON Schema
// (draft 2020-12) files, one per kind of document:
//
//   - report.schema.json: the report of `read --json` and `watch --json`;
//   - watch-stream.schema.json: each line of `watch --json-stream`;
//   - mtu-result.schema.json, mtu-summary.schema.json: the lines of
//     `mtu --json`.
//
// The files are the contract; this package only embeds them and compiles
// them for the tests that validate nlbprobe's output against them (golden
// reports, command output, stream lines), so that the output cannot drift
// from what the files promise. Nothing in the nlbprobe binary imports it.
// The rules the files follow are in analyze/design.md, "The
// machine-readable contract".
package schema

import (
	"bytes"
	"embed"
	"encoding"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// BaseURL is the prefix of every schema's $id: a file's $id is BaseURL
// followed by its name, and schemas refer to each other by name.
const BaseURL = "https://github.com/nlbprobe/nlbprobe/analyze/report/schema/"

// The schema files, by name.
const (
	Report      = "report.schema.json"
	WatchStream = "watch-stream.schema.json"
)

//go:embed *.schema.json
var files embed.FS

// Files returns the names of the schema files.
func Files() []string {
	names, _ := fs.Glob(files, "*.schema.json")
	return names
}

// Source returns the text of the schema file name.
func Source(name string) ([]byte, error) {
	return files.ReadFile(name)
}

// Compile compiles the schema file name, with every other file of the
// package available to its references, and with format assertions on
// (date-time, ipv4 and ipv6 are checked, not only annotated).
func Compile(name string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, n := range Files() {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		if err := c.AddResource(BaseURL+n, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
	}
	s, err := c.Compile(BaseURL + name)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", name, err)
	}
	return s, nil
}

// Validate checks one JSON document (or one JSON line) against the compiled
// schema s.
func Validate(s *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// ValidateLines checks every non-empty line of out against s and returns
// the first failure, naming its line.
func ValidateLines(s *jsonschema.Schema, out []byte) error {
	for i, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := Validate(s, []byte(line)); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

// CompareType compares the JSON fields of the Go type typ (a struct, or a
// pointer to one) with the object schema at pointer (a JSON pointer such as
// "/$defs/status", "" for the root) in the file name, and descends into
// the struct and list types of its fields alongside the schema. It returns
// one line per difference, so that a field added to a Go type without its
// schema (or the other way round) fails a test:
//
//   - a Go field the schema has no property for;
//   - a schema property no Go field gives, except those named in extra
//     (written by someone else: the writer's "schema_version");
//   - a Go field always written (no omitempty/omitzero) that the schema
//     does not require, or one that may be left out that it requires.
//
// Properties come from the object's "properties" and those of the schemas
// it applies in place ("$ref", "allOf"), across files.
func CompareType(name, pointer string, typ reflect.Type, extra ...string) ([]string, error) {
	l := &loader{docs: map[string]any{}}
	node, file, err := l.resolve(name, pointer)
	if err != nil {
		return nil, err
	}
	var diffs []string
	err = l.compare(&diffs, typ.String(), typ, node, file, extra)
	slices.Sort(diffs)
	return diffs, err
}

// loader reads schema files as plain JSON values and follows references.
type loader struct{ docs map[string]any }

func (l *loader) doc(name string) (any, error) {
	if d, ok := l.docs[name]; ok {
		return d, nil
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	l.docs[name] = d
	return d, nil
}

// resolve returns the value at the JSON pointer in file name.
func (l *loader) resolve(name, pointer string) (any, string, error) {
	v, err := l.doc(name)
	if err != nil {
		return nil, "", err
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("schema %s: %s: %q is not in an object", name, pointer, tok)
		}
		if v, ok = m[tok]; !ok {
			return nil, "", fmt.Errorf("schema %s: %s: no %q", name, pointer, tok)
		}
	}
	return v, name, nil
}

// follow resolves a "$ref" made in file from.
func (l *loader) follow(from, ref string) (any, string, error) {
	file, pointer, _ := strings.Cut(ref, "#")
	if file == "" {
		file = from
	}
	return l.resolve(strings.TrimPrefix(file, BaseURL), pointer)
}

// object gathers the properties and required names of the object schema
// node, with those of the schemas it applies in place.
func (l *loader) object(node any, file string, props map[string]propRef, required map[string]bool) error {
	m, ok := node.(map[string]any)
	if !ok {
		return nil
	}
	if ps, ok := m["properties"].(map[string]any); ok {
		for k, v := range ps {
			props[k] = propRef{v, file}
		}
	}
	if rs, ok := m["required"].([]any); ok {
		for _, r := range rs {
			required[r.(string)] = true
		}
	}
	if ref, ok := m["$ref"].(string); ok {
		target, tf, err := l.follow(file, ref)
		if err != nil {
			return err
		}
		if err := l.object(target, tf, props, required); err != nil {
			return err
		}
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			if err := l.object(sub, file, props, required); err != nil {
				return err
			}
		}
	}
	return nil
}

type propRef struct {
	node any
	file string
}

// deref follows "$ref" until node is a schema without one (for a field's
// own schema, whose description may sit beside the $ref).
func (l *loader) deref(node any, file string) (any, string, error) {
	for range 16 {
		m, ok := node.(map[string]any)
		if !ok {
			return node, file, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return node, file, nil
		}
		var err error
		if node, file, err = l.follow(file, ref); err != nil {
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("schema %s: $ref chain too long", file)
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonField is a Go struct field as encoding/json sees it.
type jsonField struct {
	name      string
	typ       reflect.Type
	omittable bool // omitempty or omitzero
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		omit := false
		for _, o := range strings.Split(opts, ",") {
			omit = omit || o == "omitempty" || o == "omitzero"
		}
		out = append(out, jsonField{name: name, typ: sf.Type, omittable: omit})
	}
	return out
}

func (l *loader) compare(diffs *[]string, path string, t reflect.Type, node any, file string, extra []string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType || t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return nil
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		n, f, err := l.deref(node, file)
		if err != nil {
			return err
		}
		items, ok := n.(map[string]any)["items"]
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: a Go list, but the schema (%s) has no items", path, f))
			return nil
		}
		return l.compare(diffs, path+"[]", t.Elem(), items, f, nil)
	case t.Kind() != reflect.Struct:
		return nil
	}
	props, required := map[string]propRef{}, map[string]bool{}
	if err := l.object(node, file, props, required); err != nil {
		return err
	}
	if len(props) == 0 {
		*diffs = append(*diffs, fmt.Sprintf("%s: a Go struct, but the schema (%s) lists no properties", path, file))
		return nil
	}
	seen := map[string]bool{}
	for _, f := range jsonFields(t) {
		seen[f.name] = true
		p, ok := props[f.name]
		switch {
		case !ok:
			*diffs = append(*diffs, fmt.Sprintf("%s.%s: Go field with no property in %s", path, f.name, file))
			continue
		case !f.omittable && !required[f.name]:
			*diffs = append(*diffs, fmt.Sprintf("%s.%s: always written, but not required by %s", path, f.name, file))
		case f.omittable && required[f.name]:
			*diffs = append(*diffs, fmt.Sprintf("%s.%s: may be left out (omitempty/omitzero), but required by %s", path, f.name, file))
		}
		if err := l.compare(diffs, path+"."+f.name, f.typ, p.node, p.file, nil); err != nil {
			return err
		}
	}
	for name := range props {
		if !seen[name] && !slices.Contains(extra, name) {
			*diffs = append(*diffs, fmt.Sprintf("%s.%s: property in %s that no Go field gives", path, name, file))
		}
	}
	return nil
}
