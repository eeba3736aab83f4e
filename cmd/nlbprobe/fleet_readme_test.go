package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nlbprobe/nlbprobe/capture/netlab"
)

// fleetScrapeConfig returns the README's Prometheus configuration (block
// fleet-scrape) with the rules file at rules and, for each job, the
// targets given instead of the README's, plus global intervals when every
// is set: what the lab's Prometheus runs. A job the README does not have
// fails the test.
func fleetScrapeConfig(t *testing.T, rules string, jobs map[string][]string, every time.Duration) []byte {
	t.Helper()
	block := readmeBlockNamed(t, "fleet-scrape")
	if block.lang != "yaml" {
		t.Fatalf("README block fleet-scrape is %q, want yaml", block.lang)
	}
	var cfg struct {
		Global        map[string]string `yaml:"global,omitempty"`
		RuleFiles     []string          `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(strings.Join(block.body, "\n")), &cfg); err != nil {
		t.Fatalf("README block fleet-scrape: %v", err)
	}
	if len(cfg.RuleFiles) != 1 || filepath.Base(cfg.RuleFiles[0]) != filepath.Base(fleetRules) {
		t.Errorf("README block fleet-scrape loads %v, want the shipped %s", cfg.RuleFiles, filepath.Base(fleetRules))
	}
	cfg.RuleFiles = []string{rules}
	if every > 0 {
		cfg.Global = map[string]string{"scrape_interval": every.String(), "scrape_timeout": every.String(), "evaluation_interval": every.String()}
	}
	seen := map[string]bool{}
	for i, sc := range cfg.ScrapeConfigs {
		if !strings.HasPrefix(sc.JobName, "nlbprobe") {
			t.Errorf("README job %q: NLBProbeDown selects jobs named nlbprobe...", sc.JobName)
		}
		seen[sc.JobName] = true
		targets, ok := jobs[sc.JobName]
		if !ok {
			continue
		}
		if len(sc.StaticConfigs) != 1 {
			t.Fatalf("README job %s: %d static_configs, want 1", sc.JobName, len(sc.StaticConfigs))
		}
		cfg.ScrapeConfigs[i].StaticConfigs[0].Targets = targets
	}
	for job := range jobs {
		if !seen[job] {
			t.Fatalf("the README's configuration has no job %s", job)
		}
	}
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFleetREADMEScrape: Prometheus' own checker accepts the README's
// configuration, with the shipped rules file it loads (the lab runs it in
// a real Prometheus).
func TestFleetREADMEScrape(t *testing.T) {
	rules, err := filepath.Abs(fleetRules)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fleetScrapeConfig(t, rules, nil, 0)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, ".", "check", "config", path)
	if err != nil || !strings.Contains(out, "SUCCESS: 1 rule files found") {
		t.Errorf("promtool check config on the README's configuration: %v\n%s", err, out)
	}
}

// TestFleetREADMERules runs the README's fleet-rules lines from the
// repository's root: check, test, and install (into a temporary folder
// instead of /etc/prometheus).
func TestFleetREADMERules(t *testing.T) {
	lines := readmeExample(t, "fleet-rules")
	if len(lines) != 3 {
		t.Fatalf("README block fleet-rules has %d lines, the test runs 3: update it", len(lines))
	}
	netlab.RequireTool(t, "promtool")
	tmp := t.TempDir()
	for i, line := range lines {
		line = strings.ReplaceAll(strings.TrimPrefix(line, "sudo "), "/etc/prometheus/", tmp+"/")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", line)
		cmd.Dir = moduleRoot()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		want := []string{"SUCCESS", "SUCCESS", ""}[i]
		if err != nil || !strings.Contains(out.String(), want) {
			t.Errorf("%s: %v\n%s", line, err, out.String())
		}
	}
	installed, err := os.ReadFile(filepath.Join(tmp, "nlbprobe.rules.yml"))
	shipped, _ := os.ReadFile(fleetRules)
	if err != nil || !bytes.Equal(installed, shipped) {
		t.Errorf("the install line did not copy the rules: %v", err)
	}
}

// TestFleetREADMEMetrics: the README's metrics table names every metric
// watch serves.
func TestFleetREADMEMetrics(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, d := range allDescs {
		if name := descName(d); !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("the README's metrics table does not name %s", name)
		}
	}
}
