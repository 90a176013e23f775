package parse

import (
	"strings"
	"unicode/utf8"
)

// StripQuote removes the quoted history from a reply so that only what the
// sender wrote in this message remains.
//
// Bottom quoting (the reply on top, history below) is cut at the first line
// that starts the history, when what follows is unmistakably history:
//   - an attribution ("On … wrote:", Apple Mail's "On 21 Nov 2026, at
//     10:00, … wrote:", Thunderbird's "On 11/21/26 10:00, Hana wrote:",
//     "Am … schrieb …:", "Le … a écrit :", Japanese "2026年11月21日(土)
//     10:00 Hana <…>:" and "…のメール:"; possibly wrapped over two lines)
//     followed by ">" lines and nothing else but a signature;
//   - "-----Original Message-----" and its translations;
//   - an Outlook header block (From:/差出人: followed by at least two of
//     Sent:/Date:/To:/Cc:/Subject:/送信日時:/宛先:/件名:…), with or without a
//     line of underscores above it.
//
// Inline replies (the sender's text interleaved with quoted chunks, or
// answering below a quote) keep everything: each answer stays next to the
// question it answers, which the reader needs to make sense of it. Only a
// quoted block after the sender's last own line (with its attribution) is
// removed, since nothing answers it. The same applies to ">" blocks without
// any attribution.
//
// Forwarded content ("---------- Forwarded message ---------", "Begin
// forwarded message:") is never history. StripQuote never returns an empty
// text for a non-empty input: if stripping would leave nothing, text is
// returned unchanged with removed false.
func StripQuote(text string) (kept string, removed bool) {
	text = cleanText(text)
	lines := strings.Split(text, "\n")
	cut, forward := historyStart(lines)
	if forward {
		return text, false
	}
	if cut > 0 && hasContent(lines[:cut]) {
		return strings.Join(trimTrailingBlank(lines[:cut]), "\n"), true
	}
	if s, e := trailingQuote(lines); s >= 0 {
		out := trimTrailingBlank(lines[:s:s])
		if sig := trimTrailingBlank(lines[e:]); hasContent(sig) {
			out = append(append(out, ""), sig[nextNonBlank(sig, 0):]...)
		}
		return strings.Join(out, "\n"), true
	}
	return text, false
}

// historyStart returns the first line of bottom-quoted history, or -1.
// forward reports that forwarded content starts before any history, so
// nothing below it may be stripped.
func historyStart(lines []string) (cut int, forward bool) {
	// own[i] counts unquoted non-blank lines in lines[:i], so "only quotes
	// from k on" is O(1) and hostile input cannot make this quadratic.
	own := make([]int, len(lines)+1)
	lastQ := -1
	for i, l := range lines {
		own[i+1] = own[i]
		if isQuoted(l) {
			lastQ = i
		} else if strings.TrimSpace(l) != "" {
			own[i+1]++
		}
	}
	tailIsSig := false
	if lastQ >= 0 {
		tail := lines[lastQ+1:]
		c := sigCut(tail)
		tailIsSig = !hasContent(tail) || (c >= 0 && !hasContent(tail[:c]))
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || isQuoted(lines[i]) {
			continue
		}
		if isForwardMarker(l) {
			return -1, true
		}
		if isOriginalSeparator(l) {
			return i, false
		}
		if isUnderscoreRule(l) {
			if k := nextNonBlank(lines, i+1); k >= 0 && outlookHeaderAt(lines, k) {
				return i, false
			}
		}
		if outlookHeaderAt(lines, i) {
			return i, false
		}
		if n := attributionAt(lines, i); n > 0 {
			k := nextNonBlank(lines, i+n)
			if k >= 0 && isQuoted(lines[k]) && own[lastQ+1] == own[k] && tailIsSig {
				return i, false // nothing but quotes (and a signature) follows
			}
		}
	}
	return -1, false
}

