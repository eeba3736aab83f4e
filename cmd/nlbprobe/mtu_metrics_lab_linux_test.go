package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// TestMTUMetricsLab runs `mtu --every --metrics-listen --textfile` in the
// lab against a black hole, a dead host and a bad target, scrapes it over
// HTTP from inside the namespace as Prometheus would, and checks the
// series of the last sweep, the textfile written beside it, and both with
// promtool.
func TestMTUMetricsLab(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildNLBProbe(t)
	l := newRoutedLab(t, 1500, 1400, 1400)
	l.dropFragNeeded(t)
	dir := t.TempDir()
	textfile := filepath.Join(dir, "nlbprobe-mtu.prom")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := l.client.Command(ctx, bin, "mtu", "--every", "300ms", "--timeout", "200ms", "--expect", "1500",
		"--metrics-listen", "127.0.0.1:9717", "--textfile", textfile, "10.0.2.2", "10.0.2.99", "10.0.0.300")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// The endpoint is up before the first sweep ends: it says so on stderr.
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "http://127.0.0.1:9717/metrics") {
		t.Fatalf("no metrics address on stderr: %q", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.client.DialContext(ctx, network, addr)
		},
	}, Timeout: 10 * time.Second}
	scrape := func() string {
		t.Helper()
		resp, err := client.Get("http://127.0.0.1:9717/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var page string
	var got map[string]float64
	for {
		page = scrape()
		got = parseMetrics(t, page)
		if got["nlbprobe_path_mtu_sweeps_total"] >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("fewer than 2 sweeps in time:\n%s", page)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("scrape:\n%s", page)
	for series, want := range map[string]float64{
		`nlbprobe_path_mtu_bytes{address="10.0.2.2",target="10.0.2.2"}`: 1400,
		`nlbprobe_path_mtu_blackhole{target="10.0.2.2"}`:                1,
		`nlbprobe_path_mtu_reachable{target="10.0.2.2"}`:                1,
		`nlbprobe_path_mtu_reachable{target="10.0.2.99"}`:               0,
		`nlbprobe_path_mtu_target_error{target="10.0.2.99"}`:            0,
		`nlbprobe_path_mtu_reachable{target="10.0.0.300"}`:              0,
		`nlbprobe_path_mtu_target_error{target="10.0.0.300"}`:           1,
		`nlbprobe_path_mtu_expected_bytes`:                              1500,
		`nlbprobe_metrics_series_omitted`:                               0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	for key := range got {
		if strings.HasPrefix(key, "nlbprobe_path_mtu_bytes{") && !strings.Contains(key, `"10.0.2.2"`) {
			t.Errorf("%s: a path MTU for a target that did not answer", key)
		}
	}
	last := got["nlbprobe_path_mtu_last_sweep_timestamp_seconds"]
	if age := float64(time.Now().UnixNano())/1e9 - last; age < 0 || age > 60 {
		t.Errorf("last sweep %v, %vs ago", last, age)
	}
	if d := got["nlbprobe_path_mtu_sweep_duration_seconds"]; d <= 0 || d > 60 {
		t.Errorf("sweep duration %vs", d)
	}
	var buildInfo bool
	for key, v := range got {
		buildInfo = buildInfo || strings.HasPrefix(key, "nlbprobe_build_info{") && v == 1
	}
	if !buildInfo {
		t.Error("no nlbprobe_build_info")
	}
	promtoolCheckMetrics(t, page)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	b, err := os.ReadFile(textfile)
	if err != nil {
		t.Fatalf("textfile: %v", err)
	}
	file := parseMetrics(t, string(b))
	if file[`nlbprobe_path_mtu_bytes{address="10.0.2.2",target="10.0.2.2"}`] != 1400 || file["nlbprobe_path_mtu_sweeps_total"] < 2 {
		t.Errorf("textfile:\n%s", b)
	}
	promtoolCheckMetrics(t, string(b))
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the textfile directory holds %d entries, want the file alone", len(entries))
	}
}
