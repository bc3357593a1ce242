// Command tufseed makes slsa-verifier work offline with the public-good Sigstore keys.
//
// slsa-verifier reads its Fulcio roots, Rekor and CT log keys through sigstore's TUF client, which insists on
// refreshing from tuf-repo-cdn.sigstore.dev unless its local cache holds an unexpired timestamp. This program
// builds a small local TUF repository, signed by a throw-away key made here, whose targets are the keys and
// certificates given on the command line (taken from the public-good trusted_root.json by the test), and
// initialises $TUF_ROOT from it with the same client slsa-verifier uses (sigstore/sigstore pkg/tuf). The
// trust is exactly the public-good material; only its delivery is local.
//
// Usage: TUF_ROOT=dir tufseed REPO_DIR fulcio=FILE... rekor=FILE... ctfe=FILE...
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sigstoretuf "github.com/sigstore/sigstore/pkg/tuf"
	gotuf "github.com/theupdateframework/go-tuf"
)

var usages = map[string]string{"fulcio": "Fulcio", "rekor": "Rekor", "ctfe": "CTFE"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tufseed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 || os.Getenv("TUF_ROOT") == "" {
		return fmt.Errorf("usage: TUF_ROOT=dir tufseed REPO_DIR kind=FILE...")
	}
	dir := args[0]
	staged := filepath.Join(dir, "staged", "targets")
	if err := os.MkdirAll(staged, 0o755); err != nil {
		return err
	}
	repo, err := gotuf.NewRepo(gotuf.FileSystemStore(dir, nil))
	if err != nil {
		return err
	}
	if err := repo.Init(false); err != nil {
		return err
	}
	expires := time.Now().AddDate(10, 0, 0)
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		if _, err := repo.GenKeyWithExpires(role, expires); err != nil {
			return err
		}
	}
	for i, arg := range args[1:] {
		kind, file, ok := strings.Cut(arg, "=")
		usage, known := usages[kind]
		if !ok || !known {
			return fmt.Errorf("argument %q is not fulcio|rekor|ctfe=FILE", arg)
		}
		content, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-%d.pem", kind, i)
		if err := os.WriteFile(filepath.Join(staged, name), content, 0o644); err != nil {
			return err
		}
		custom, err := json.Marshal(map[string]any{"sigstore": map[string]string{"usage": usage, "status": "Active"}})
		if err != nil {
			return err
		}
		if err := repo.AddTargetWithExpires(name, custom, expires); err != nil {
			return err
		}
	}
	if err := repo.SnapshotWithExpires(expires); err != nil {
		return err
	}
	if err := repo.TimestampWithExpires(expires); err != nil {
		return err
	}
	if err := repo.Commit(); err != nil {
		return err
	}
	published := filepath.Join(dir, "repository")
	root, err := os.ReadFile(filepath.Join(published, "root.json"))
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(published)
	if err != nil {
		return err
	}
	return sigstoretuf.Initialize(context.Background(), "file://"+abs, root)
}
