package storecopy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayouts are the text forms of a time a SQLite column may hold.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", clip(s))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// errNull is the error of a NULL for a NOT NULL column.
var errNull = errors.New("NULL, and the destination's column is NOT NULL")

// convert turns a value read from SQLite into what the destination
// column takes, or says why it cannot.
func convert(v any, c column) (any, error) {
	if v == nil {
		if c.notNull {
			return nil, errNull
		}
		return nil, nil
	}
	switch c.dst {
	case kInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, nil
			}
		}
	case kFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case kBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		}
	case kText:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		default:
			return nil, fmt.Errorf("%T cannot be copied into PostgreSQL %s", v, c.dstType)
		}
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("text %q is not valid UTF-8, which PostgreSQL %s refuses", clip(s), c.dstType)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("text %q holds a NUL byte, which PostgreSQL %s refuses", clip(s), c.dstType)
		}
		return s, nil
	case kBytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case kTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			return parseTime(x)
		}
	}
	return nil, fmt.Errorf("%T %s cannot be copied into PostgreSQL %s", v, clip(fmt.Sprint(v)), c.dstType)
}

// checksum digests a table's rows, in order, each value in a canonical
// text that is the same whichever database it was read from: integers in
// decimal, booleans as 0/1, bytes as hex (in a column of bytes on either
// side), times in RFC 3339, UTC (in a column of times on either side),
// text as it is; NULL is distinct from every text, the empty one included. Each
// value is length-prefixed, so that no two rows digest alike by
// shifting text between columns.
type checksum struct {
	cols []column
	h    hash.Hash
	rows int64
	buf  []byte
}

func newChecksum(cols []column) *checksum { return &checksum{cols: cols, h: sha256.New()} }

func (c *checksum) add(row []any) {
	c.rows++
	for i, v := range row {
		if v == nil {
			c.h.Write([]byte{'N'})
			continue
		}
		s := canonical(v, c.cols[i].canon)
		c.buf = append(c.buf[:0], 'V')
		c.buf = binary.AppendUvarint(c.buf, uint64(len(s)))
		c.h.Write(c.buf)
		c.h.Write([]byte(s))
	}
	c.h.Write([]byte{'\n'})
}

// sum is the digest so far, in hex.
func (c *checksum) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// canonical is v's canonical text for a column compared as k.
func canonical(v any, k kind) string {
	switch k {
	case kTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		case string:
			if t, err := parseTime(x); err == nil {
				return t.Format(time.RFC3339Nano)
			}
			return "unparsable time " + x
		}
	case kBytes:
		switch x := v.(type) {
		case []byte:
			return hex.EncodeToString(x)
		case string:
			return hex.EncodeToString([]byte(x))
		}
	}
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 64)
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T:%v", v, v)
}
