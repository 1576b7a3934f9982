package config_test

import (
	"testing"

	"galaxy/gateway/internal/config"
	"galaxy/platform/envconfig/envconfigtest"
)

// TestDocumented holds the configuration to galaxy/README.md's table: every
// variable read is documented, with its default, and every one documented is read.
func TestDocumented(t *testing.T) {
	t.Parallel()
	envconfigtest.Check(t, "gateway", config.Load, required)
}
