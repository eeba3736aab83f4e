// Package report renders an analyze.Report for people and programs: as
// text (WriteText) and as the JSON document of the contract (WriteJSON).
// It owns presentation, so the engine in package analyze stays free of it
// and a new output format is one file here. It reads the Report only; it
// never changes it.
package report
