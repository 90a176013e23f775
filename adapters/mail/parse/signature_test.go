package parse

import "testing"

func TestStripSignature(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		removed bool
	}{
		{
			name:    "standard delimiter",
			in:      "See you Monday.\n\n-- \nBob Tanaka\nMail Test Corp.\n",
			want:    "See you Monday.",
			removed: true,
		},
		{
			name:    "delimiter without the space",
			in:      "See you Monday.\n--\nBob\n",
			want:    "See you Monday.",
			removed: true,
		},
		{
			name:    "the last delimiter counts",
			in:      "Line one\n-- \nnot a sig, more text\nand more\n-- \nBob\n",
			want:    "Line one\n-- \nnot a sig, more text\nand more",
			removed: true,
		},
		{
			name:    "too much after a delimiter is not a signature",
			in:      "Intro\n-- \n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
			want:    "Intro\n-- \n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
			removed: false,
		},
		{
			name:    "japanese block signature",
			in:      "よろしくお願いいたします。\n\n━━━━━━━━━━\n株式会社メールテスト\n田中 一郎\nTEL: 03-5555-0142\n━━━━━━━━━━\n",
			want:    "よろしくお願いいたします。",
			removed: true,
		},
		{
			name:    "asterisk separator with phone number only",
			in:      "Thanks\n\n**********\nBob Tanaka\n03-5555-0142\n",
			want:    "Thanks",
			removed: true,
		},
		{
			name:    "separator followed by ordinary lines is kept",
			in:      "Agenda\n==========\nopening\nbudget\nclosing\n",
			want:    "Agenda\n==========\nopening\nbudget\nclosing\n",
			removed: false,
		},
		{
			name:    "separator too far from the end is kept",
			in:      "Body\n-----\nmail@x.test\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
			want:    "Body\n-----\nmail@x.test\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
			removed: false,
		},
		{name: "sent from my iphone", in: "On my way.\n\nSent from my iPhone\n", want: "On my way.", removed: true},
		{name: "get outlook for android", in: "On my way.\n\nGet Outlook for Android\n", want: "On my way.", removed: true},
		{name: "outlook for ios japanese", in: "向かっています。\n\nOutlook for iOS を入手\n", want: "向かっています。", removed: true},
		{name: "iphoneから送信", in: "向かっています。\n\niPhoneから送信\n", want: "向かっています。", removed: true},
		{
			name:    "footer under a signature",
			in:      "On my way.\n-- \nBob\n\nSent from my iPhone\n",
			want:    "On my way.",
			removed: true,
		},
		{
			name:    "quoted delimiter is not a signature",
			in:      "Reply\n> -- \n> Hana\n",
			want:    "Reply\n> -- \n> Hana\n",
			removed: false,
		},
		{
			name:    "nothing but a signature is kept",
			in:      "-- \nBob\n",
			want:    "-- \nBob\n",
			removed: false,
		},
		{name: "footer alone is kept", in: "Sent from my iPhone", want: "Sent from my iPhone", removed: false},
		{name: "empty", in: "", want: "", removed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, removed := StripSignature(tc.in)
			if got != tc.want || removed != tc.removed {
				t.Errorf("StripSignature(%q) =\n\t%q, %v\nwant\n\t%q, %v", tc.in, got, removed, tc.want, tc.removed)
			}
		})
	}
}
