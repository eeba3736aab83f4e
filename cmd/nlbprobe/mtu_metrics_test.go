package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// parseMetrics parses a page of the Prometheus text format and returns
// every sample as "name{label="value",...}" (labels sorted, as the text
// format writes them) to its value.
func parseMetrics(t testing.TB, page string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, page)
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			default:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// promtoolCheckMetrics runs `promtool check metrics` (the linter
// Prometheus ships) on a page: it fails on names, types and help that
// break Prometheus' conventions. Without promtool the check skips, and in
// CI (which installs Debian's prometheus package) it fails.
func promtoolCheckMetrics(t testing.TB, page string) {
	t.Helper()
	netlab.RequireTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\npage:\n%s", err, out, page)
	}
}

// TestMTUMetricsSeries publishes a sweep with a path, a black hole, a dead
// host and a bad target and scrapes it over HTTP: each series has the
// value of the last sweep, per-target series stop at the limit and the
// rest is counted, and promtool accepts the page.
func TestMTUMetricsSeries(t *testing.T) {
	m := newMTUMetrics(buildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26.8"}, 9000, 10*time.Minute)
	scrape := func() string {
		srv := httptest.NewServer(m.handler())
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := parseMetrics(t, scrape())
	if before["nlbprobe_path_mtu_sweeps_total"] != 0 || before["nlbprobe_path_mtu_expected_bytes"] != 9000 {
		t.Errorf("before the first sweep: %v", before)
	}
	if before["nlbprobe_path_mtu_sweep_interval_seconds"] != 600 {
		t.Errorf("before the first sweep of --every 10m: %v", before)
	}
	if _, ok := before["nlbprobe_path_mtu_last_sweep_timestamp_seconds"]; ok {
		t.Errorf("a last sweep time before any sweep: %v", before)
	}
	end := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	results := []*mtuResult{
		{Target: "198.51.100.11", Address: "198.51.100.11", Reachable: true, PathMTU: 9000},
		{Target: "hv2", Address: "198.51.100.12", Reachable: true, PathMTU: 1500, Blackhole: true},
		{Target: "198.51.100.13", Address: "198.51.100.13"},
		{Target: "hv3.example.net", TargetError: true},
	}
	m.publish(results, end, 2500*time.Millisecond)
	page := scrape()
	got := parseMetrics(t, page)
	want := map[string]float64{
		`nlbprobe_build_info{goversion="go1.26.8",revision="abc",version="v1.2.3"}`: 1,
		`nlbprobe_path_mtu_bytes{address="198.51.100.11",target="198.51.100.11"}`:   9000,
		`nlbprobe_path_mtu_bytes{address="198.51.100.12",target="hv2"}`:             1500,
		`nlbprobe_path_mtu_blackhole{target="198.51.100.11"}`:                       0,
		`nlbprobe_path_mtu_blackhole{target="hv2"}`:                                 1,
		`nlbprobe_path_mtu_blackhole{target="198.51.100.13"}`:                       0,
		`nlbprobe_path_mtu_blackhole{target="hv3.example.net"}`:                     0,
		`nlbprobe_path_mtu_reachable{target="198.51.100.11"}`:                       1,
		`nlbprobe_path_mtu_reachable{target="hv2"}`:                                 1,
		`nlbprobe_path_mtu_reachable{target="198.51.100.13"}`:                       0,
		`nlbprobe_path_mtu_reachable{target="hv3.example.net"}`:                     0,
		`nlbprobe_path_mtu_target_error{target="198.51.100.11"}`:                    0,
		`nlbprobe_path_mtu_target_error{target="hv2"}`:                              0,
		`nlbprobe_path_mtu_target_error{target="198.51.100.13"}`:                    0,
		`nlbprobe_path_mtu_target_error{target="hv3.example.net"}`:                  1,
		`nlbprobe_path_mtu_expected_bytes`:                                          9000,
		`nlbprobe_path_mtu_last_sweep_timestamp_seconds`:                            float64(end.Unix()),
		`nlbprobe_path_mtu_sweep_duration_seconds`:                                  2.5,
		`nlbprobe_path_mtu_sweep_interval_seconds`:                                  600,
		`nlbprobe_path_mtu_sweeps_total`:                                            1,
		`nlbprobe_metrics_series_omitted`:                                           0,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scrape:\n got %v\nwant %v", got, want)
	}
	promtoolCheckMetrics(t, page)

	// Past the limit, targets are left out and counted; the kept ones are
	// the first, in target order.
	m.maxTargets = 2
	m.publish(results, end.Add(time.Minute), time.Second)
	got = parseMetrics(t, scrape())
	if got["nlbprobe_metrics_series_omitted"] != 2 || got["nlbprobe_path_mtu_sweeps_total"] != 2 {
		t.Errorf("limit 2 of 4 targets: omitted %v, sweeps %v", got["nlbprobe_metrics_series_omitted"], got["nlbprobe_path_mtu_sweeps_total"])
	}
	for key := range got {
		if strings.Contains(key, "198.51.100.13") || strings.Contains(key, "hv3.example.net") {
			t.Errorf("%s beyond the limit of 2 targets", key)
		}
	}
	if _, ok := got[`nlbprobe_path_mtu_reachable{target="hv2"}`]; !ok {
		t.Errorf("the second target was left out: %v", got)
	}
}

// TestWriteTextfileAtomic writes the metrics file over and over while a
// reader (node_exporter's part) reads it as fast as it can: every read
// must be a whole, parseable file. The system's temporary directory is
// made unusable, so the temporary file can only be beside the final one
// (a rename from elsewhere could cross file systems and is not atomic);
// and nothing is left behind but the final file, readable by others.
func TestWriteTextfileAtomic(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(dir, "no-such-dir"))
	path := filepath.Join(dir, "nlbprobe-mtu.prom")
	m := newMTUMetrics(buildInfo{Version: "(devel)", Revision: "unknown", GoVersion: "go1.26.8"}, 9000, 0)
	// A large page, so that a write that is not atomic is caught half-way.
	var results []*mtuResult
	for i := range 1000 {
		results = append(results, &mtuResult{Target: fmt.Sprintf("hv%04d.example.net", i), Address: fmt.Sprintf("198.51.%d.%d", 100+i/250, i%250+1),
			Reachable: true, PathMTU: 9000})
	}
	m.publish(results, time.Now(), time.Second)
	if err := writeTextfile(path, m.reg); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, partial atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(path)
			if err != nil {
				partial.Add(1)
				continue
			}
			reads.Add(1)
			// The families come sorted by name, the targets in order:
			// a whole file starts with the first and ends with the last.
			if !strings.HasPrefix(string(b), "# HELP nlbprobe_build_info") ||
				!strings.HasSuffix(string(b), "nlbprobe_path_mtu_target_error{target=\"hv0999.example.net\"} 0\n") {
				partial.Add(1)
			}
		}
	}()
	for range 50 {
		if err := writeTextfile(path, m.reg); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads during 50 writes, %d partial or missing", reads.Load(), partial.Load())
	if partial.Load() != 0 || reads.Load() == 0 {
		t.Errorf("%d of %d reads saw a missing or half-written file", partial.Load(), reads.Load()+partial.Load())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := parseMetrics(t, string(b))
	if got[`nlbprobe_path_mtu_reachable{target="hv0999.example.net"}`] != 1 {
		t.Errorf("the last target is not in the file")
	}
	if v, ok := got["nlbprobe_path_mtu_sweep_interval_seconds"]; ok {
		t.Errorf("a one-shot sweep's file says sweeps come every %v s", v)
	}
	promtoolCheckMetrics(t, string(b))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "nlbprobe-mtu.prom" {
		t.Errorf("left in the directory: %v, want only nlbprobe-mtu.prom", entries)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644: node_exporter runs as another user", fi.Mode(), err)
	}
	// A directory that is not there fails, and leaves nothing behind.
	if err := writeTextfile(filepath.Join(dir, "gone", "x.prom"), m.reg); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
