package parse

import (
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText renders an HTML mail body as readable plain text: paragraphs,
// headings, <br>, list items, table rows and <div>s become line breaks;
// list items get "- " or "1. "; table cells are joined with " | "; links
// read "text (url)" when the text is not already the URL; blockquote lines
// are prefixed "> " (so StripQuote can recognise HTML quotes); script,
// style, head and title are dropped; entities are decoded and whitespace
// collapsed except inside <pre>.
//
// It works on the token stream rather than a parsed tree, so its cost is
// linear in the input however badly nested the markup is. The only error
// is one from reading r.
func HTMLToText(r io.Reader) (string, error) { return htmlToText(r, nil) }

// htmlToText is HTMLToText, and where image (if not nil) names the file
// an <img src> shows (an image of the same mail, by cid: URL), it writes
// "[image: name]" in the image's place, so the reader knows which of the
// mail's files stood there.
func htmlToText(r io.Reader, image func(src string) (name string, ok bool)) (string, error) {
	z := html.NewTokenizer(r)
	t := &htmlText{image: image}
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return "", err
			}
			// The tokenizer passes bytes through; the caller may have fed
			// it anything.
			return cleanText(t.String()), nil
		case html.TextToken:
			if t.skip == 0 && !t.inHead {
				t.text(string(z.Text()))
			}
		case html.StartTagToken:
			t.start(z, false)
		case html.SelfClosingTagToken:
			t.start(z, true)
		case html.EndTagToken:
			name, _ := z.TagName()
			t.end(atom.Lookup(name))
		}
	}
}

type htmlLine struct {
	s     string
	quote int
}

type htmlList struct {
	ordered bool
	n       int
}

type htmlLink struct {
	href string
	text strings.Builder
}

// htmlText accumulates rendered lines.
type htmlText struct {
	lines  []htmlLine
	cur    strings.Builder
	curQ   int // quote depth of the line being built
	quote  int // current blockquote depth
	space  bool
	skip   int
	inHead bool
	pre    int
	lists  []htmlList
	cells  int // cells started in the current table row
	// cellSeps counts cell boundaries not yet written as " | ".
	cellSeps int
	link     *htmlLink
	image    func(src string) (string, bool)
}

func (t *htmlText) start(z *html.Tokenizer, selfClosing bool) {
	name, hasAttr := z.TagName()
	a := atom.Lookup(name)
	var attrs map[string]string
	if hasAttr && (a == atom.A || a == atom.Img || a == atom.Ol) {
		attrs = map[string]string{}
		for {
			k, v, more := z.TagAttr()
			if _, dup := attrs[string(k)]; !dup {
				attrs[string(k)] = string(v)
			}
			if !more {
				break
			}
		}
	}
	switch a {
	case atom.Head:
		t.inHead = !selfClosing
		return
	case atom.Body:
		t.inHead = false
		return
	case atom.Script, atom.Style, atom.Title, atom.Template, atom.Iframe, atom.Object, atom.Svg, atom.Noembed, atom.Noframes:
		if !selfClosing {
			t.skip++
		}
		return
	}
	if t.skip > 0 || t.inHead {
		return
	}
	switch a {
	case atom.Br:
		t.newline()
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Hr, atom.Dl, atom.Address, atom.Figure:
		t.paragraph()
	case atom.Pre:
		t.paragraph()
		if !selfClosing {
			t.pre++
		}
	case atom.Blockquote:
		t.paragraph()
		if !selfClosing {
			t.quote++
		}
	case atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Main,
		atom.Form, atom.Fieldset, atom.Center, atom.Caption, atom.Details, atom.Summary, atom.Dt, atom.Dd,
		atom.Tbody, atom.Thead, atom.Tfoot:
		t.softBreak()
	case atom.Table:
		t.paragraph()
	case atom.Ul, atom.Ol:
		t.listBreak()
		if !selfClosing {
			l := htmlList{ordered: a == atom.Ol}
			if n, err := strconv.Atoi(strings.TrimSpace(attrs["start"])); err == nil && n > 0 && n < 1e6 {
				l.n = n - 1
			}
			t.lists = append(t.lists, l)
		}
	case atom.Li:
		t.softBreak()
		prefix := "- "
		if k := len(t.lists); k > 0 {
			prefix = strings.Repeat("  ", min(k-1, 8)) + prefix
			if l := &t.lists[k-1]; l.ordered {
				l.n++
				prefix = strings.Repeat("  ", min(k-1, 8)) + strconv.Itoa(l.n) + ". "
			}
		}
		t.write(prefix)
		t.space = false
	case atom.Tr:
		t.softBreak()
		t.cells, t.cellSeps = 0, 0
	case atom.Td, atom.Th:
		// Separators are written lazily, before the next cell's text, so
		// empty layout cells at a row's edges leave no stray "|".
		if t.cells > 0 {
			t.cellSeps++
		}
		t.cells++
	case atom.A:
		if !selfClosing && t.link == nil {
			t.link = &htmlLink{href: strings.TrimSpace(attrs["href"])}
		}
	case atom.Img:
		if t.image != nil {
			if name, ok := t.image(attrs["src"]); ok {
				t.text(" [image: " + name + "] ")
				break
			}
		}
		if t.link != nil && strings.TrimSpace(t.link.text.String()) == "" {
			t.text(attrs["alt"])
		}
	}
}

