package frame

// NewParserDecoder returns a Decoder without the fast paths: every frame
// goes through the DecodingLayerParser from its link layer on, the oracle
// the fast paths are compared with.
func NewParserDecoder() *Decoder {
	d := NewDecoder()
	d.fullParse = true
	return d
}

// DecodedPlain reports whether the plain-frame fast path alone decodes the
// frame.
func (d *Decoder) DecodedPlain(data []byte, wireLen int) bool {
	var f Frame
	l, ok := readLink(data)
	return ok && d.decodePlain(&f, data, wireLen, &l)
}

// AfterLink reports whether the parser decodes the frame from after its
// link header, which readLink read.
func (d *Decoder) AfterLink(data []byte) bool {
	l, ok := readLink(data)
	if !ok {
		return false
	}
	var f Frame
	return !d.decodePlain(&f, data, len(data), &l) && afterLink(l.etherType) != etherNone
}
