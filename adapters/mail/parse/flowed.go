package parse

import "strings"

// unflow joins the soft-broken lines of format=flowed text (RFC 3676) back
// into paragraphs, so a chat shows them as the sender typed them instead of
// wrapped at 72 columns. Quote depth is kept as a ">" prefix; the
// signature separator "-- " is never a soft break.
func unflow(s string, delSp bool) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	var cur strings.Builder
	curDepth, open := 0, false
	emit := func() {
		line := cur.String()
		if curDepth > 0 {
			line = strings.Repeat(">", curDepth) + " " + line
		}
		out = append(out, line)
		cur.Reset()
		open = false
	}
	for _, l := range lines {
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		content := l[depth:]
		content = strings.TrimPrefix(content, " ") // space-stuffing (RFC 3676 §4.4)
		if open && depth != curDepth {
			emit() // a quote depth change ends a paragraph even after a soft break
		}
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delSp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		curDepth = depth
		if flowed {
			open = true
			continue
		}
		emit()
	}
	if open {
		emit()
	}
	return strings.Join(out, "\n")
}
