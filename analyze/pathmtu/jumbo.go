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
