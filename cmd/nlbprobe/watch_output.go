package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze"
	"github.com/nlbprobe/nlbprobe/analyze/finding"
	"github.com/nlbprobe/nlbprobe/analyze/report"
)

// streamer writes what watch says while it runs and at the end:
//
//   - text (default): a line per finding as it is raised or updated and a
//     status line every --interval on stdout, then the text report;
//   - --json: the same lines on stderr, for the person watching, and only
//     the JSON report on stdout, so stdout stays one document;
//   - --json-stream: JSON lines on stdout, each with a "type": "finding"
//     (the finding's fields plus "event": "raised" or "updated"),
//     "status", and "report" last (the report's fields), and each with
//     "schema_version" and "nlbprobe_version"; their JSON Schema is
//     analyze/report/schema/watch-stream.schema.json.
type streamer struct {
	lines      io.Writer // where text lines go
	doc        io.Writer // where the report goes
	asJSON     bool
	jsonStream bool
	version    string // nlbprobe's version, for the JSON stream objects
	err        error
}

func newStreamer(stdout, stderr io.Writer, asJSON, jsonStream bool, version string) *streamer {
	s := &streamer{lines: stdout, doc: stdout, asJSON: asJSON, jsonStream: jsonStream, version: version}
	if asJSON {
		s.lines = stderr
	}
	return s
}

// streamFinding is a finding on the JSON stream. EventTime is the capture
// time of the event (raised or updated), non-decreasing along the stream;
// the finding's own Time is when it was first raised.
type streamFinding struct {
	Type            string `json:"type"` // "finding"
	SchemaVersion   int    `json:"schema_version"`
	NLBProbeVersion string `json:"nlbprobe_version"`
	// Event is "raised" for a new finding, "updated" when a raised one
	// changed (a gap that ended, a count that grew).
	Event string `json:"event"`
	finding.Finding
	EventTime time.Time `json:"event_time"`
}

// finding writes a finding raised or updated at capture time at. Lines
// carry at, so the log reads in capture-time order (issue 16 item 8: an
// update carried the time the finding was first raised); an update says
// when the finding was first raised, and a finding whose own time is not
// at says that time too.
func (s *streamer) finding(f *finding.Finding, isNew bool, at time.Time) {
	if s.err != nil {
		return
	}
	if at.IsZero() {
		at = f.Time
	}
	if s.jsonStream {
		event := "raised"
		if !isNew {
			event = "updated"
		}
		s.err = report.WriteJSONLine(s.doc, streamFinding{Type: "finding", SchemaVersion: report.SchemaVersion,
			NLBProbeVersion: s.version, Event: event, EventTime: at.UTC(), Finding: *f})
		return
	}
	sev := strings.ToUpper(f.Severity.String())
	when := ""
	switch {
	case !isNew:
		sev = "updated " + f.Severity.String()
		when = " (first raised " + clockUTC(f.Time) + ")"
	case clockUTC(f.Time) != clockUTC(at):
		when = " (finding time " + clockUTC(f.Time) + ")"
	}
	_, s.err = fmt.Fprintf(s.lines, "%s %s %s [%s]%s: %s\n", clockUTC(at), sev, f.Kind, f.Subject, when, f.Message)
	if isNew && f.Remedy != "" && s.err == nil {
		_, s.err = fmt.Fprintf(s.lines, "    what to do: %s\n", f.Remedy)
	}
}

func (s *streamer) status(l statusLine) {
	if s.err != nil {
		return
	}
	if s.jsonStream {
		l.Type, l.SchemaVersion, l.NLBProbeVersion = "status", report.SchemaVersion, s.version
		s.err = report.WriteJSONLine(s.doc, l)
		return
	}
	worst := ""
	if l.Worst != "" {
		worst = ", worst " + l.Worst
	}
	_, s.err = fmt.Fprintf(s.lines, "%s status %s: %s (%.1f/s), %d to cluster MACs; %s, %s; %s%s; kernel drops %d\n",
		clockUTC(l.Time), l.Interface, finding.Plural(l.Frames, "frame", "frames"), l.FramesPerSecond, l.ClusterMACFrames,
		finding.Plural(l.Clusters, "cluster", "clusters"), finding.Plural(l.Hosts, "host", "hosts"),
		finding.Plural(l.Findings, "finding", "findings"), worst, l.KernelDrops)
}

func (s *streamer) report(r *analyze.Report) error {
	switch {
	case s.jsonStream:
		return report.WriteJSON(s.doc, r, false, map[string]string{"type": "report"})
	case s.asJSON:
		return report.WriteJSON(s.doc, r, true, nil)
	}
	if _, err := fmt.Fprintln(s.doc); err != nil {
		return err
	}
	return writeReport(s.doc, r, false)
}

// clockUTC formats a time for stream lines as the report does: UTC, to
// the millisecond.
func clockUTC(t time.Time) string { return t.UTC().Format("15:04:05.000") }
