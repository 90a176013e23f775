package parse

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"br and divs", "<div>a<br>b</div><div><br></div><div>c</div>", "a\nb\n\nc"},
		{"whitespace collapse", "<p>  lots \n of\t\tspace  </p>", "lots of space"},
		{"entities", "<p>caf&eacute; &amp; t&#233;&nbsp;&#x2014;&lt;ok&gt;</p>", "café & té —<ok>"},
		{"invisible padding", "<p>a\u200b\u200cb&zwnj;&shy;c</p>", "abc"},
		{"headings", "<h1>Title</h1>text", "Title\n\ntext"},
		{"unordered list", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
		{"ordered list with start", "<ol start=3><li>c</li><li>d</li></ol>", "3. c\n4. d"},
		{"nested list", "<ul><li>a<ul><li>a1</li></ul></li><li>b</li></ul>", "- a\n  - a1\n- b"},
		{"list item without list", "<li>x</li>", "- x"},
		{"table", "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>", "A | B\n1 | 2"},
		{"layout table edges", "<table><tr><td></td><td>Hello</td><td></td></tr></table>", "Hello"},
		{"link with different text", `<a href="https://x.test/a">here</a>`, "here (https://x.test/a)"},
		{"link with same text", `<a href="https://x.test/">x.test</a>`, "x.test"},
		{"mailto link", `<a href="mailto:bob@x.test">bob@x.test</a>`, "bob@x.test"},
		{"fragment and javascript links", `<a href="#top">top</a> <a href="javascript:void(0)">js</a>`, "top js"},
		{"image link with alt", `<a href="https://x.test/"><img src="l.png" alt="Logo"></a>`, "Logo (https://x.test/)"},
		{"image link without alt", `<a href="https://x.test/t"><img src="p.gif"></a>`, ""},
		{"blockquote", "<p>Reply</p><blockquote>old<br>text</blockquote><p>after</p>", "Reply\n\n> old\n> text\n\nafter"},
		{"nested blockquote", "<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n>\n> > b"},
		{"pre keeps spacing", "<pre>a  b\n  c</pre>", "a  b\n  c"},
		{"script style head title", "<html><head><title>T</title><style>p{}</style></head><body><script>x()</script><p>Body</p></body></html>", "Body"},
		{"head never closed", "<head><title>T</title><body>Body", "Body"},
		{"style in body", "<p>a</p><style>.x{color:red}</style><p>b</p>", "a\n\nb"},
		{"unclosed tags", "<p>a<p>b<div>c", "a\n\nb\nc"},
		{"plain text", "just text", "just text"},
		{"empty", "", ""},
		{"comments and conditionals", "<!--[if mso]><p>mso</p><![endif]--><p>x</p>", "x"},
		{"invalid utf-8", "<p>a\xffb</p>", "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HTMLToText(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("HTMLToText(%q) =\n\t%q\nwant\n\t%q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHTMLToTextReadError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := HTMLToText(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

// TestHTMLToTextDeepNesting: token-stream rendering stays linear and
// bounded however deep the markup goes.
func TestHTMLToTextDeepNesting(t *testing.T) {
	in := strings.Repeat("<blockquote><ul><li><div>", 20000) + "deep" + strings.Repeat("</div></li></ul></blockquote>", 20000)
	got, err := HTMLToText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "deep") || !utf8.ValidString(got) {
		t.Fatalf("unexpected output of %d bytes", len(got))
	}
}
