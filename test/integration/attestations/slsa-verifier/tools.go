//go:build tools

package tools

import _ "github.com/slsa-framework/slsa-verifier/v2/cli/slsa-verifier"
