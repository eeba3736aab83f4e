package frame

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// IGMP message types (RFC 1112, RFC 2236, RFC 3376).
const (
	IGMPQuery    = 0x11
	IGMPv1Report = 0x12
	IGMPv2Report = 0x16
	IGMPv2Leave  = 0x17
	IGMPv3Report = 0x22
)

// IGMPv3 group record types (RFC 3376 4.2.12).
const (
	RecordModeIsInclude   = 1
	RecordModeIsExclude   = 2
	RecordChangeToInclude = 3
	RecordChangeToExclude = 4
	RecordAllowNew        = 5
	RecordBlockOld        = 6
)

// MaxGroupRecords bounds the IGMPv3 group records kept per report. A host
// reports every group it is in; more than this many in one report is rare
// and the rest is counted in RecordsDropped.
const MaxGroupRecords = 32

// GroupRecord is one IGMPv3 group record, without its source list (nlbprobe
// needs only whether there are sources: EXCLUDE with none is a join,
// INCLUDE with none a leave).
type GroupRecord struct {
	Type       uint8
	AuxLen     uint8
	NumSources uint16
	Group      [4]byte
}

// IsJoin reports whether the record says the host wants all traffic of the
// group: an EXCLUDE mode with no sources excluded.
func (r GroupRecord) IsJoin() bool {
	return (r.Type == RecordModeIsExclude || r.Type == RecordChangeToExclude) && r.NumSources == 0
}

// IsLeave reports whether the record says the host wants none of the group:
// an INCLUDE mode with no sources.
func (r GroupRecord) IsLeave() bool {
	return (r.Type == RecordModeIsInclude || r.Type == RecordChangeToInclude) && r.NumSources == 0
}

// IGMP is an IGMP message of any version, decoded in place. gopacket's own
// layers split v1/v2 and v3 into two types that claim the same LayerType, so
// one parser cannot hold both; this one switches on type and length as
// RFC 3376 section 7 says a router must.
type IGMP struct {
	layers.BaseLayer
	Type uint8
	// Version is 1, 2 or 3 for queries and reports, 0 for other types
	// (mtrace 0x1e/0x1f, DVMRP 0x13, PIMv1 0x14).
	Version uint8
	// MaxResp is the v2/v3 Max Resp Code as sent; MaxRespTenths decodes
	// it.
	MaxResp  uint8
	Checksum uint16
	// ChecksumOK is set when the whole message was captured and its checksum
	// verifies.
	ChecksumOK bool
	Group      [4]byte // queries, v1/v2 reports and leaves

	// v3 queries: QQIC as sent; QQI decodes it.
	QRV, QQIC  uint8
	NumSources uint16

	// v3 reports.
	NumRecords     uint16
	Records        [MaxGroupRecords]GroupRecord
	RecordsDecoded int
	RecordsDropped int
}

// LayerType returns layers.LayerTypeIGMP: IPv4 hands protocol 2 to it.
func (g *IGMP) LayerType() gopacket.LayerType { return layers.LayerTypeIGMP }

// CanDecode returns layers.LayerTypeIGMP.
func (g *IGMP) CanDecode() gopacket.LayerClass { return layers.LayerTypeIGMP }

// NextLayerType returns LayerTypeZero.
func (g *IGMP) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// MaxRespTenths returns the maximum response time a query allows, in
// tenths of a second: the Max Resp Code as it is in v2 (RFC 2236 2.2), and
// in v3 (RFC 3376 4.1.1) as it is below 128 and from 128 on a
// floating-point value, 1|exp(3)|mant(4) meaning (mant|0x10) << (exp+3),
// up to 31744 (3174.4 s). 0 for a v1 query, which has none.
func (g *IGMP) MaxRespTenths() uint16 {
	if g.Version == 3 {
		return igmpv3Float(g.MaxResp)
	}
	return uint16(g.MaxResp)
}

// QQI returns a v3 query's Querier's Query Interval in seconds, decoded from
// QQIC as RFC 3376 4.1.7 says: the code itself below 128, the
// floating-point form of MaxRespTenths from 128 on.
func (g *IGMP) QQI() uint16 { return igmpv3Float(g.QQIC) }

