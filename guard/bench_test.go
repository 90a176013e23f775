package guard

import (
	"fmt"
	"strings"
	"testing"
)

// benchRules is a realistic company: 20 terms (code names in Latin and
// Japanese, a few of several words) and 5 inside domains.
var benchRules = Rules{
	InsideDomains: []string{"corp.test", "acme.internal", "acme-dev.test", "bücher.test", "intra"},
	Terms: []string{
		"Phoenix", "Kestrel", "Project Blue Sky", "Nightjar", "Osprey",
		"Halcyon", "Tern", "Merlin", "Gannet", "Redstart",
		"Bluebird 2", "Skylark", "Lapwing", "Plover", "Curlew",
		"鳳凰", "雲雀計画", "オオタカ", "Wren", "Dunlin",
	},
}

// benchTexts are 500-byte messages: one clean, one with a few hits, one in
// Japanese.
var benchTexts = map[string]string{
	"clean": "Dear Mr. Brown,\n\nThank you for your order of 12 March. The goods left our warehouse " +
		"this morning and should reach you by Friday; the tracking number is 1Z999AA10123456784. " +
		"If anything is missing or damaged, just reply to this message and we will send a replacement " +
		"at once. Our spring catalogue is online at https://www.example.com/catalogue, with prices valid " +
		"until the end of June, and our showroom is open on Saturdays. We look forward to hearing from " +
		"you again.\n\nKind regards,\nACME Sales · Hana\n",
	"hits": "Dear Mr. Brown,\n\nThank you for your order of 12 March. My colleague Tanaka uploaded the " +
		"drawings to https://upload.corp.test:8443/share/x91 and you can also ask ken@corp.test for the " +
		"Phoenix datasheet. If anything is missing or damaged, just reply to this message and we will " +
		"send a replacement at once. Our spring catalogue is online at https://www.example.com/catalogue, " +
		"with prices valid until the end of June. We look forward to hearing from you again.\n\n" +
		"Kind regards,\nACME Sales · Hana\n",
	"japanese": "ブラウン様\n\nいつもお世話になっております。ご注文の品は本日発送いたしました。" +
		"到着は金曜日の予定です。万一不足や破損がございましたら、このメッセージにご返信ください。" +
		"カタログは https://www.example.com/catalogue でご覧いただけます。" +
		"田中より、資料は wiki.corp.test に置いたとのことです。今後ともよろしくお願いいたします。\n\nACME営業・花子\n",
}

func BenchmarkCheck(b *testing.B) {
	g, err := New(benchRules)
	if err != nil {
		b.Fatal(err)
	}
	p := Person{Name: "Hana Tanaka", Addresses: []string{"hana@corp.test"}, Allowed: []string{"ACME Sales · Hana"}}
	jp := Person{Name: "田中 花子", Addresses: []string{"hanako@corp.test"}, Allowed: []string{"ACME営業・花子"}}
	for _, name := range []string{"clean", "hits", "japanese"} {
		text := benchTexts[name]
		who := p
		if name == "japanese" {
			who = jp
		}
		if n := len(text); n < 450 || n > 550 {
			b.Fatalf("%s text is %d bytes; want about 500", name, n)
		}
		b.Run(fmt.Sprintf("%s/%dB", name, len(text)), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				g.Check(text, who)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(benchRules); err != nil {
			b.Fatal(err)
		}
	}
}

// The benchmark texts hit what they should, so the figures measure real
// work.
func TestBenchTexts(t *testing.T) {
	g := mustNew(t, benchRules)
	p := Person{Name: "Hana Tanaka", Addresses: []string{"hana@corp.test"}, Allowed: []string{"ACME Sales · Hana"}}
	jp := Person{Name: "田中 花子", Allowed: []string{"ACME営業・花子"}}
	for name, want := range map[string]string{
		"clean":    "",
		"hits":     "Tanaka=name; upload.corp.test=host; ken@corp.test=addr; Phoenix=term",
		"japanese": "田中=name; wiki.corp.test=host",
	} {
		who := p
		if name == "japanese" {
			who = jp
		}
		if got := render(g.Check(benchTexts[name], who)); got != want {
			t.Errorf("%s: %s; want %s", name, got, want)
		}
		if strings.TrimSpace(benchTexts[name]) == "" {
			t.Fatal("empty bench text")
		}
	}
}
