package users_test

import (
	"os"
	"testing"

	"galaxy/user/internal/userstest"
)

func TestMain(m *testing.M) {
	userstest.QuietLibraries()
	os.Exit(m.Run())
}
