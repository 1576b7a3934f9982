package users_test

import (
	"context"
	"strings"
	"testing"

	"galaxy/platform/apierror"
	"galaxy/platform/email"
	"galaxy/user/internal/users"
	"galaxy/user/internal/userstest"
)

// TestResolveNamesAUserByTheNormalForm: every spelling that
// contracts/email.md makes one account resolves one user, created by the
// first resolve and answered to the others, kept with the normal form.
func TestResolveNamesAUserByTheNormalForm(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	ctx := context.Background()
	spellings := []string{"José@BÜCHER.example", "jose\u0301@bücher.example", "JOSÉ@xn--bcher-kva.example", "josé@xn--bcher-kva.example"}
	first, created, err := e.Service.Resolve(ctx, spellings[0])
	if err != nil || !created {
		t.Fatalf("Resolve(%q) = %+v, %v, %v; want a new user", spellings[0], first, created, err)
	}
	if first.Email != "josé@xn--bcher-kva.example" || first.Status != users.Active || first.Generation != 1 || !users.ValidID(first.ID) {
		t.Errorf("new user = %+v, want an active user of the normal form at generation 1 with a valid id", first)
	}
	for _, spelling := range spellings[1:] {
		u, created, err := e.Service.Resolve(ctx, spelling)
		if err != nil || created || u.ID != first.ID {
			t.Errorf("Resolve(%q) = %+v, %v, %v; want the first user, not created", spelling, u, created, err)
		}
	}
	if other := e.Resolve(t, "josef@bücher.example"); other.ID == first.ID {
		t.Error("another address resolved the same user")
	}
}

// TestResolvingTheNormalFormIsTheIdentity: authsession sends the user
// service the address it normalised; normalising it again gives it back,
// so it resolves exactly the user its raw spelling resolves.
func TestResolvingTheNormalFormIsTheIdentity(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	ctx := context.Background()
	for _, raw := range []string{
		"Ada@Example.COM", "user+tag@EXAMPLE.com", "ÅSA@Exämple.Org", "STRASSE@example.de", "straße@example.de",
		"İSTANBUL@example.tr", "ǅemal@example.ba", "u@XN--BCHER-KVA.EXAMPLE", strings.Repeat("A", 64) + "@example.com",
	} {
		normal, err := email.Normalize(raw)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", raw, err)
		}
		if again, err := email.Normalize(normal); err != nil || again != normal {
			t.Errorf("Normalize(%q) = %q, %v; want it unchanged", normal, again, err)
		}
		byRaw := e.Resolve(t, raw)
		byNormal, created, err := e.Service.Resolve(ctx, normal)
		if err != nil || created || byNormal != byRaw {
			t.Errorf("Resolve(%q) = %+v, %v, %v; want the user of %q, %+v", normal, byNormal, created, err, raw, byRaw)
		}
		if byRaw.Email != normal {
			t.Errorf("user of %q is kept as %q, want %q", raw, byRaw.Email, normal)
		}
	}
}

// TestResolveRefusesWhatThePolicyRefuses: INVALID_ARGUMENT, and nothing is
// stored.
func TestResolveRefusesWhatThePolicyRefuses(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	for _, bad := range []string{"", " ada@example.com", "ada@example.com\n", "Ada <ada@example.com>", "a@b@example.com",
		"ada\u200b@example.com", "ada@exa\u202emple.com", strings.Repeat("a", 65) + "@example.com", "ada@xn--.example", "ada\xff@example.com"} {
		if _, _, err := e.Service.Resolve(context.Background(), bad); !apierror.Is(err, apierror.InvalidArgument) {
			t.Errorf("Resolve(%q) = %v, want INVALID_ARGUMENT", bad, err)
		}
	}
	if keys := e.Redis.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v, want none", keys)
	}
}

func TestUserByID(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	ada := e.Resolve(t, "ada@example.com")
	if got, err := e.Service.User(context.Background(), ada.ID); err != nil || got != ada {
		t.Errorf("User(%s) = %+v, %v; want %+v", ada.ID, got, err, ada)
	}
	// Ids that name no user, well formed or not, are NOT_FOUND; the
	// malformed ones are not even looked up.
	for _, id := range []string{users.NewID(), "", "usr_", "../" + ada.ID, strings.ToUpper(ada.ID), ada.ID + "0", "user-1"} {
		if _, err := e.Service.User(context.Background(), id); !apierror.Is(err, apierror.NotFound) {
			t.Errorf("User(%q) = %v, want NOT_FOUND", id, err)
		}
	}
}

func TestNewIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := users.NewID()
		if !users.ValidID(id) || len(id) != 36 || seen[id] {
			t.Fatalf("NewID() = %q: want a new, valid id of 36 characters", id)
		}
		seen[id] = true
	}
}

func TestNewServiceChecksItsOptions(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	for name, opts := range map[string]users.Options{
		"no store":      {Deliveries: e.Deliverer, RevocationWait: 1},
		"no deliverer":  {Store: e.Store, RevocationWait: 1},
		"no wait":       {Store: e.Store, Deliveries: e.Deliverer},
		"negative wait": {Store: e.Store, Deliveries: e.Deliverer, RevocationWait: -1},
	} {
		if _, err := users.NewService(opts); err == nil {
			t.Errorf("%s: NewService accepted it", name)
		}
	}
}
