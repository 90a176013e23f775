package parse

import (
	"strings"
	"testing"
)

func TestStripQuote(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		removed bool
	}{
		{
			name:    "gmail one-line attribution",
			in:      "Sounds good.\n\nOn Sat, Nov 21, 2026 at 10:00 AM Hana <hana@x.test> wrote:\n\n> Shall we meet?\n>\n",
			want:    "Sounds good.",
			removed: true,
		},
		{
			name:    "gmail attribution wrapped over two lines",
			in:      "OK.\n\nOn Sat, Nov 21, 2026 at 10:00 AM Hana Suzuki <hana.suzuki@contact.acme.test>\nwrote:\n\n> Shall we meet?\n",
			want:    "OK.",
			removed: true,
		},
		{
			name:    "apple mail attribution",
			in:      "Yes.\n\nOn 21 Nov 2026, at 10:00, Hana <hana@x.test> wrote:\n\n> Shall we meet?\n",
			want:    "Yes.",
			removed: true,
		},
		{
			name:    "thunderbird attribution",
			in:      "Yes.\n\nOn 11/21/26 10:00, Hana wrote:\n> Shall we meet?\n",
			want:    "Yes.",
			removed: true,
		},
		{
			name:    "thunderbird signature below the quote",
			in:      "Yes.\n\nOn 11/21/26 10:00, Hana wrote:\n> Shall we meet?\n\n-- \nBob\n",
			want:    "Yes.",
			removed: true,
		},
		{
			name:    "outlook header block",
			in:      "Fine.\n\nFrom: Hana <hana@x.test>\nSent: Friday, November 20, 2026 5:12 PM\nTo: Bob <bob@x.test>\nSubject: Meeting\n\nShall we meet?\n",
			want:    "Fine.",
			removed: true,
		},
		{
			name:    "outlook underscores and bold keys",
			in:      "Fine.\n\n________________________________\n*From:* Hana <hana@x.test>\n*Sent:* Friday\n*To:* Bob\n*Subject:* Meeting\n\nShall we meet?\n",
			want:    "Fine.",
			removed: true,
		},
		{
			name:    "original message separator",
			in:      "Fine.\n\n-----Original Message-----\nFrom: Hana\nShall we meet?\n",
			want:    "Fine.",
			removed: true,
		},
		{
			name:    "japanese outlook block with underscores",
			in:      "承知しました。\n\n________________________________\n差出人: 鈴木 花子 <hana@x.test>\n送信日時: 2026年11月20日 17:12\n宛先: 田中 一郎\n件名: 打ち合わせ\n\n田中様\n",
			want:    "承知しました。",
			removed: true,
		},
		{
			name:    "japanese gmail attribution",
			in:      "承知しました。\n\n2026年11月21日(土) 10:00 鈴木 花子 <hana@x.test>:\n\n> 田中様\n",
			want:    "承知しました。",
			removed: true,
		},
		{
			name:    "japanese gmail attribution wrapped",
			in:      "承知しました。\n\n2026年11月21日(土) 10:00 鈴木 花子 <\nhana@x.test>:\n\n> 田中様\n",
			want:    "承知しました。",
			removed: true,
		},
		{
			name:    "japanese apple mail attribution",
			in:      "了解です。\n\n2026/11/21 10:00、鈴木 花子 <hana@x.test>のメール:\n\n> 田中様\n",
			want:    "了解です。",
			removed: true,
		},
		{
			name:    "japanese thunderbird attribution",
			in:      "了解です。\n\n鈴木 花子 さんは書きました:\n> 田中さん\n",
			want:    "了解です。",
			removed: true,
		},
		{
			name:    "german attribution",
			in:      "Passt.\n\nAm 21.11.2026 um 10:00 schrieb Hana <hana@x.test>:\n> Termin?\n",
			want:    "Passt.",
			removed: true,
		},
		{
			name:    "french attribution",
			in:      "D'accord.\n\nLe sam. 21 nov. 2026 à 10:00, Hana <hana@x.test> a écrit :\n> Rendez-vous ?\n",
			want:    "D'accord.",
			removed: true,
		},
		{
			name:    "trailing quote without attribution",
			in:      "Thanks!\n\n> Here is the file.\n> Hana\n",
			want:    "Thanks!",
			removed: true,
		},
		{
			name:    "signature below a trailing quote is left for StripSignature",
			in:      "Thanks!\n\n> Here is the file.\n\n-- \nBob\n",
			want:    "Thanks!\n\n-- \nBob",
			removed: true,
		},
		{
			name:    "interleaved answers are kept",
			in:      "Hi,\n\nOn Fri, Hana wrote:\n> Saturday?\n\nYes.\n\n> Pallets?\n\nNo.\n",
			want:    "Hi,\n\nOn Fri, Hana wrote:\n> Saturday?\n\nYes.\n\n> Pallets?\n\nNo.\n",
			removed: false,
		},
		{
			name:    "bottom-posted answer is kept",
			in:      "On Fri, Hana wrote:\n> Saturday?\n\nYes, Saturday is fine.\n",
			want:    "On Fri, Hana wrote:\n> Saturday?\n\nYes, Saturday is fine.\n",
			removed: false,
		},
		{
			name:    "nothing but a quote is kept whole",
			in:      "On Fri, Hana wrote:\n> Saturday?\n",
			want:    "On Fri, Hana wrote:\n> Saturday?\n",
			removed: false,
		},
		{
			name:    "attribution-like line without quotes is text",
			in:      "On Monday the auditors wrote:\nthe numbers are fine.\n",
			want:    "On Monday the auditors wrote:\nthe numbers are fine.\n",
			removed: false,
		},
		{
			name:    "a lone From line is text",
			in:      "From: the warehouse team\nThe goods left today.\n",
			want:    "From: the warehouse team\nThe goods left today.\n",
			removed: false,
		},
		{
			name:    "forwarded content is not history",
			in:      "FYI\n\n---------- Forwarded message ---------\nFrom: Broker <b@x.test>\nDate: Fri\nSubject: Docs\nTo: Bob\n\nDocs missing.\n",
			want:    "FYI\n\n---------- Forwarded message ---------\nFrom: Broker <b@x.test>\nDate: Fri\nSubject: Docs\nTo: Bob\n\nDocs missing.\n",
			removed: false,
		},
		{
			name:    "quotes inside forwarded content stay",
			in:      "FYI\n\nBegin forwarded message:\n\nFrom: Broker\nSubject: Docs\nDate: Fri\n\nSee below.\n> old question\n",
			want:    "FYI\n\nBegin forwarded message:\n\nFrom: Broker\nSubject: Docs\nDate: Fri\n\nSee below.\n> old question\n",
			removed: false,
		},
		{
			name:    "CRLF input",
			in:      "Yes.\r\n\r\nOn Fri, Hana wrote:\r\n> Saturday?\r\n",
			want:    "Yes.",
			removed: true,
		},
		{name: "empty", in: "", want: "", removed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, removed := StripQuote(tc.in)
			if got != tc.want || removed != tc.removed {
				t.Errorf("StripQuote(%q) =\n\t%q, %v\nwant\n\t%q, %v", tc.in, got, removed, tc.want, tc.removed)
			}
		})
	}
}

// TestStripQuoteLinear guards against quadratic behaviour on input full of
// attributions and quotes.
func TestStripQuoteLinear(t *testing.T) {
	in := "Hello\n" + strings.Repeat("On Fri, Hana wrote:\n> q\nanswer\n", 100000)
	got, _ := StripQuote(in)
	if !strings.HasPrefix(got, "Hello\n") {
		t.Fatalf("unexpected result prefix %q", got[:20])
	}
}
