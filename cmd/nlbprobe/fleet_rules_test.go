package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// The fleet files: Prometheus rules, their promtool unit tests and the
// Grafana dashboard, shipped in cmd/nlbprobe/fleet (see its README.md).
const (
	fleetDir       = "fleet"
	fleetRules     = "fleet/nlbprobe.rules.yml"
	fleetRuleTests = "fleet/nlbprobe.rules.test.yml"
	fleetDashboard = "fleet/grafana-dashboard.json"
)

// fleetLabAlerts are the alerts the end-to-end lab (TestFleetLab) breaks
// things for and asserts through Prometheus' API that they fire and
// resolve: with the promtool cases, every alert of the rules file must be
// proven by one or the other (TestFleetRulesCovered).
var fleetLabAlerts = []string{
	"NLBClusterHostsBelowPeak", "NLBClusterMACFlooding", "NLBHostSilent", "NLBPathMTUBelowExpected", "NLBPathMTUBlackhole",
	"NLBProbeDown", "NLBStaticARPStale",
}

// mtuMetricNames are the metric names `nlbprobe mtu --every
// --metrics-listen` and --textfile serve, from their Desc definitions.
func mtuMetricNames() []string {
	ch := make(chan *prometheus.Desc, 64)
	newMTUMetrics(buildInfo{}, 0, 0).Describe(ch)
	close(ch)
	var names []string
	for d := range ch {
		names = append(names, descName(d))
	}
	return names
}

// exportedMetricNames are the metric names nlbprobe serves (watch's and
// mtu's, from their Desc definitions), plus Prometheus' own `up`.
func exportedMetricNames() map[string]bool {
	names := map[string]bool{"up": true}
	for _, d := range allDescs {
		names[descName(d)] = true
	}
	for _, n := range mtuMetricNames() {
		names[n] = true
	}
	return names
}

// ruleFile is a Prometheus rules file as far as the tests read it.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read rules: %v", err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("no rules in %s", path)
	}
	return out
}

// ruleTestFile is a `promtool test rules` file as far as the tests read it.
type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// promtool runs promtool with args in dir, bounded to a minute.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	netlab.RequireTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "promtool", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestFleetRulesCheck: Prometheus' own checker accepts the rules file.
func TestFleetRulesCheck(t *testing.T) {
	out, err := promtool(t, ".", "check", "rules", fleetRules)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules %s: %v\n%s", fleetRules, err, out)
	}
}

// TestFleetRulesUnit runs the rules' unit tests: input series in, the
// alerts expected out (pending, firing with their text, resolved).
func TestFleetRulesUnit(t *testing.T) {
	out, err := promtool(t, fleetDir, "test", "rules", filepath.Base(fleetRuleTests))
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestFleetRulesCovered fails when an alert of the rules file fires in
// neither a promtool case nor the end-to-end lab: a new alert needs a test.
func TestFleetRulesCovered(t *testing.T) {
	rules := readRules(t, fleetRules)
	b, err := os.ReadFile(fleetRuleTests)
	if err != nil {
		t.Fatal(err)
	}
	var tf ruleTestFile
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatalf("parse %s: %v", fleetRuleTests, err)
	}
	if !slices.Contains(tf.RuleFiles, filepath.Base(fleetRules)) {
		t.Errorf("%s does not load %s: %v", fleetRuleTests, fleetRules, tf.RuleFiles)
	}
	fires := map[string]bool{}
	for _, g := range tf.Tests {
		for _, a := range g.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		alerts[r.Alert] = true
		if !fires[r.Alert] && !slices.Contains(fleetLabAlerts, r.Alert) {
			t.Errorf("alert %s fires in no promtool case of %s and is not asserted by the end-to-end lab (fleetLabAlerts)",
				r.Alert, fleetRuleTests)
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which the rules file does not have", fleetRuleTests, name)
		}
	}
	for _, name := range fleetLabAlerts {
		if !alerts[name] {
			t.Errorf("the lab asserts alert %s, which the rules file does not have", name)
		}
	}
}

