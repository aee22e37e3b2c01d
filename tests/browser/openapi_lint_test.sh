#!/usr/bin/env bash
# Lints docs/openapi.json (the document /openapi.json serves) with Redocly's recommended-strict
# rules (docs/redocly.yaml): every warning fails. ServiceTest.TheOpenApiDocumentAndTheRouterAgree
# checks the document against the router; this checks it against the OpenAPI 3.1 specification.
# Usage: openapi_lint_test.sh SOURCE_ROOT  (after tests/browser/setup.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
root=$1
browser_require_node
# No telemetry, no update check: the test reads nothing from the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$here/node_modules/.bin/redocly" lint --config "$root/docs/redocly.yaml" "$root/docs/openapi.json"
echo "openapi_lint_test: ok"
