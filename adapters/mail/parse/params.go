package parse

import (
	"sort"
	"strconv"
	"strings"
)

// parseParams parses "value; name=value; ..." (Content-Type,
// Content-Disposition) into a lower-cased value and parameters with
// lower-cased names. mime.ParseMediaType is not used because it rejects
// whole headers over one bad parameter and drops RFC 2231 values in any
// charset but UTF-8 and ASCII, and Japanese mail has ISO-2022-JP and
// Shift_JIS ones. The first occurrence of a parameter wins; an RFC 2231
// form wins over the plain one.
func parseParams(v string) (string, map[string]string) {
	params := map[string]string{}
	value, rest, _ := strings.Cut(v, ";")
	value = strings.ToLower(strings.Join(strings.Fields(stripComments(value)), ""))

	type piece struct {
		idx int
		ext bool
		val string
	}
	var ext map[string][]piece
	for {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		if rest == "" {
			break
		}
		i := strings.IndexAny(rest, "=;")
		if i < 0 {
			break
		}
		if rest[i] == ';' {
			rest = rest[i+1:] // a parameter without value
			continue
		}
		name := strings.ToLower(strings.TrimSpace(rest[:i]))
		rest = strings.TrimLeft(rest[i+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = readQuoted(rest[1:])
		} else {
			j := strings.IndexByte(rest, ';')
			if j < 0 {
				j = len(rest)
			}
			val = strings.TrimSpace(rest[:j])
			rest = rest[j:]
		}
		if name == "" {
			continue
		}
		if base, sect, ok := strings.Cut(name, "*"); ok {
			isExt := strings.HasSuffix(sect, "*") || sect == ""
			sect = strings.TrimSuffix(sect, "*")
			idx := 0
			if sect != "" {
				n, err := strconv.Atoi(sect)
				if err != nil || n < 0 || n > 999 {
					continue
				}
				idx = n
			}
			if ext == nil {
				ext = map[string][]piece{}
			}
			ext[base] = append(ext[base], piece{idx, isExt, val})
			continue
		}
		if _, dup := params[name]; !dup {
			params[name] = val
		}
	}
	for base, ps := range ext {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].idx < ps[j].idx })
		charset := ""
		var buf []byte
		last := -1
		for k, p := range ps {
			if p.idx == last {
				continue // duplicate section: first wins
			}
			last = p.idx
			val := p.val
			if p.ext {
				if k == 0 {
					// charset'language'value (RFC 2231 §4)
					if a, b, ok := strings.Cut(val, "'"); ok {
						if _, c, ok := strings.Cut(b, "'"); ok {
							charset, val = a, c
						}
					}
				}
				buf = append(buf, percentDecode(val)...)
			} else {
				buf = append(buf, val...)
			}
		}
		params[base] = decodeCharset(buf, charset)
	}
	return value, params
}

// readQuoted reads a quoted-string body (after the opening quote). A
// backslash escapes only a quote or a backslash: Windows paths in file
// names ("C:\tmp\a.pdf") are sent unescaped often enough to matter.
func readQuoted(s string) (val, rest string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// percentDecode undoes RFC 2231 %XX escapes; a malformed escape is kept.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