// TestFleetRulesShape: every alert waits (for:), says how bad it is
// (severity), tells what happened and the first step of the remedy, and
// names only metrics nlbprobe serves.
func TestFleetRulesShape(t *testing.T) {
	exported := exportedMetricNames()
	for _, r := range readRules(t, fleetRules) {
		name := r.Alert + r.Record
		if r.Alert == "" {
			continue
		}
		if d, err := time.ParseDuration(r.For); err != nil || d <= 0 {
			t.Errorf("%s: for: %q, want a duration", name, r.For)
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("%s: severity %q, want critical, warning or info", name, r.Labels["severity"])
		}
		if r.Annotations["summary"] == "" || !strings.Contains(r.Annotations["description"], "First step:") {
			t.Errorf("%s: want a summary and a description with the remedy's first step: %v", name, r.Annotations)
		}
		for _, m := range exprMetricNames(t, r.Expr) {
			if !exported[m] {
				t.Errorf("%s: expression names %s, which nlbprobe does not serve", name, m)
			}
		}
		for _, err := range sessionMatching(r.Expr) {
			t.Errorf("%s: %v", name, err)
		}
		// An alert about a cluster or host says which one, and through
		// which remote span the probe saw it.
		for _, l := range []string{"cluster", "host", "remote_span"} {
			if exprHasLabel(r.Expr, l) && !strings.Contains(r.Annotations["summary"]+r.Annotations["description"], "$labels."+l) {
				t.Errorf("%s: the series carry %s but the text does not name it", name, l)
			}
		}
	}
}

// exprMetricNames parses a PromQL expression with Prometheus' own parser
// and returns the metric names it selects.
func exprMetricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("PromQL %q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				t.Errorf("PromQL %q selects series without a metric name: %s", expr, vs)
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("PromQL %q selects no metric", expr)
	}
	return names
}

// exprHasLabel says whether the series an expression selects carry label l
// (every metric with a cluster or host label does).
func exprHasLabel(expr, l string) bool {
	for _, d := range allDescs {
		if strings.Contains(expr, descName(d)) && slices.Contains(descLabels(d), l) {
			return true
		}
	}
	return false
}

// descLabels reads the variable label names out of a Desc (the client
// library has no accessor).
func descLabels(d interface{ String() string }) []string {
	_, rest, _ := strings.Cut(d.String(), "variableLabels: {")
	list, _, _ := strings.Cut(rest, "}")
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

// sessionMatching checks that an expression keeps remote spans apart: a
// join or aggregation that matches on vlan matches on remote_span too, and
// none ignores or aggregates remote_span away. The same cluster or MAC on
// the same VLAN of two remote spans (two switches mirrored to one probe)
// are different series; matched on vlan alone they collide (a group_left
// join fails) or mix (one session's fault alerts for the other).
func sessionMatching(expr string) []error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return []error{err}
	}
	var errs []error
	check := func(what string, labels []string, keep bool) {
		if keep && slices.Contains(labels, "vlan") && !slices.Contains(labels, "remote_span") {
			errs = append(errs, fmt.Errorf("%s (%s) has vlan but not remote_span", what, strings.Join(labels, ", ")))
		}
		if !keep && slices.Contains(labels, "remote_span") {
			errs = append(errs, fmt.Errorf("%s (%s) drops remote_span", what, strings.Join(labels, ", ")))
		}
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.BinaryExpr:
			if m := n.VectorMatching; m != nil && len(m.MatchingLabels) > 0 {
				check(fmt.Sprintf("%s on/ignoring", n.Op), m.MatchingLabels, m.On)
			}
		case *parser.AggregateExpr:
			if len(n.Grouping) > 0 {
				check(fmt.Sprintf("%s by/without", n.Op), n.Grouping, !n.Without)
			}
		}
		return nil
	})
	return errs
}

// TestSessionMatching: the check finds the joins that would mix remote
// spans, and passes those that keep them apart.
func TestSessionMatching(t *testing.T) {
	for expr, bad := range map[string]bool{
		`a * on (instance, mac, vlan, svlan) group_left (cluster) b`:              true,
		`a * on (instance, mac, vlan, svlan, remote_span) group_left (cluster) b`: false,
		`a and ignoring (remote_span) b`:                                          true,
		`sum by (instance, vlan) (a)`:                                             true,
		`sum by (instance, vlan, remote_span) (a)`:                                false,
		`sum without (remote_span) (a)`:                                           true,
		`sum by (instance, protocol) (a)`:                                         false,
		`a and on (instance, job) b`:                                              false,
	} {
		if got := len(sessionMatching(expr)) > 0; got != bad {
			t.Errorf("%s: flagged %v, want %v", expr, got, bad)
		}
	}
}
