// Package report renders an analyze.Report for people and programs: as
// text (WriteText), as the JSON document of the contract (WriteJSON, its
// JSON Schema in schema/) and as one self-contained HTML page with the
// capture's timeline (WriteHTML).
// It owns presentation, so the engine in package analyze stays free of it
// and a new output format is one file here. It reads the Report only; it
// never changes it.
package report

// SchemaVersion is the version of nlbprobe's machine-readable contract:
// the JSON report, the watch stream, the mtu result and sweep-summary
// lines. Every document carries it as "schema_version"; a change that
// renames, removes or retypes a field bumps it (adding a field does not).
// Version 1 was the unversioned contract before fields were renamed for
// consistency with the metrics.
const SchemaVersion = 2