func (t *htmlText) end(a atom.Atom) {
	switch a {
	case atom.Head:
		t.inHead = false
		return
	case atom.Script, atom.Style, atom.Title, atom.Template, atom.Iframe, atom.Object, atom.Svg, atom.Noembed, atom.Noframes:
		if t.skip > 0 {
			t.skip--
		}
		return
	}
	if t.skip > 0 || t.inHead {
		return
	}
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Dl, atom.Address, atom.Figure:
		t.paragraph()
	case atom.Pre:
		t.paragraph()
		if t.pre > 0 {
			t.pre--
		}
	case atom.Blockquote:
		// The blank line after a quote belongs to the outer level, so a
		// reply below the quote is not glued to it by a ">" line.
		t.softBreak()
		if t.quote > 0 {
			t.quote--
		}
		t.paragraph()
	case atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Main,
		atom.Form, atom.Fieldset, atom.Center, atom.Caption, atom.Details, atom.Summary, atom.Dt, atom.Dd,
		atom.Tbody, atom.Thead, atom.Tfoot, atom.Li:
		t.softBreak()
	case atom.Tr:
		t.softBreak()
		t.cellSeps = 0
	case atom.Table:
		t.paragraph()
	case atom.Ul, atom.Ol:
		if len(t.lists) > 0 {
			t.lists = t.lists[:len(t.lists)-1]
		}
		t.listBreak()
	case atom.A:
		t.endLink()
	}
}

// endLink appends the URL after the link text when it adds information.
func (t *htmlText) endLink() {
	l := t.link
	t.link = nil
	if l == nil {
		return
	}
	href := l.href
	low := strings.ToLower(href)
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(low, "javascript:") ||
		strings.HasPrefix(low, "data:") || strings.HasPrefix(low, "cid:") {
		return
	}
	txt := collapseSpace(l.text.String())
	if txt == "" || sameLink(txt, href) {
		// An image link without alt text has nothing to hang the URL on;
		// tracking pixels and spacer links are exactly that.
		return
	}
	t.write(" (" + href + ")")
}

// sameLink reports whether the visible text already says where the link
// goes ("https://x.test/" shown as "x.test", "mailto:a@b" shown as "a@b").
func sameLink(text, href string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"mailto:", "tel:", "https://", "http://", "www."} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimRight(s, "/")
	}
	return norm(text) == norm(href)
}

// text adds character data, collapsing whitespace outside <pre>.
func (t *htmlText) text(s string) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u034f':
			return -1 // invisible padding that newsletters stuff between words
		case '\u00a0':
			return ' '
		}
		return r
	}, s)
	if t.pre > 0 {
		for i, part := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			if i > 0 {
				t.newline()
			}
			if part != "" {
				t.write(part)
			}
		}
		return
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' }
	if s != "" && isSpace(rune(s[0])) {
		t.space = true
	}
	for i, w := range strings.FieldsFunc(s, isSpace) {
		if i > 0 {
			t.space = true
		}
		if t.space && t.cur.Len() > 0 && t.cellSeps == 0 {
			t.write(" ")
		}
		t.space = false
		t.write(w)
	}
	if s != "" && isSpace(rune(s[len(s)-1])) {
		t.space = true
	}
}

func (t *htmlText) write(s string) {
	if t.cur.Len() == 0 {
		t.curQ = t.quote
		t.cellSeps = 0
	} else if t.cellSeps > 0 {
		sep := strings.Repeat(" |", t.cellSeps) + " "
		t.cellSeps = 0
		t.write(sep)
	}
	t.cur.WriteString(s)
	if t.link != nil {
		t.link.text.WriteString(s)
	}
}

// newline ends the current line even when it is empty (<br>).
func (t *htmlText) newline() {
	q := t.curQ
	if t.cur.Len() == 0 {
		q = t.quote
	}
	t.lines = append(t.lines, htmlLine{t.cur.String(), q})
	t.cur.Reset()
	t.space = false
}

// softBreak ends the current line if it has content.
func (t *htmlText) softBreak() {
	if t.cur.Len() > 0 {
		t.newline()
	}
	t.space = false
}

// listBreak separates a top-level list from surrounding paragraphs but
// keeps nested lists tight.
func (t *htmlText) listBreak() {
	if len(t.lists) == 0 {
		t.paragraph()
		return
	}
	t.softBreak()
}

// paragraph ends the current line and leaves one blank line.
func (t *htmlText) paragraph() {
	t.softBreak()
	if n := len(t.lines); n > 0 && strings.TrimSpace(t.lines[n-1].s) != "" {
		t.lines = append(t.lines, htmlLine{"", t.quote})
	}
}

// String assembles the lines with their quote prefixes, keeping at most
// one blank line in a row.
func (t *htmlText) String() string {
	t.softBreak()
	out := make([]string, 0, len(t.lines))
	prevBlank := true
	for _, l := range t.lines {
		s := strings.TrimRight(strings.Repeat("> ", min(l.quote, 20))+strings.TrimRight(l.s, " \t"), " ")
		blank := strings.Trim(s, "> ") == ""
		if blank && prevBlank {
			continue
		}
		prevBlank = blank
		out = append(out, s)
	}
	for len(out) > 0 && strings.Trim(out[len(out)-1], "> ") == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}
