package config

import (
	"testing"
	"time"
)

// TestMessageRetention: limits.message_retention defaults to 30 days, 0
// keeps texts forever, and a negative, too short or unitless value is a
// KeyError naming the key.
func TestMessageRetention(t *testing.T) {
	cleanEnv(t)
	if c := mustLoad(t, apply(t)); c.Limits.MessageRetention != DefaultMessageRetention || DefaultMessageRetention != 720*time.Hour {
		t.Errorf("default retention = %v, want 720h", c.Limits.MessageRetention)
	}
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"0", 0}, {"0s", 0}, {"48h", 48 * time.Hour}, {"1h", time.Hour}} {
		c := mustLoad(t, apply(t, edit{"  max_body_bytes: 4096", "  max_body_bytes: 4096\n  message_retention: " + tt.value}))
		if c.Limits.MessageRetention != tt.want {
			t.Errorf("message_retention: %s gives %v, want %v", tt.value, c.Limits.MessageRetention, tt.want)
		}
	}
	for _, tt := range []struct {
		value string
		want  []string
	}{
		{"-1h", []string{"out of range", "0 to keep it forever"}},
		{"30m", []string{"out of range", "at least 1h"}},
		{"30", []string{"not a duration", "no unit"}},
		{"forever", []string{"not a duration"}},
	} {
		t.Run(tt.value, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, edit{"  max_body_bytes: 4096", "  max_body_bytes: 4096\n  message_retention: " + tt.value}))
			wantKeyError(t, err, "limits.message_retention", tt.want...)
		})
	}
}
