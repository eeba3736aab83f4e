// Package finding defines what nlbprobe reports: a Finding (a kind, a
// severity, the frames that prove it and what to do about it) and the
// bounded Store that collects findings as analyzers raise them, dedupes them
// by key and hands each new one to a streaming callback.
package finding

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/nlbprobe/nlbprobe/analyze/addr"
	"github.com/nlbprobe/nlbprobe/analyze/frame"
)

// Severity orders findings. The zero value is Info.
type Severity uint8

// The severities, in increasing order.
const (
	Info Severity = iota
	Warning
	Error
)

var severityNames = [...]string{"info", "warning", "error"}

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity parses "info", "warning" or "error".
func ParseSeverity(v string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(n, v) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("finding: unknown severity %q (want info, warning or error)", v)
}

// Kind names a class of finding. The names are part of the JSON contract.
type Kind string

// The finding kinds. The JSON schema (analyze/report/schema) lists them all.
const (
	DuplicateIP           Kind = "duplicate-ip"
	MACChange             Kind = "mac-change"
	NLBModeChange         Kind = "nlb-mode-change"
	NLBStaleClusterMAC    Kind = "nlb-stale-cluster-mac"
	NLBMixedModes         Kind = "nlb-mixed-modes"
	DuplicateHostPriority Kind = "duplicate-host-priority"
	PortRuleMismatch      Kind = "port-rule-mismatch"
	HeartbeatGap          Kind = "heartbeat-gap"
	ClusterNotSeen        Kind = "cluster-not-seen"
	IGMPMemberMissing     Kind = "igmp-member-missing"
	IGMPNoQuerier         Kind = "igmp-no-querier"
	MulticastFlooding     Kind = "multicast-flooding"
	UnicastFlooding       Kind = "unicast-flooding"
	MalformedFrame        Kind = "malformed-frame"
	CaptureTruncated      Kind = "capture-truncated"
	CaptureFileTruncated  Kind = "capture-file-truncated"
	CaptureTimeJump       Kind = "capture-time-jump"
	CaptureDrops          Kind = "capture-drops"
	UnsupportedLinkType   Kind = "unsupported-link-type"
	StateEvicted          Kind = "state-evicted"
	StaleStaticARP        Kind = "stale-static-arp"
	HyperVMACSpoofing     Kind = "hyperv-mac-spoofing"
	PathMTUBlackhole      Kind = "path-mtu-blackhole"
	PathMTUBelowExpected  Kind = "path-mtu-below-expected"
	PathMTUUnreachable    Kind = "path-mtu-unreachable"
	// PathMTUTargetError: a target that could not be probed at all (a name
	// that does not resolve, no route, probes refused by this host), as
	// opposed to one that was probed and did not answer.
	PathMTUTargetError Kind = "path-mtu-target-error"
)

// Kinds lists every kind above, in that order. The JSON schema's enum of
// finding kinds (analyze/report/schema/report.schema.json) must equal it,
// and a test checks that every Kind constant of this package is listed, so a
// new kind cannot reach the output without reaching the contract.
var Kinds = []Kind{
	DuplicateIP, MACChange, NLBModeChange, NLBStaleClusterMAC, NLBMixedModes,
	DuplicateHostPriority, PortRuleMismatch, HeartbeatGap, ClusterNotSeen,
	IGMPMemberMissing, IGMPNoQuerier, MulticastFlooding, UnicastFlooding,
	MalformedFrame, CaptureTruncated, CaptureFileTruncated, CaptureTimeJump, CaptureDrops,
	UnsupportedLinkType, StateEvicted, StaleStaticARP, HyperVMACSpoofing,
	PathMTUBlackhole, PathMTUBelowExpected, PathMTUUnreachable, PathMTUTargetError,
}

// Finding is one thing nlbprobe found, with the frames that show it.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// Subject is what the finding is about, e.g. "cluster 192.168.100.80 vlan 10"
	// or "192.168.1.5": stable for one subject, so findings can be grouped.
	Subject string `json:"subject"`
	// VLAN is the 802.1Q VLAN ID the finding is about (0: untagged, or not
	// about one VLAN) and SVLAN the outer tag of a QinQ VLAN (0: none).
	// Store.Raise fills SVLAN from the key.
	VLAN  uint16 `json:"vlan"`
	SVLAN uint16 `json:"svlan"`
	// RemoteSpan is the remote-span session the finding's frames came
	// through (ERSPAN, VXLAN), nil for frames seen directly. The Store
	// sets it from the Key's VLAN.
	RemoteSpan *RemoteSpan `json:"remote_span,omitempty"`
	// Time is when the finding became known, in packet time (the frame that
	// proved it), or the probe time for path-MTU findings.
	Time time.Time `json:"time"`
	// Start and End bound a finding that lasts (a heartbeat gap). End is zero
	// while it is still going on.
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Message string    `json:"message"`
	// Remedy is one line on what to do about it, "" when there is nothing
	// to do. Commands in it stand in backquotes, filled with the values the
	// capture showed; what it cannot know is a placeholder in angle
	// brackets (see analyze/remedy).
	Remedy string `json:"remedy"`
	// Evidence holds frame numbers (1-based, across all inputs of a run), at
	// most MaxEvidence of them: the first ones seen.
	Evidence []uint64 `json:"evidence"`
	// Count is how many times the finding was raised (frames or events).
	Count uint64 `json:"count"`
	// Related names the addresses involved, for scripts (empty lists when
	// none).
	IPs  []netip.Addr `json:"ips"`
	MACs []addr.MAC   `json:"macs"`
}

// RemoteSpan names a remote-span session: frames mirrored to the capture
// inside ERSPAN or VXLAN, whose state nlbprobe keeps apart from other
// sessions' and from the frames seen directly.
type RemoteSpan struct {
	// Kind is "erspan" (ERSPAN type I, II or III) or "vxlan".
	Kind string `json:"kind"`
	// ID is the ERSPAN session ID (0 for type I, which has none) or the
	// VXLAN VNI.
	ID uint32 `json:"id"`
}

// RemoteSpanOf returns the remote-span session of vlan, nil for none.
func RemoteSpanOf(vlan frame.VLAN) *RemoteSpan {
	kind, id := vlan.Session()
	if kind == frame.SessionNone {
		return nil
	}
	return &RemoteSpan{Kind: kind.String(), ID: id}
}

// MaxEvidence bounds the frame numbers kept per finding.
const MaxEvidence = 16

// Compare orders findings for reports: most severe first, then by time,
// kind and subject, so output is deterministic.
func Compare(a, b *Finding) int {
	if a.Severity != b.Severity {
		return int(b.Severity) - int(a.Severity)
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.Subject, b.Subject)
}

// Sort sorts fs with Compare.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int { return Compare(&a, &b) })
}
