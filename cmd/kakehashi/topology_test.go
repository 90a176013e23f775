package main

import (
	"path/filepath"
	"testing"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/identity"
)

// TestTopologySpellsConfiguredAddressesOnce: the fallback address and the
// domains from the configuration take the spelling traffic has, however
// the configuration writes them.
func TestTopologySpellsConfiguredAddressesOnce(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "examples", "kakehashi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routing.FallbackAddress = " Desk@Corp.Test. "
	cfg.Networks["corp"].XMPP.HomeDomains = []string{"CORP.test."}
	top, err := topologyFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (identity.Address{Network: "corp", Addr: "desk@corp.test"}); top.FallbackAddress != want {
		t.Errorf("fallback %+v, want %+v", top.FallbackAddress, want)
	}
	if k := top.Networks["mail"].Kind; k != address.Mail {
		t.Errorf("mail network's addresses are of kind %q", k)
	}
	cfg.Routing.FallbackAddress = "desk@@corp.test"
	if _, err := topologyFromConfig(cfg); err == nil {
		t.Error("a malformed fallback address was accepted")
	}
}
