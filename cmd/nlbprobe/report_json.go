package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/nlbprobe/nlbprobe/analyze"
)

// writeReportJSON writes the report as JSON, field by field and, within
// the top-level lists (bindings, findings...), element by element, so that
// a report of a long watch (65,536 ARP bindings after a flood) never sits
// in memory a second time as one encoded buffer. indent gives the same
// bytes as json.Encoder with SetIndent("", "  ") (--json of read and
// watch);
// without it, one line, as json.Encoder writes it (--json-stream). prefix
// is written inside the object before the report's own fields (the
// stream's "type").
func writeReportJSON(w io.Writer, r *analyze.Report, indent bool, prefix map[string]string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	nl, in1, in2, colon := "", "", "", ":"
	if indent {
		nl, in1, in2, colon = "\n", "  ", "    ", ": "
	}
	marshal := func(v any, pre string) ([]byte, error) {
		if indent {
			return json.MarshalIndent(v, pre, "  ")
		}
		return json.Marshal(v)
	}
	bw.WriteString("{" + nl)
	first := true
	field := func(name string) {
		if !first {
			bw.WriteString("," + nl)
		}
		first = false
		key, _ := json.Marshal(name)
		bw.WriteString(in1)
		bw.Write(key)
		bw.WriteString(colon)
	}
	for _, k := range slices.Sorted(maps.Keys(prefix)) {
		field(k)
		v, _ := json.Marshal(prefix[k])
		bw.Write(v)
	}
	rv := reflect.ValueOf(r).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		field(name)
		fv := rv.Field(i)
		if fv.Kind() != reflect.Slice || fv.IsNil() || fv.Len() == 0 {
			b, err := marshal(fv.Interface(), in1)
			if err != nil {
				return fmt.Errorf("encode %s: %w", name, err)
			}
			bw.Write(b)
			continue
		}
		bw.WriteString("[" + nl)
		for j := 0; j < fv.Len(); j++ {
			if j > 0 {
				bw.WriteString("," + nl)
			}
			b, err := marshal(fv.Index(j).Interface(), in2)
			if err != nil {
				return fmt.Errorf("encode %s: %w", name, err)
			}
			bw.WriteString(in2)
			bw.Write(b)
		}
		bw.WriteString(nl + in1 + "]")
	}
	bw.WriteString(nl + "}\n")
	return bw.Flush()
}
