package pathmtu

// Ethernet overheads that turn an IP MTU into the frame sizes vendors quote.
const (
	// EthernetHeader is the destination MAC, source MAC and EtherType. The
	// Windows "Jumbo Packet" NIC setting counts it: 9014 means IP MTU 9000.
	EthernetHeader = 14
	// VLANTag is one IEEE 802.1Q tag.
	VLANTag = 4
	// FCS is the frame check sequence; switches that quote 1518 or 9018 for
	// an IP MTU of 1500 or 9000 count it.
	FCS = 4
)

// FrameSize returns the Ethernet frame size (header included, no FCS, no
// tag) that carries an IP packet of mtu bytes: the number the Windows
// "Jumbo Packet" setting shows (1514, 9014).
func FrameSize(mtu int) int { return mtu + EthernetHeader }

// TaggedFrameSize returns the frame size with one VLAN tag and the FCS: the
// largest frame a switch port must accept for an IP MTU of mtu on a trunk
// (1522 for 1500, 9022 for 9000).
func TaggedFrameSize(mtu int) int { return mtu + EthernetHeader + VLANTag + FCS }

// The range of the Windows "Jumbo Packet" NIC setting (the standardized
// *JumboPacket keyword), which counts the Ethernet header: 1514 is its
// minimum and default (jumbo frames off, IP MTU 1500); its maximum is up
// to the NIC vendor, 16128 the largest drivers offer (Intel's), so a
// larger frame is no Ethernet NIC setting (loopback's 65536 MTU is not).
const (
	MinJumboPacket = 1514
	MaxJumboPacket = 16128
)

// JumboPacket returns the Windows "Jumbo Packet" setting whose NIC sends IP
// packets of up to mtu bytes over Ethernet (9000 -> 9014), and false when
// no setting does: an MTU below Ethernet's 1500 (set on Windows as the IP
// MTU, not with this setting) or beyond any NIC's jumbo frames.
func JumboPacket(mtu int) (int, bool) {
	f := FrameSize(mtu)
	return f, f >= MinJumboPacket && f <= MaxJumboPacket
}
