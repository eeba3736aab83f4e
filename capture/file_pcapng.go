package capture

import (
	"bufio"
	"fmt"
	"io"
	"slices"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngReader reads pcapng with pcapgo's NgReader. pcapng has many block types
// and options, which pcapgo handles. It is slower than pcapReader (measured
// with BenchmarkFileSource: about 135 ns a 100-byte frame against 30), fast
// enough for the captures Wireshark, dumpcap and pktmon write by default;
// a reader like pcapReader for enhanced packet blocks is the place to start
// if pcapng must go as fast as pcap.
//
// It allocates nothing per frame, except that pcapgo (v1.7.7) boxes each
// packet's link type into an interface, which Go allocates for link types
// above 255: one tiny allocation per frame of a Linux SLL2 (276) interface.
type ngReader struct {
	r *pcapgo.NgReader
	// ifaces is how many interfaces of the current section have been looked
	// at for LinkTypes and Snaplen; a new section starts over.
	ifaces    int
	linkTypes []layers.LinkType
	snaplen   uint32
	unlimited bool // an interface declared snaplen 0
	// sections counts the section header blocks read: more than one in a
	// file made with `cat a.pcapng b.pcapng`, which is valid pcapng.
	sections int
}

func newNgReader(stream io.Reader, bufSize int) (recordReader, error) {
	n := &ngReader{sections: 1}
	opts := pcapgo.NgReaderOptions{
		// Return packets of every interface, whatever its link type: a
		// capture on "any" or on several NICs mixes Ethernet and Linux
		// cooked headers, and the analyzer decides what it can decode.
		WantMixedLinkType: true,
		// A new section brings its own interfaces.
		SectionEndCallback: func([]pcapgo.NgInterface, pcapgo.NgSectionInfo) {
			n.ifaces = 0
			n.sections++
		},
	}
	// NgReader keeps a *bufio.Reader it is given if it is large enough, so
	// this sets its buffer size. The gzip check it does itself never fires:
	// the stream is already gunzipped.
	r, err := pcapgo.NewNgReader(bufio.NewReaderSize(stream, bufSize), opts)
	if err != nil {
		// With WantMixedLinkType it reads only the section header block.
		return nil, fmt.Errorf("pcapng section header: %w", err)
	}
	n.r = r
	return n, nil
}

func (n *ngReader) next(rec *record) error {
	data, ci, err := n.r.ZeroCopyReadPacketData()
	if err != nil {
		return err
	}
	if k := n.r.NInterfaces(); k != n.ifaces {
		n.readInterfaces(k)
	}
	// With WantMixedLinkType pcapgo puts the packet's link type here. The
	// slice is pcapgo's and reused; it is not passed on.
	rec.linkType = layers.LinkTypeNull
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			rec.linkType = lt
		}
	}
	ci.AncillaryData = nil
	rec.data = data
	rec.ci = ci
	rec.setTimeKey()
	return nil
}

func (n *ngReader) readInterfaces(k int) {
	if k < n.ifaces {
		n.ifaces = 0
	}
	for ; n.ifaces < k; n.ifaces++ {
		intf, err := n.r.Interface(n.ifaces)
		if err != nil {
			break
		}
		if !slices.Contains(n.linkTypes, intf.LinkType) {
			n.linkTypes = append(n.linkTypes, intf.LinkType)
		}
		if intf.SnapLength == 0 {
			n.unlimited = true
		}
		n.snaplen = max(n.snaplen, intf.SnapLength)
	}
}

func (n *ngReader) describe(info *InputInfo) {
	n.readInterfaces(n.r.NInterfaces())
	info.LinkTypes = append(info.LinkTypes[:0], n.linkTypes...)
	info.Snaplen = n.snaplen
	if n.unlimited {
		info.Snaplen = 0
	}
	info.Sections = n.sections
}
