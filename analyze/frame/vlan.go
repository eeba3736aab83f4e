package frame

import (
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// VLAN identifies the broadcast domain a frame was seen in: the 802.1Q VLAN
// ID of the innermost tag, for a QinQ frame the outer (service) tag in bits
// 16-31, and for a frame that came mirrored through a remote span (ERSPAN,
// VXLAN) the session it came in, kind in bits 56-63 and ID (ERSPAN session
// ID, VXLAN VNI) in bits 32-55. The zero value is an untagged frame seen
// directly. State is kept per VLAN, because the same IP on two VLANs is two
// different stations, and per mirrored session, because two sessions may
// mirror two switches whose VLAN numbers mean different things. It is a
// fixed-size value: keys built from it allocate nothing.
type VLAN uint64

// MakeVLAN returns the VLAN for an inner (customer) ID and an outer
// (service) ID, 0 when there is no outer tag.
func MakeVLAN(inner, outer uint16) VLAN { return VLAN(uint32(outer)<<16 | uint32(inner)) }

// ID returns the innermost 802.1Q VLAN ID, 0 when untagged.
func (v VLAN) ID() uint16 { return uint16(v) }

// Outer returns the outer (802.1ad service) VLAN ID of a QinQ frame, or 0.
func (v VLAN) Outer() uint16 { return uint16(v >> 16) }

// SessionKind is the kind of remote-span session a frame came through.
type SessionKind uint8

// Remote-span session kinds.
const (
	SessionNone   SessionKind = iota // seen directly
	SessionERSPAN                    // ERSPAN type I, II or III (GRE); ID is the session ID (type I: 0)
	SessionVXLAN                     // VXLAN (UDP 4789); ID is the VNI
)

var sessionKindNames = [...]string{"", "erspan", "vxlan"}

// String returns "erspan", "vxlan", or "" for none.
func (k SessionKind) String() string {
	if int(k) < len(sessionKindNames) {
		return sessionKindNames[k]
	}
	return "invalid"
}

// maxSessionID is the largest session ID a VLAN holds: VXLAN's 24-bit VNI
// (an ERSPAN session ID has 10 bits).
const maxSessionID = 1<<24 - 1

// InSession returns v as seen through the remote-span session of kind k and
// ID id (only its low 24 bits are kept).
func (v VLAN) InSession(k SessionKind, id uint32) VLAN {
	return VLAN(uint32(v)) | VLAN(k)<<56 | VLAN(id&maxSessionID)<<32
}

// Session returns the remote-span session v was seen through: SessionNone
// and 0 for a frame seen directly.
func (v VLAN) Session() (SessionKind, uint32) {
	return SessionKind(v >> 56), uint32(v>>32) & maxSessionID
}

// String returns "100", or "200.100" for outer tag 200 and inner tag 100,
// or "untagged", followed for a frame of a remote span by its session:
// "100 (erspan session 7)", "untagged (vxlan vni 5000)".
func (v VLAN) String() string {
	var s string
	switch {
	case v.ID() == 0 && v.Outer() == 0:
		s = "untagged"
	case v.Outer() != 0:
		s = strconv.Itoa(int(v.Outer())) + "." + strconv.Itoa(int(v.ID()))
	default:
		s = strconv.Itoa(int(v.ID()))
	}
	switch k, id := v.Session(); k {
	case SessionERSPAN:
		s += " (erspan session " + strconv.Itoa(int(id)) + ")"
	case SessionVXLAN:
		s += " (vxlan vni " + strconv.Itoa(int(id)) + ")"
	}
	return s
}

// maxTags is how many VLAN tags a frame may carry before it is malformed:
// QinQ has two; three or more is not a frame any switch here forwards.
const maxTags = 2

// vlanStack decodes 802.1Q and 802.1ad tags like layers.Dot1Q, and records
// every tag of a frame, because a DecodingLayerParser reuses one layer for
// both tags of a QinQ frame and would keep only the inner one.
type vlanStack struct {
	layers.Dot1Q
	ids [maxTags]uint16
	n   int
}

func (v *vlanStack) reset() { v.n = 0 }

// DecodeFromBytes decodes one tag and appends its VLAN ID to the stack.
func (v *vlanStack) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if v.n == len(v.ids) {
		return errTooManyTags
	}
	if err := v.Dot1Q.DecodeFromBytes(data, df); err != nil {
		return err
	}
	v.ids[v.n] = v.VLANIdentifier
	v.n++
	return nil
}

// vlan returns the VLAN of the tags decoded so far.
func (v *vlanStack) vlan() VLAN {
	switch v.n {
	case 0:
		return 0
	case 1:
		return MakeVLAN(v.ids[0], 0)
	}
	return MakeVLAN(v.ids[v.n-1], v.ids[0])
}