// trailingQuote finds a quoted block after the sender's last own line:
// lines[s:e] are to be removed. A signature below the block stays (for
// StripSignature). s is -1 when there is none.
func trailingQuote(lines []string) (s, e int) {
	q := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if isQuoted(lines[i]) {
			q = i
			break
		}
	}
	if q < 0 {
		return -1, -1
	}
	if tail := lines[q+1:]; hasContent(tail) {
		c := sigCut(tail)
		if c < 0 || hasContent(tail[:c]) {
			return -1, -1 // the sender wrote below the quote
		}
	}
	s = q
	for s > 0 && (isQuoted(lines[s-1]) || strings.TrimSpace(lines[s-1]) == "") {
		s--
	}
	for s < q && strings.TrimSpace(lines[s]) == "" {
		s++
	}
	if p := prevNonBlank(lines, s-1); p >= 0 {
		if attributionAt(lines, p) == 1 {
			s = p
		} else if p > 0 && attributionAt(lines, p-1) == 2 {
			s = p - 1
		}
	}
	if !hasContent(lines[:s]) {
		return -1, -1
	}
	return s, q + 1
}

// attributionAt reports how many lines (1 or 2) the attribution starting
// at lines[i] takes, 0 if there is none. Clients wrap long attributions,
// so a line that starts like one may end on the next line.
func attributionAt(lines []string, i int) int {
	l := strings.TrimSpace(lines[i])
	if l == "" || isQuoted(lines[i]) {
		return 0
	}
	if isAttribution(l) {
		return 1
	}
	if i+1 < len(lines) && len(l) < 200 && startsAttribution(l) {
		next := strings.TrimSpace(lines[i+1])
		if next != "" && !isQuoted(lines[i+1]) && isAttribution(l+" "+next) {
			return 2
		}
	}
	return 0
}

// isAttribution recognises a "who wrote" line. Because callers also demand
// quoted lines right after it, the test can be generous.
func isAttribution(l string) bool {
	if len(l) > 1200 || utf8.RuneCountInString(l) > 300 {
		return false
	}
	if !strings.HasSuffix(l, ":") && !strings.HasSuffix(l, "：") {
		return false
	}
	low := strings.ToLower(l)
	for _, kw := range []string{
		"wrote:", "wrote：", "writes:", "schrieb:", "a écrit :", "a écrit:", "a écrit\u00a0:", "a écrit\u202f:",
		"escribió:", "ha scritto:", "escreveu:", "schreef:", "написал:", "написала:", "写道:", "写道：",
		"書きました:", "書きました：", "のメール:", "のメール：", "のメッセージ:", "のメッセージ：",
	} {
		if strings.HasSuffix(low, kw) {
			return true
		}
	}
	if (strings.HasPrefix(l, "Am ") && strings.Contains(low, " schrieb ")) ||
		(strings.HasPrefix(l, "Op ") && strings.Contains(low, " schreef ")) ||
		(strings.HasPrefix(l, "Le ") && strings.Contains(low, " a écrit")) {
		return true
	}
	return dateStart(l)
}

// startsAttribution recognises the first half of a wrapped attribution.
func startsAttribution(l string) bool {
	for _, p := range []string{"On ", "Am ", "Le ", "El ", "Op ", "Il ", "Em ", "在"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return dateStart(l)
}

// dateStart matches a leading numeric date as Japanese clients write it in
// attributions: "2026年11月21日", "2026/11/21", "2026-11-21", "2026.11.21".
func dateStart(l string) bool {
	digits := func(s string, min, max int) (string, bool) {
		n := 0
		for n < len(s) && n < max && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return s[n:], n >= min
	}
	sep := func(s string, seps ...string) (string, bool) {
		s = strings.TrimLeft(s, " ")
		for _, p := range seps {
			if strings.HasPrefix(s, p) {
				return strings.TrimLeft(s[len(p):], " "), true
			}
		}
		return s, false
	}
	s, ok := digits(l, 4, 4)
	if !ok {
		return false
	}
	if s, ok = sep(s, "年", "/", "-", "."); !ok {
		return false
	}
	if s, ok = digits(s, 1, 2); !ok {
		return false
	}
	if s, ok = sep(s, "月", "/", "-", "."); !ok {
		return false
	}
	_, ok = digits(s, 1, 2)
	return ok
}

// isQuoted reports a ">"-quoted line.
func isQuoted(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " \t"), ">")
}

