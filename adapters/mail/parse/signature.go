package parse

import (
	"strings"
	"unicode/utf8"
)

// StripSignature removes the sender's signature from the end of text:
//   - everything from the last "-- " delimiter line (also a bare "--",
//     which is what HTML rendering and careless clients leave) when at most
//     15 lines follow it;
//   - a Japanese-style block: a separator line of repeated ━ ─ = - * _ ~
//     (and similar) among the last 12 lines, followed by at most 10 short
//     lines of which one looks like contact details (an address, URL,
//     phone number, company name). Without such a hint the block is kept:
//     a separator followed by ordinary short lines is as likely a list;
//   - mobile footers such as "Sent from my iPhone", "Get Outlook for iOS",
//     "Outlook for iOS を入手", "iPhoneから送信".
//
// Quoted (">") lines are never part of a signature. If removing would leave
// nothing, text is returned unchanged with removed false.
func StripSignature(text string) (kept string, removed bool) {
	text = cleanText(text)
	lines := trimTrailingBlank(strings.Split(text, "\n"))
	// A footer can sit under a signature and vice versa; at most one
	// signature block goes, so an earlier "-- " in the text survives.
	for _, cut := range []func([]string) int{footerCut, blockCut, footerCut} {
		c := cut(lines)
		if c <= 0 || !hasContent(lines[:c]) {
			continue
		}
		lines = trimTrailingBlank(lines[:c])
		removed = true
	}
	if !removed {
		return text, false
	}
	return strings.Join(lines, "\n"), true
}

// sigCut returns the index of the first line of a signature or mobile
// footer at the end of lines, or -1.
func sigCut(lines []string) int {
	if c := footerCut(lines); c >= 0 {
		return c
	}
	return blockCut(lines)
}

// footerCut returns the index of a trailing mobile footer line, or -1.
func footerCut(lines []string) int {
	n := prevNonBlank(lines, len(lines)-1)
	if n >= 0 && isMobileFooter(strings.TrimSpace(lines[n])) {
		return n
	}
	return -1
}

// blockCut returns the index of the delimiter or separator line that
// starts a trailing signature block, or -1.
func blockCut(lines []string) int {
	n := prevNonBlank(lines, len(lines)-1)
	if n < 0 {
		return -1
	}
	for i := n - 1; i >= 0 && n-i <= 15; i-- {
		if isQuoted(lines[i]) {
			break
		}
		if t := strings.TrimRight(lines[i], " \t"); t == "--" {
			return i
		}
	}
	for i := max(0, n-11); i < n; i++ {
		if isSeparatorLine(lines[i]) && sigBlock(lines[i+1:n+1]) {
			return i
		}
	}
	return -1
}

// isSeparatorLine matches decorative rules like "━━━━━━", "-----",
// "=-=-=-=", "＊＊＊＊".
func isSeparatorLine(l string) bool {
	t := strings.TrimSpace(l)
	count := 0
	for _, r := range t {
		switch r {
		case '━', '─', '═', '―', '-', '=', '*', '＝', '＊', '_', '~', '～', '+', '#', '・', '—', '－', '■', '□', '◆', '◇':
			count++
		case ' ', '　':
		default:
			return false
		}
	}
	return count >= 4 && count <= 100
}

// sigBlock reports whether the lines below a separator look like a
// signature: few, short, unquoted, with some contact detail.
func sigBlock(block []string) bool {
	lines, hint := 0, false
	for _, l := range block {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		if isQuoted(l) || utf8.RuneCountInString(t) > 80 {
			return false
		}
		lines++
		if !isSeparatorLine(t) && contactHint(t) {
			hint = true
		}
	}
	return lines >= 1 && lines <= 10 && hint
}

// contactHint spots what signatures are made of.
func contactHint(l string) bool {
	low := strings.ToLower(l)
	for _, k := range []string{
		"@", "http://", "https://", "www.", "tel", "fax", "phone", "mobile", "mail:", "e-mail",
		"電話", "携帯", "〒", "株式会社", "有限会社", "(株)", "（株）", "㈱", "inc.", "ltd", "llc", "gmbh", "co.,",
	} {
		if strings.Contains(low, k) {
			return true
		}
	}
	// A phone number: a run of digits and separators ("03-1234-5678",
	// "+81 (3) 1234 5678") with at least 8 digits and 2 separators.
	digits, seps := 0, 0
	for i := 0; i <= len(l); i++ {
		if i < len(l) {
			switch c := l[i]; {
			case c >= '0' && c <= '9':
				digits++
				continue
			case strings.IndexByte("-+(). ", c) >= 0:
				if digits > 0 {
					seps++
				}
				continue
			}
		}
		if digits >= 8 && seps >= 2 {
			return true
		}
		digits, seps = 0, 0
	}
	return false
}

// isMobileFooter matches the advertising lines mobile clients append.
func isMobileFooter(l string) bool {
	if len(l) > 120 {
		return false
	}
	low := strings.ToLower(l)
	switch {
	case strings.HasPrefix(low, "sent from my "),
		strings.HasPrefix(low, "sent from mail for windows"),
		strings.HasPrefix(low, "sent from outlook"),
		strings.HasPrefix(low, "sent from yahoo mail"),
		strings.HasPrefix(low, "sent from samsung"),
		strings.HasPrefix(low, "sent from gmail"),
		strings.HasPrefix(low, "sent from proton"),
		strings.HasPrefix(low, "get outlook for "),
		strings.HasPrefix(low, "von meinem ") && strings.HasSuffix(low, " gesendet"),
		strings.HasPrefix(low, "envoyé de mon "),
		strings.HasPrefix(low, "outlook for ") && strings.HasSuffix(low, "を入手"):
		return true
	}
	if utf8.RuneCountInString(l) <= 30 {
		for _, s := range []string{"から送信", "から送信しました", "から送信しました。", "から送信されました", "から送信されました。"} {
			if strings.HasSuffix(l, s) {
				return true
			}
		}
	}
	return false
}
