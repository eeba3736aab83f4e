package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/nlbprobe/nlbprobe/analyze"
)

// contractOptions are the encoding options of every JSON document and
// stream object of the contract: encoding/json's behaviour (the v1
// options), but a nil list is [] rather than null, so consumers can index
// every list (analyze/design.md, "The machine-readable contract").
func contractOptions() jsonv2.Options {
	return jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.FormatNilSliceAsNull(false))
}

// WriteJSONLine writes v, a stream object (a watch stream finding or status
// line, an mtu result), as one line of JSON with the contract's encoding
// options. The caller's type gives it its "type", "schema_version" and
// "nlbprobe_version".
func WriteJSONLine(w io.Writer, v any) error {
	b, err := jsonv2.Marshal(v, contractOptions())
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJSON writes the report as JSON, field by field and, within
// the top-level lists (bindings, findings...), element by element, so that
// a report of a long watch (65,536 ARP bindings after a flood) never sits
// in memory a second time as one encoded buffer. indent gives the same
// bytes as json.Encoder with SetIndent("", "  ") (--json of read and
// watch);
// without it, one line, as json.Encoder writes it (--json-stream). prefix
// is written inside the object before the report's own fields (the
// stream's "type"), then "schema_version" (SchemaVersion): the version is
// the writer's, not the engine's.
//
// The values are encoded by encoding/json/v2 (its module mirror, which
// Go 1.27 aliases to the standard library) with the v1 options, so that
// the bytes stay those of encoding/json, but for invalid UTF-8, which both
// replace by U+FFFD (v1 writes it escaped, v2 as it is). v2 writes the
// indentation and the times as it goes, where v1 marshals, then re-scans
// its output to indent it and every time.Time's MarshalJSON to check it.
// On the report of the 5M-frame mix (3.7 MB) that halves the time:
// BenchmarkReportJSON 19-21 -> 10-12 ms on two cores, 37-39 -> 11-18 ms
// on one.
func WriteJSON(w io.Writer, r *analyze.Report, indent bool, prefix map[string]string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	nl, in1, in2, colon := "", "", "", ":"
	if indent {
		nl, in1, in2, colon = "\n", "  ", "    ", ": "
	}
	marshal := func(v any, pre string) ([]byte, error) {
		if indent {
			return jsonv2.Marshal(v, contractOptions(), jsontext.WithIndentPrefix(pre), jsontext.WithIndent("  "))
		}
		return jsonv2.Marshal(v, contractOptions())
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
	field("schema_version")
	bw.WriteString(strconv.Itoa(SchemaVersion))
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
		err := encodeInOrder(fv.Len(), func(j int) ([]byte, error) {
			return marshal(fv.Index(j).Interface(), in2)
		}, func(j int, b []byte) {
			if j > 0 {
				bw.WriteString("," + nl)
			}
			bw.WriteString(in2)
			bw.Write(b)
		})
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		bw.WriteString(nl + in1 + "]")
	}
	bw.WriteString(nl + "}\n")
	return bw.Flush()
}

// encodeWindow is how many elements of a list encodeInOrder holds encoded
// at once: enough to keep every core busy between two writes, few enough
// that a list of 65,536 bindings is never in memory encoded as a whole.
const encodeWindow = 256

// encodeInOrder encodes the n elements of a list with encode, on every
// core, and hands them to write in order. Encoding dominates writing a
// large report (a 5M-frame mix: 2,150 bindings and 71 IGMP groups of
// hundreds of members, 3.7 MB of JSON, 11-18 ms on one core of the 2-core
// test machine); elements are independent, so the work splits by element,
// a window at a time.
func encodeInOrder(n int, encode func(int) ([]byte, error), write func(int, []byte)) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 {
		for j := range n {
			b, err := encode(j)
			if err != nil {
				return err
			}
			write(j, b)
		}
		return nil
	}
	out := make([][]byte, min(n, encodeWindow))
	errs := make([]error, len(out))
	for lo := 0; lo < n; lo += encodeWindow {
		hi := min(lo+encodeWindow, n)
		// Elements vary in size (an IGMP group may hold one member or
		// thousands), so workers take the next one as they finish.
		var next atomic.Int64
		next.Store(int64(lo))
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					j := int(next.Add(1) - 1)
					if j >= hi {
						return
					}
					out[j-lo], errs[j-lo] = encode(j)
				}
			})
		}
		wg.Wait()
		for j := lo; j < hi; j++ {
			if err := errs[j-lo]; err != nil {
				return err
			}
			write(j, out[j-lo])
			out[j-lo] = nil
		}
	}
	return nil
}
