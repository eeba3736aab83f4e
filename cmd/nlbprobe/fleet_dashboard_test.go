package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dashboardExpr is one PromQL expression of the Grafana dashboard, with
// Grafana's variables replaced by values Prometheus takes.
type dashboardExpr struct {
	where  string // panel title or variable name
	expr   string
	legend string // the target's legendFormat
}

var (
	// $__rate_interval, $__interval, $__range...: Grafana's own, durations.
	grafanaDurationVar = regexp.MustCompile(`\$__\w+|\$\{__\w+\}`)
	// $instance, ${cluster}, ${cluster:regex}: the dashboard's variables,
	// used only inside =~ matchers, where "All" is ".*".
	grafanaVar = regexp.MustCompile(`\$\{\w+(:\w+)?\}|\$\w+`)
	// label_values(SELECTOR, label): a variable's query.
	labelValues = regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
)

// readDashboard returns every expression of the dashboard: the panels'
// targets and the variables' label_values selectors. It fails the test on a
// panel without one.
func readDashboard(t *testing.T) []dashboardExpr {
	t.Helper()
	b, err := os.ReadFile(fleetDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string           `json:"title"`
		UID    string           `json:"uid"`
		Panels []map[string]any `json:"panels"`
		Templ  struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON: %v", fleetDashboard, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard without title or uid")
	}
	var out []dashboardExpr
	sub := func(e string) string {
		return grafanaVar.ReplaceAllString(grafanaDurationVar.ReplaceAllString(e, "5m"), ".*")
	}
	var panels func(ps []map[string]any)
	panels = func(ps []map[string]any) {
		for _, p := range ps {
			title, _ := p["title"].(string)
			if nested, ok := p["panels"].([]any); ok {
				var inner []map[string]any
				for _, n := range nested {
					if m, ok := n.(map[string]any); ok {
						inner = append(inner, m)
					}
				}
				panels(inner)
			}
			if p["type"] == "row" {
				continue
			}
			targets, _ := p["targets"].([]any)
			n := 0
			for _, tg := range targets {
				m, _ := tg.(map[string]any)
				if e, ok := m["expr"].(string); ok && e != "" {
					legend, _ := m["legendFormat"].(string)
					out = append(out, dashboardExpr{where: "panel " + title, expr: sub(e), legend: legend})
					n++
				}
			}
			if n == 0 {
				t.Errorf("panel %q has no expression", title)
			}
		}
	}
	panels(d.Panels)
	for _, v := range d.Templ.List {
		if v.Type != "query" {
			continue
		}
		q := fmt.Sprint(v.Query)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		lv := labelValues.FindStringSubmatch(q)
		if lv == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, label)", v.Name, q)
			continue
		}
		out = append(out, dashboardExpr{where: "variable " + v.Name, expr: sub(lv[1])})
	}
	return out
}

// TestFleetDashboard: every expression of the Grafana dashboard parses
// (with Prometheus' parser here, and with promtool, the shipped server's)
// and names only metrics nlbprobe serves; and the dashboard shows what
// issue 19 asks for: clusters and hosts, heartbeat ages, flooding, drops,
// MTU per target.
func TestFleetDashboard(t *testing.T) {
	exprs := readDashboard(t)
	exported := exportedMetricNames()
	used := map[string]bool{}
	for _, e := range exprs {
		for _, m := range exprMetricNames(t, e.expr) {
			used[m] = true
			if !exported[m] {
				t.Errorf("%s: %s names %s, which nlbprobe does not serve", e.where, e.expr, m)
			}
		}
		// Remote spans stay apart: in joins, and in the legend, where two
		// sessions' series would otherwise look the same.
		for _, err := range sessionMatching(e.expr) {
			t.Errorf("%s: %s: %v", e.where, e.expr, err)
		}
		if strings.Contains(e.legend, "{{vlan}}") && !strings.Contains(e.legend, "{{remote_span}}") {
			t.Errorf("%s: legend %q names the VLAN but not the remote span", e.where, e.legend)
		}
	}
	for _, want := range []string{"nlbprobe_cluster_hosts", "nlbprobe_cluster_hosts_max", "nlbprobe_cluster_mode",
		"nlbprobe_host_last_seen_age_seconds", "nlbprobe_cluster_mac_frames_total", "nlbprobe_cluster_mac_flooding",
		"nlbprobe_kernel_drops_total", "nlbprobe_path_mtu_bytes", "nlbprobe_path_mtu_blackhole"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}

	// promtool checks each expression as a recording rule.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(e.expr) // a JSON string is a YAML double-quoted scalar
		fmt.Fprintf(&rules, "      - record: dashboard:expr_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, ".", "check", "rules", path)
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(exprs))) {
		t.Errorf("promtool check rules on the dashboard's expressions: %v\n%s", err, out)
	}
}
