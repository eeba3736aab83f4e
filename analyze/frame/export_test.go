package frame

// NewParserDecoder returns a Decoder without the plain-frame fast path:
// every frame goes through the DecodingLayerParser, the oracle the fast
// path is compared with.
func NewParserDecoder() *Decoder {
	d := NewDecoder()
	d.fullParse = true
	return d
}

// DecodedPlain reports whether the fast path alone decodes the frame.
func (d *Decoder) DecodedPlain(data []byte, wireLen int) bool {
	var f Frame
	return d.decodePlain(&f, data, wireLen)
}