// igmpv3Float decodes an IGMPv3 time code (RFC 3376 4.1.1 and 4.1.7): below
// 128 the value itself; otherwise bit 7 set, a 3-bit exponent and a 4-bit
// mantissa, the value (mant | 0x10) << (exp + 3).
func igmpv3Float(code uint8) uint16 {
	if code < 128 {
		return uint16(code)
	}
	exp, mant := (code>>4)&0x7, code&0x0f
	return uint16(mant|0x10) << (exp + 3)
}

// IsQuery reports whether g is a membership query of any version.
func (g *IGMP) IsQuery() bool { return g.Type == IGMPQuery }

// IsGeneralQuery reports whether g is a query for all groups.
func (g *IGMP) IsGeneralQuery() bool { return g.Type == IGMPQuery && g.Group == [4]byte{} }

// Sentinel decode errors: returning them allocates nothing.
var (
	errIGMPShort   = errors.New("IGMP message shorter than 8 bytes")
	errIGMPRecords = errors.New("IGMPv3 report: group records run past the message")
	errIGMPSources = errors.New("IGMPv3 query: source list runs past the message")
)

// DecodeFromBytes decodes an IGMP message. data is the IPv4 payload, which
// gopacket has already cut to the IP total length.
func (g *IGMP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	return g.decode(data)
}

// decode is DecodeFromBytes without gopacket's feedback, which IGMP never
// gives: the decoder's own IPv4 path calls it directly.
func (g *IGMP) decode(data []byte) error {
	g.BaseLayer = layers.BaseLayer{Contents: data}
	g.Type, g.Version, g.MaxResp, g.Checksum, g.ChecksumOK = 0, 0, 0, 0, false
	g.Group = [4]byte{}
	g.QRV, g.QQIC, g.NumSources = 0, 0, 0
	g.NumRecords, g.RecordsDecoded, g.RecordsDropped = 0, 0, 0
	if len(data) < 8 {
		if len(data) > 0 {
			g.Type = data[0]
		}
		return errIGMPShort
	}
	g.Type = data[0]
	g.MaxResp = data[1]
	g.Checksum = binary.BigEndian.Uint16(data[2:4])
	g.ChecksumOK = internetChecksum(data) == 0
	switch g.Type {
	case IGMPQuery:
		copy(g.Group[:], data[4:8])
		switch {
		case len(data) >= 12:
			g.Version = 3
			g.QRV = data[8] & 0x7
			g.QQIC = data[9]
			g.NumSources = binary.BigEndian.Uint16(data[10:12])
			if 12+4*int(g.NumSources) > len(data) {
				return errIGMPSources
			}
		case g.MaxResp == 0:
			g.Version = 1
		default:
			g.Version = 2
		}
	case IGMPv1Report:
		g.Version = 1
		copy(g.Group[:], data[4:8])
	case IGMPv2Report, IGMPv2Leave:
		g.Version = 2
		copy(g.Group[:], data[4:8])
	case IGMPv3Report:
		g.Version = 3
		g.NumRecords = binary.BigEndian.Uint16(data[6:8])
		return g.decodeRecords(data[8:])
	}
	return nil
}

func (g *IGMP) decodeRecords(data []byte) error {
	for i := 0; i < int(g.NumRecords); i++ {
		if len(data) < 8 {
			return errIGMPRecords
		}
		r := GroupRecord{
			Type:       data[0],
			AuxLen:     data[1],
			NumSources: binary.BigEndian.Uint16(data[2:4]),
			Group:      [4]byte(data[4:8]),
		}
		size := 8 + 4*int(r.NumSources) + 4*int(r.AuxLen)
		if size > len(data) {
			return errIGMPRecords
		}
		if g.RecordsDecoded < len(g.Records) {
			g.Records[g.RecordsDecoded] = r
			g.RecordsDecoded++
		} else {
			g.RecordsDropped++
		}
		data = data[size:]
	}
	return nil
}

// internetChecksum returns the RFC 1071 ones' complement sum of b folded to
// 16 bits and complemented; 0 for data whose checksum field is right.
func internetChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
