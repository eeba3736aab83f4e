package frame

import (
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// VLAN identifies the broadcast domain a frame was seen in: the 802.1Q VLAN
// ID of the innermost tag, and for a QinQ frame the outer (service) tag in
// the high 16 bits. The zero value is an untagged frame. State is kept per
// VLAN, because the same IP on two VLANs is two different stations.
type VLAN uint32

// MakeVLAN returns the VLAN for an inner (customer) ID and an outer
// (service) ID, 0 when there is no outer tag.
func MakeVLAN(inner, outer uint16) VLAN { return VLAN(uint32(outer)<<16 | uint32(inner)) }

// ID returns the innermost 802.1Q VLAN ID, 0 when untagged.
func (v VLAN) ID() uint16 { return uint16(v) }

// Outer returns the outer (802.1ad service) VLAN ID of a QinQ frame, or 0.
func (v VLAN) Outer() uint16 { return uint16(v >> 16) }

// String returns "100", or "200.100" for outer tag 200 and inner tag 100,
// or "untagged".
func (v VLAN) String() string {
	switch {
	case v == 0:
		return "untagged"
	case v.Outer() != 0:
		return strconv.Itoa(int(v.Outer())) + "." + strconv.Itoa(int(v.ID()))
	}
	return strconv.Itoa(int(v.ID()))
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