// isOriginalSeparator matches "-----Original Message-----" and its
// translations, as Outlook and many Japanese clients write them.
func isOriginalSeparator(l string) bool {
	if !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, "__") && !strings.HasPrefix(l, "==") {
		return false
	}
	switch strings.ToLower(strings.Trim(l, "-_= ")) {
	case "original message", "ursprüngliche nachricht", "message d'origine", "mensaje original",
		"messaggio originale", "mensagem original", "oorspronkelijk bericht", "元のメッセージ",
		"オリジナルメッセージ", "original nachricht", "исходное сообщение", "原始邮件":
		return true
	}
	return false
}

// isForwardMarker matches the lines that introduce forwarded content.
func isForwardMarker(l string) bool {
	switch strings.ToLower(strings.Trim(l, "-_= ")) {
	case "forwarded message", "forwarded message follows", "begin forwarded message:",
		"転送メッセージ", "転送されたメッセージ", "転送されたメッセージ:", "転送されたメッセージ：",
		"weitergeleitete nachricht", "message transféré", "mensaje reenviado", "messaggio inoltrato":
		return true
	}
	return false
}

// isUnderscoreRule matches Outlook's "________________________________".
func isUnderscoreRule(l string) bool {
	return len(l) >= 10 && strings.Trim(l, "_") == ""
}

// header-block field classes for outlookHeaderAt.
const (
	hkNone = iota
	hkFrom
	hkSent
	hkTo
	hkCc
	hkSubject
)

// headerKey classifies "Key: value" lines of a quoted-message header block,
// in the languages Outlook is commonly used in here. Outlook's plain text
// sometimes bolds keys with "*".
func headerKey(l string) int {
	l = strings.TrimLeft(strings.TrimSpace(l), "*")
	i := strings.IndexAny(l, ":：")
	if i <= 0 || i > 30 {
		return hkNone
	}
	switch strings.ToLower(strings.TrimSpace(strings.TrimRight(l[:i], "* "))) {
	case "from", "差出人", "送信者", "von", "de", "van", "da", "от":
		return hkFrom
	case "sent", "date", "送信日時", "送信日", "日付", "日時", "gesendet", "datum", "envoyé", "enviado", "inviato", "verzonden", "data", "отправлено":
		return hkSent
	case "to", "宛先", "an", "à", "para", "a", "aan", "кому":
		return hkTo
	case "cc", "bcc", "ｃｃ":
		return hkCc
	case "subject", "件名", "betreff", "objet", "asunto", "oggetto", "onderwerp", "assunto", "тема":
		return hkSubject
	}
	return hkNone
}

// outlookHeaderAt reports an Outlook-style header block starting at
// lines[i]: a From line and at least two other distinct header fields
// right below it.
func outlookHeaderAt(lines []string, i int) bool {
	if headerKey(lines[i]) != hkFrom {
		return false
	}
	seen := map[int]bool{}
	for j := i + 1; j < len(lines) && j <= i+10; j++ {
		if strings.TrimSpace(lines[j]) == "" {
			continue
		}
		k := headerKey(lines[j])
		if k == hkNone {
			break
		}
		if k != hkFrom {
			seen[k] = true
		}
	}
	return len(seen) >= 2
}

func nextNonBlank(lines []string, i int) int {
	for ; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			return i
		}
	}
	return -1
}

func prevNonBlank(lines []string, i int) int {
	for ; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return i
		}
	}
	return -1
}

func hasContent(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

func trimTrailingBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
