package identity

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// relChunkFormat is the first byte of an encoded relationship chunk (see
// SQLStore): bump it when the encoding changes, and keep decoding the
// old one while stores may hold it.
const relChunkFormat = 2

// relChunkFormatV1 is the encoding before relationships had Gone/GoneAt.
const relChunkFormatV1 = 1

// appendRelChunk appends rels in the relationship log's binary form:
// varint-prefixed strings and lists, times as Unix nanoseconds (0: zero
// time). About a tenth of the size of the rows' SQL text, less than half
// that of JSON, and ten times faster to encode than encoding/json (see the
// package documentation).
func appendRelChunk(b []byte, rels []*Relationship) []byte {
	b = append(b, relChunkFormat)
	b = binary.AppendUvarint(b, uint64(len(rels)))
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(l []string) {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			str(s)
		}
	}
	for _, r := range rels {
		str(r.ID)
		str(r.ContactID)
		str(r.PersonaID)
		str(r.OwnerID)
		str(r.MergedInto)
		str(r.LastTransferID)
		str(r.Remark)
		list(r.FormerPersonaIDs)
		list(r.Tags)
		b = binary.AppendVarint(b, unixNano(r.CreatedAt))
		b = binary.AppendVarint(b, unixNano(r.UpdatedAt))
		b = binary.AppendVarint(b, unixNano(r.LastActivity))
		b = binary.AppendUvarint(b, r.Version)
		b = binary.AppendUvarint(b, r.OwnerVersion)
		str(r.Gone)
		b = binary.AppendVarint(b, unixNano(r.GoneAt))
	}
	return b
}

var errCorruptChunk = errors.New("corrupt relationship chunk")

// relChunkReader decodes what appendRelChunk wrote; its first error
// sticks.
type relChunkReader struct {
	b      []byte
	err    error
	intern func(string) string
}

func (d *relChunkReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorruptChunk
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *relChunkReader) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorruptChunk
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *relChunkReader) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCorruptChunk
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *relChunkReader) list() []string {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) { // each element takes a byte at least
		d.err = errCorruptChunk
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.intern(d.str())
	}
	return l
}

// decodeRelChunk decodes a chunk, interning the strings that repeat
// across relationships (personas, owners, transfers, tags).
func decodeRelChunk(b []byte, intern func(string) string) ([]Relationship, error) {
	if len(b) == 0 || (b[0] != relChunkFormat && b[0] != relChunkFormatV1) {
		return nil, fmt.Errorf("%w: unknown format", errCorruptChunk)
	}
	v2 := b[0] == relChunkFormat
	d := &relChunkReader{b: b[1:], intern: intern}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, errCorruptChunk
	}
	out := make([]Relationship, n)
	for i := range out {
		r := &out[i]
		r.ID = d.str()
		r.ContactID = d.str()
		r.PersonaID = intern(d.str())
		r.OwnerID = intern(d.str())
		r.MergedInto = d.str()
		r.LastTransferID = intern(d.str())
		r.Remark = d.str()
		r.FormerPersonaIDs = d.list()
		r.Tags = d.list()
		r.CreatedAt = fromUnixNano(d.varint())
		r.UpdatedAt = fromUnixNano(d.varint())
		r.LastActivity = fromUnixNano(d.varint())
		r.Version = d.uvarint()
		r.OwnerVersion = d.uvarint()
		if v2 {
			r.Gone = d.str()
			r.GoneAt = fromUnixNano(d.varint())
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorruptChunk, len(d.b))
	}
	return out, nil
}
